import { Command, Option } from 'commander';
import { z } from 'zod';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { explainWriteError, writeJsonAtomic } from './atomic.ts';
import { ExpectedError, UsageError } from './errors.ts';
import { log } from './log.ts';
import { artifactsDir, stepDir, stepOutDir } from './paths.ts';

/** A t2i command: its description for --help, which a usage error also shows. */
export function newCommand(name: string, description: string): Command {
  return new Command(name).description(description).showHelpAfterError();
}

/** The help of a step command's --out. */
export const outHelp = (step: string) => `output folder, relative to the repository root (default: data/${step}, or $T2I_ARTIFACTS/${step})`;

/** A command of a pipeline step that reads the dataset itself, with --data. */
export function datasetCommand(name: string, description: string): Command {
  return newCommand(name, description).addOption(new Option('--data <dir>', 'dataset folder in the official Oxford-102 + text_c10 layout (default: $T2I_DATA, else the embedded sample data/sample)'));
}

type NumberSchema = ReturnType<typeof z.coerce.number>;

/**
 * A number flag from commander's string, checked by `check`. A blank one (`--seed ""`) is refused:
 * z.coerce alone would read it as 0.
 */
export const numberFlag = (check: (n: NumberSchema) => NumberSchema = (n) => n) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? Number.NaN : v), check(z.coerce.number({ error: (issue) => (issue.code === 'invalid_type' ? 'expected a number' : undefined) })));

/** A flag that is a whole number at least `min`. */
export const intFlag = (min = 1) => numberFlag((n) => n.int().min(min));

/** An optional whole-number flag. */
export const optionalInt = numberFlag((n) => n.int()).optional();

/** A seed: the RNG keeps 32 bits, so a larger one would silently repeat a smaller one's draws. */
export const seedFlag = numberFlag((n) => n.int().min(0).max(2 ** 32 - 1));

/** --backend, --threads and --conv: every command that computes takes them (computeFlags parses them). */
export function computeOptions(command: Command): Command {
  return command
    .option('--backend <name>', 'tensorflow-gpu | tensorflow | webgpu | wasm | cpu (default: the first that loads; $T2I_BACKEND)')
    .option('--threads <n>', "the wasm backend's threads (default: $T2I_THREADS, else every core)")
    .option('--conv <where>', "the wasm backend's convolutions: native (ONNX Runtime's CPU kernels) or wasm (XNNPACK) (default: $T2I_CONV, else native where onnxruntime-node loads; wasm for one-shot drawing)");
}

/** computeOptions' flags, as zod shapes. */
export const computeFlags = {
  backend: z.string().optional(),
  threads: intFlag().optional(),
  conv: z.enum(['native', 'wasm']).optional(),
};

/** The flags every training command takes (as zod shapes: each step's schema spreads them). */
export const trainingFlags = {
  config: z.string(),
  batchSize: intFlag().optional(),
  epochs: intFlag().optional(),
  learningRate: numberFlag((n) => n.positive()).optional(),
  seed: seedFlag.optional(),
  ...computeFlags,
  out: z.string().optional(),
  restart: z.boolean(),
};

/**
 * A training command: --config, then the step's own config overrides (`overrides`), then those
 * every trainer shares, and for a GAN --loss, --aux-class-loss, --weight-average, --checkpoint-every and --minutes;
 * trainingFlags and @t2i/gan's ganFlags parse them.
 */
