#!/usr/bin/env tsx
import { runCommand } from '@t2i/core';
import { evaluateCommand } from './commands.ts';

await runCommand(evaluateCommand());
