import { ensureOutDir, loadConfig, log, newCommand, numberFlag, optionalInt, outHelp, parseOptions, resolveDatasetDir, seedFlag, stageCommand, stageOutput, UsageError } from '@t2i/core';
import { initBackend } from '@t2i/backends';
import { Command, Option } from 'commander';
import path from 'node:path';
import { logReading } from 'embeddings';
import { z } from 'zod';
import { EvaluateConfig } from './config.ts';
import { disposeTextToImage, loadTextToImage, textToImages, writePictures } from './generate.ts';
import { requireModels } from './generators.ts';
import { reportFile } from './report.ts';
import { scoresJsonFile, type ScoresJson } from './scores.ts';
import { runEvaluate } from './stage.ts';

const EvaluateOptions = z.object({
  config: z.string(),
  data: z.string().optional(),
  classifierEpochs: optionalInt,
  captionsPerImage: optionalInt,
  samplesPerCaption: optionalInt,
  splits: optionalInt,
  seed: optionalInt,
  backend: z.string().optional(),
  out: z.string().optional(),
  retrainClassifier: z.boolean(),
});

function printScores(s: ScoresJson): void {
  const f = (v: number, d = 3) => v.toFixed(d);
  for (const [name, st] of Object.entries(s.stages)) {
    if ('skipped' in st) {
      log(`${name}: not measured (${st.skipped})`);
      continue;
    }
    log(
      `${name} (${st.size}x${st.size}, epoch ${st.epoch}, ${st.images} images): IS ${f(st.inceptionScore.mean)} ± ${f(st.inceptionScore.std)}, FID ${f(st.fid.value)}, ` +
        `R-precision ${f(st.rPrecision.mean)} ± ${f(st.rPrecision.std)} (of ${st.rPrecision.candidates}), class top-1 ${f(100 * st.classConsistency.top1, 1)}% top-5 ${f(100 * st.classConsistency.top5, 1)}%, ` +
        `course score ${f(st.courseScore.score)} (cosine distance ${f(st.courseScore.meanCosineDistance)} + 1/spread ${f(st.courseScore.spread)})`,
    );
  }
  log(`real test-class images: IS ${f(s.real.inceptionScoreTest.mean)} ± ${f(s.real.inceptionScoreTest.std)}; FID real train vs test classes (the floor) ${f(s.real.fidTrainVsTest.value)}`);
  log(`all with our own classifier's features, not Inception: not comparable to StackGAN's published IS ${s.published.inceptionScore} / FID ${s.published.fid}`);
}

export function evaluateCommand(): Command {
  return stageCommand('evaluate', "Score Stage I and Stage II on the test-class captions with a flower classifier trained here (IS, FID, R-precision, class consistency, the course's score) and write data/evaluate/scores.json, scores.arrow and report.html")
    .option('--config <name|file>', 'tiny (a CPU demo on the sample), full, or a JSON file; $T2I_CONFIG', process.env.T2I_CONFIG ?? 'tiny')
    .option('--classifier-epochs <n>', "epochs of the classifier's training (overrides the config)")
    .option('--captions-per-image <n>', 'captions of each test image to generate from, 1-10 (overrides the config)')
    .option('--samples-per-caption <n>', 'noise draws per caption (overrides the config)')
    .option('--splits <n>', 'splits for the Inception Score and R-precision (overrides the config)')
    .option('--seed <n>', 'noise seed of the generated images (overrides the config)')
    .option('--backend <name>', 'tensorflow-gpu | tensorflow | webgpu | wasm | cpu (default: the first that loads; $T2I_BACKEND)')
    .option('--out <dir>', outHelp('evaluate'))
    .option('--retrain-classifier', 'train the classifier even when data/evaluate/classifier holds one of the same settings', false)
    .action(async (raw) => {
      const o = parseOptions(EvaluateOptions, raw, 'evaluate');
      const { config: name, data, backend: backendName, out, retrainClassifier, ...overrides } = o;
      const config = loadConfig(EvaluateConfig, 'evaluate', name, overrides) as EvaluateConfig;
      const outDir = await ensureOutDir(await stageOutput('evaluate', out));
      const backend = await initBackend(backendName);
      const scores = await runEvaluate(config, { outDir, datasetDir: resolveDatasetDir(data), backend: backend.name, retrain: retrainClassifier });
      printScores(scores);
      log(`evaluate: ${scoresJsonFile(outDir)}, ${reportFile(outDir)}`);
    });
}

const GenerateOptions = z.object({
  n: numberFlag((n) => n.int().min(1).max(64)),
  seed: seedFlag,
  stage: z.enum(['1', '2']),
  out: z.string(),
  backend: z.string().optional(),
});

export function generateCommand(): Command {
  return newCommand('generate', 'Draw flowers for any sentence with the latest trained models: PNGs at 64x64 (Stage I) and 256x256 (Stage II)')
    .argument('<sentence>', 'what the flower looks like, e.g. "this flower has petals that are blue and white"')
    .option('--n <n>', 'how many images (1-64)', '8')
    .option('--seed <n>', 'noise seed: the same seed gives the same images', '1')
    .addOption(new Option('--stage <stage>', '1: 64x64 only; 2: 64x64 and 256x256').choices(['1', '2']).default('2'))
    .option('--out <dir>', 'where the PNGs go (relative to the current directory)', 'out')
    .option('--backend <name>', 'tfjs backend (default: the first that loads; $T2I_BACKEND)')
    .action(async (sentence: string, raw) => {
      const o = parseOptions(GenerateOptions, raw, 't2i generate');
      if (!sentence.trim()) throw new UsageError('t2i generate: the sentence is empty; say what the flower looks like, e.g. "this flower has petals that are blue and white"');
      const stage = Number(o.stage) as 1 | 2;
      // Checked before the backend loads, so that a fresh clone hears what to run at once.
      requireModels(stage);
      // pnpm runs scripts from the package folder; INIT_CWD is where the user typed the command.
      const outDir = await ensureOutDir(path.resolve(process.env.INIT_CWD ?? process.cwd(), o.out));
      await initBackend(o.backend);
      const models = await loadTextToImage(stage);
      try {
        const pictures = await textToImages(models, sentence, o.n, o.seed);
        logReading(pictures);
        const files = await writePictures(outDir, pictures);
        for (const f of files) console.log(f);
      } finally {
        disposeTextToImage(models);
      }
    });
}
