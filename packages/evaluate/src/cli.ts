#!/usr/bin/env tsx
import { runMain } from '@t2i/core';
import { evaluateCommand } from './commands.ts';

await runMain(() => evaluateCommand().parseAsync().then(() => undefined));
