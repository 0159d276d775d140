/**
 * A bench script's flags, taken as the stage CLIs take theirs: commander for --help and unknown
 * flags, then one zod parse into a typed object, so that a bad value stops the script with a
 * usage message instead of running it with NaN.
 */
import { newCommand, parseOptions, userArgs } from '@t2i/core';
import type { Command } from 'commander';
import type { z } from 'zod';

export function benchFlags<S extends z.ZodType>(name: string, description: string, options: (c: Command) => Command, schema: S): z.infer<S> {
  const command = options(newCommand(name, description));
  command.parse(userArgs(), { from: 'user' });
  try {
    return parseOptions(schema, command.opts(), name);
  } catch (e) {
    return command.error((e as Error).message);
  }
}
