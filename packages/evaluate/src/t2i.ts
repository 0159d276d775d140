#!/usr/bin/env tsx
import { runCommand } from '@t2i/core';
import { Command } from 'commander';
import { evaluateCommand, generateCommand } from './commands.ts';

const program = new Command('t2i').description('t2i: StackGAN text-to-image for flowers').addCommand(generateCommand()).addCommand(evaluateCommand());
await runCommand(program);
