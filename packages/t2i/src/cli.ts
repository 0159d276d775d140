#!/usr/bin/env tsx
import { computeFlags, computeOptions, ensureOutDir, log, newCommand, numberFlag, parseOptions, repoRoot, runCommand, seedFlag, UsageError } from '@t2i/core';
import { initBackend, requestedConv } from '@t2i/backends';
import { Command, Option } from 'commander';
import { logReading } from 'embeddings';
import path from 'node:path';
import { z } from 'zod';
import { fetchDatasetCommand } from './fetch-dataset.ts';
import { startPageServer } from './page/server.ts';
import { upscaledStage1, writePictures, writeSample } from './pictures.ts';
import { describeModels, loadPipeline, locateModels, type Pictures, type Stage } from './pipeline.ts';

const DrawOptions = z.object({
  n: numberFlag((n) => n.int().min(1).max(64)),
  seed: seedFlag,
  stage: z.enum(['1', '2']),
  out: z.string(),
  ...computeFlags,
});

/** What generate says when it writes 256 px images without a Stage II. */
const UPSCALED_NOTE = 'no Stage II model: 256 px images are Stage I upscaled (lanczos3)';

/**
 * What generate and sample share: the sentence, its pictures through the pipeline, the files
 * written (printed, one a line). `fillStage2`: where Stage II was asked for and no model has one,
 * 256 px pictures upscaled from Stage I's, said in place of the models' note.
 */
async function draw(sentence: string, o: z.infer<typeof DrawOptions>, write: (outDir: string, pictures: Pictures, stage: Stage) => Promise<string[]>, { fillStage2 = false } = {}): Promise<void> {
  // Checked before the backend loads, so that a fresh clone hears what to run at once.
  const { source, stage, note } = locateModels(Number(o.stage) as Stage);
  const upscale = fillStage2 && stage < Number(o.stage);
  // pnpm runs scripts from the package folder; INIT_CWD is where the user typed the command.
  const outDir = await ensureOutDir(path.resolve(process.env.INIT_CWD ?? process.cwd(), o.out));
  // One forward pass: native convolutions' start-up (loading ONNX Runtime, each graph's first runs) costs more than they save.
  await initBackend({ ...o, conv: o.conv ?? requestedConv() ?? 'wasm' });
  const pipeline = await loadPipeline({ stage, source });
  log(describeModels(source, pipeline.stage1.epoch));
  const said = upscale ? UPSCALED_NOTE : note;
  if (said) log(said);
  try {
    const pictures = await pipeline.generate(sentence, { n: o.n, seed: o.seed, stage });
    logReading(pictures);
    for (const f of await write(outDir, upscale ? await upscaledStage1(pictures) : pictures, stage)) console.log(f);
  } finally {
    pipeline.dispose();
  }
}

/** A command that draws: its own argument or options (`configure`), then --stage, --n, --seed, --out, --backend and --threads. */
function drawCommand(name: string, description: string, configure: (c: Command) => Command, stageHelp: string, out: string): Command {
  return computeOptions(configure(newCommand(name, description))
    .addOption(new Option('--stage <stage>', stageHelp).choices(['1', '2']).default('2'))
    .option('--n <n>', 'how many images (1-64)', '8')
    .option('--seed <n>', 'noise seed: the same seed gives the same images', '1')
    .option('--out <dir>', 'where the PNGs go (relative to the current directory)', out));
}

/** What the flower looks like, or a usage error that says so. */
function sentenceOf(text: string, command: string): string {
  if (!text.trim()) throw new UsageError(`${command}: the sentence is empty; say what the flower looks like, e.g. "this flower has petals that are blue and white"`);
  return text;
}

export const generateCommand = (): Command =>
  drawCommand(
    'generate',
    'Draw flowers for any sentence with the latest trained models: PNGs at 64x64 (Stage I) and 256x256 (Stage II; without a Stage II model, Stage I upscaled with lanczos3)',
    (c) => c.argument('<sentence>', 'what the flower looks like, e.g. "this flower has petals that are blue and white"'),
    '1: 64x64 only; 2: 64x64 and 256x256',
    'out',
  ).action(async (sentence: string, raw) => {
    const o = parseOptions(DrawOptions, raw, 't2i generate');
    await draw(sentenceOf(sentence, 't2i generate'), o, (outDir, pictures) => writePictures(outDir, pictures), { fillStage2: true });
  });

export const sampleCommand = (): Command =>
  drawCommand(
    'sample',
    "Draw one stage's images for any sentence, as its training grids show them: image-K.png, and all.png (at Stage II, Stage I's images above Stage II's)",
    (c) => c.requiredOption('--text <sentence>', 'what the flower looks like'),
    "1: Stage I's 64x64; 2: Stage II's 256x256",
    'out/stage<N>',
  ).action(async (raw) => {
    const o = parseOptions(DrawOptions.extend({ text: z.string() }), { ...raw, out: raw.out === 'out/stage<N>' ? `out/stage${raw.stage}` : raw.out }, 't2i sample');
    await draw(sentenceOf(o.text, 't2i sample --text'), o, writeSample);
  });

const ServeOptions = z.object({
  port: numberFlag((n) => n.int().min(0).max(65535)),
  host: z.string().trim().min(1, 'give an address, e.g. 127.0.0.1'),
});

export const serveCommand = (): Command =>
  newCommand('serve', 'Serve the page where a sentence becomes flowers: drawn in the browser with TensorFlow.js, by the same model code as generate, with the latest trained models (else the shipped ones)')
    .option('--port <n>', 'port to listen on (0: any free one)', '5173')
    .option('--host <address>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .action(async (raw) => {
      const o = parseOptions(ServeOptions, raw, 't2i serve');
      const server = await startPageServer(o);
      const { served } = server;
      log(`models: ${served.kind} in ${served.where}/, up to Stage ${served.stage === 2 ? 'II' : 'I'}${served.note ? ` (${served.note})` : ''}; the page draws in the browser (Ctrl-C stops the server)`);
      console.log(server.url);
    });

// evaluate builds on this package (its images come from the pipeline), so `t2i evaluate` runs its command as a program of its own.
const program = new Command('t2i')
  .description('t2i: StackGAN text-to-image for flowers')
  .addCommand(generateCommand())
  .addCommand(sampleCommand())
  .addCommand(serveCommand())
  .addCommand(fetchDatasetCommand())
  .command('evaluate', 'Score Stage I and Stage II and write the report: the evaluate step (pnpm turbo run evaluate), run directly', { executableFile: path.join(repoRoot, 'packages/evaluate/src/cli.ts') });
await runCommand(program);
