import { Command, Option } from 'commander';
import { z } from 'zod';
import { log } from './log.ts';

/** A stage's command with the options every stage shares. */
export function stageCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .addOption(new Option('--data <dir>', 'dataset folder in the official Oxford-102 + text_c10 layout (default: $T2I_DATA, else the embedded sample data/sample)'))
    .showHelpAfterError();
}

/** Parses commander's loose option bag once, at the edge, into a typed object. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, command: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`);
    throw new UsageError(`${command}: invalid options\n${lines.join('\n')}\nSee ${command} --help.`);
  }
  return result.data;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * The wasm backend's traps (its own abort when its heap cannot grow, and what follows) explained by
 * the runtime, loaded only then: most commands never load tensorflow.js.
 */
async function explainWasmTrap(err: unknown): Promise<unknown> {
  if (!(err instanceof WebAssembly.RuntimeError)) return err;
  const { explainAbort, wasmHeapBytes } = await import('./runtime/index.ts');
  return explainAbort(err, wasmHeapBytes());
}

/** Errors we raise on purpose print as their message alone; anything else keeps its stack. */
const EXPECTED = new Set(['BadInputError', 'DatasetLayoutError', 'UsageError', 'ArtifactError']);

export async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (thrown) {
    const e = (await explainWasmTrap(thrown)) as Error;
    log(EXPECTED.has(e.name) ? e.message : (e.stack ?? String(e)));
    // Exit now: a progress bar's timer or an open file handle left by the failed work would
    // otherwise keep the process alive with the error already printed.
    process.exit(1);
  }
}

/** A flag that is a whole number at least `min`, from commander's string. */
export const intFlag = (min = 1) => z.coerce.number().int().min(min);