export function trainingCommand(name: string, description: string, step: string, overrides: (c: Command) => Command, { gan = false } = {}): Command {
  // No --data: trainers read the earlier steps' artifacts, not the dataset.
  const command = newCommand(name, description).option('--config <name|file>', "tiny (a CPU demo on the sample), full, or a JSON file; $T2I_CONFIG", process.env.T2I_CONFIG ?? 'tiny');
  overrides(command)
    .option('--batch-size <n>', 'batch size (overrides the config)')
    .option('--epochs <n>', 'total epochs (overrides the config; raise it to train on from a checkpoint)')
    .option('--learning-rate <x>', 'initial Adam learning rate (overrides the config)')
    .option('--seed <n>', 'random seed (overrides the config)');
  if (gan) {
    command
      .option('--loss <kind>', "gan-cls | wgan-gp (overrides the config; the configs named *-wgan-gp also set WGAN-GP's Adam settings and critic steps)")
      .option('--aux-class-loss <weight>', "weight of the auxiliary classifier's class loss, 0 for none (overrides the config)")
      .option('--weight-average <decay>', "the exported generator is the moving average of its weights at this decay per generator update, e.g. 0.998; 0 for its last weights (overrides the config)")
      .option('--checkpoint-every <n>', 'epochs between checkpoints and grids (overrides the config)');
  }
  computeOptions(command)
    .option('--out <dir>', outHelp(step))
    .option('--restart', 'ignore existing checkpoints and train from scratch', false);
  if (gan) command.option('--minutes <n>', 'stop, with a checkpoint, after the last epoch expected to end within this many minutes (resume by running again)');
  return command;
}

/** Parses commander's loose option bag once, at the edge, into a typed object. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, command: string): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success) {
    // Named as typed: commander hands minCount for --min-count.
    const flag = (key: PropertyKey) => String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const lines = result.error.issues.map((i) => `  --${i.path.map(flag).join('.')}: ${i.message}`);
    throw new UsageError(`${command}: invalid options\n${lines.join('\n')}\nSee ${command} --help.`);
  }
  return result.data;
}

/** Makes a command's output folder before any work is done, so that a bad --out fails at once and names itself. */
export async function ensureOutDir(dir: string): Promise<string> {
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.access(dir, constants.W_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw new UsageError(`--out ${dir}: a file is in the way of that folder; pass another --out`);
    throw explainWriteError(err, dir);
  }
  return dir;
}

/** Where a direct run of a step (not through turbo) leaves its stamp: an input of that step's turbo task. */
export const directRunStamp = (step: string) => path.join(artifactsDir(), '.direct-runs', `${step}.json`);

/**
 * The folder a step's run writes (--out, else data/<step>). Turbo restores a step's cached
 * outputs whenever its inputs hash as before, and a direct run (`pnpm --filter stage1 train`)
 * changes data/<step> without turbo knowing: the next `pnpm turbo run` would put the cached files
 * back over what the direct run made. So a direct run into data/<step> writes a stamp that
 * turbo.json counts among the step's inputs, and turbo reruns the step (and those after it)
 * instead. Turbo sets TURBO_HASH in the tasks it runs.
 */
export async function stepOutput(step: string, out?: string): Promise<string> {
  const dir = stepOutDir(step, out);
  if (!process.env.TURBO_HASH && dir === stepDir(step)) {
    await writeJsonAtomic(directRunStamp(step), { stage: step, args: userArgs(), at: new Date().toISOString() });
  }
  return dir;
}

/** What turns a crash into its meaning, added by the package that knows it (@t2i/backends: wasm's heap running out). */
const explainers: ((err: unknown) => unknown)[] = [];

export function explainErrorsWith(explain: (err: unknown) => unknown): void {
  explainers.push(explain);
}

async function runMain(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (thrown) {
    const e = explainers.reduce((err, explain) => explain(err), thrown) as Error;
    // Errors raised on purpose print as their message alone; anything else keeps its stack.
    log(e instanceof ExpectedError ? e.message : (e.stack ?? String(e)));
    // Exit now: a progress bar's timer or an open file handle left by the failed work would
    // otherwise keep the process alive with the error already printed.
    process.exit(1);
  }
}

/**
 * The command line's arguments for commander. `pnpm --filter stage1 train -- --config full` hands
 * the script `-- --config full` (pnpm 10 passes the `--` on), and commander would take every flag
 * after a `--` for an operand: the first `--` is dropped.
 */
export function userArgs(argv: readonly string[] = process.argv): string[] {
  const args = argv.slice(2);
  const dashes = args.indexOf('--');
  if (dashes >= 0) args.splice(dashes, 1);
  return args;
}

/** A CLI's entry point: parses the command line (userArgs) and runs the chosen action under runMain. */
export function runCommand(command: Command): Promise<void> {
  return runMain(() => command.parseAsync(userArgs(), { from: 'user' }).then(() => undefined));
}
