#!/usr/bin/env tsx
import { computeFlags, computeOptions, ensureOutDir, loadConfig, log, optionalInt, outHelp, parseOptions, resolveDatasetDir, runCommand, datasetCommand, stepOutput } from '@t2i/core';
import { initBackend } from '@t2i/backends';
import { z } from 'zod';
import { EvaluateConfig } from './config.ts';
import { reportFile } from './report.ts';
import { scoresJsonFile, type ScoresJson } from './scores.ts';
import { runEvaluate } from './evaluate.ts';

const EvaluateOptions = z.object({
  config: z.string(),
  data: z.string().optional(),
  classifierEpochs: optionalInt,
  captionsPerImage: optionalInt,
  samplesPerCaption: optionalInt,
  splits: optionalInt,
  seed: optionalInt,
  ...computeFlags,
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
      `${name} (${st.size}x${st.size}, epoch ${st.epoch}, ${st.images} images): IS ${f(st.inceptionScore.mean)} ± ${f(st.inceptionScore.std)}, FID ${f(st.fid.value)} ± ${f(st.fid.standardError)}, ` +
        `R-precision ${f(st.rPrecision.mean)} ± ${f(st.rPrecision.std)} (of ${st.rPrecision.candidates}), class top-1 ${f(100 * st.classConsistency.top1, 1)}% top-5 ${f(100 * st.classConsistency.top5, 1)}%, ` +
        `course score ${f(st.courseScore.score)} (cosine distance ${f(st.courseScore.meanCosineDistance)} + 1/spread ${f(st.courseScore.spread)})` +
        ('notApplicable' in st.detail ? '' : `, detail distance ${f(st.detail.distance)}, fine-detail ratio ${f(st.detail.fineEnergyRatio)}`),
    );
  }
  for (const [name, p] of Object.entries(s.paired ?? {})) {
    if (typeof p === 'string') continue;
    const d = (x: { difference: number; standardError: number }) => `${x.difference >= 0 ? '+' : ''}${f(x.difference)} ± ${f(x.standardError)}`;
    const counts = (x: { onlyA: number; onlyB: number }) => ` (right only for Stage II: ${x.onlyA}, only for the baseline: ${x.onlyB})`;
    log(`paired, ${name}: FID ${d(p.fid)}, R-precision ${d(p.rPrecision)}${counts(p.rPrecision)}, class top-1 ${d(p.classTop1)}${counts(p.classTop1)}`);
  }
  log(`real test-class images: IS ${f(s.real.inceptionScoreTest.mean)} ± ${f(s.real.inceptionScoreTest.std)}; FID real train vs test classes (the floor) ${f(s.real.fidTrainVsTest.value)}`);
  log(`all with our own classifier's features, not Inception: not comparable to StackGAN's published IS ${s.published.inceptionScore} / FID ${s.published.fid}`);
}

const evaluate = computeOptions(datasetCommand('evaluate', "Score Stage I and Stage II on the test-class captions with a flower classifier trained here and Stage I upscaled with lanczos3, the baseline at 256 (IS, FID, R-precision, class consistency, the course's score, detail at 256) and write data/evaluate/scores.json, scores.arrow and report.html")
  .option('--config <name|file>', 'tiny (a CPU demo on the sample), full, or a JSON file; $T2I_CONFIG', process.env.T2I_CONFIG ?? 'tiny')
  .option('--classifier-epochs <n>', "epochs of the classifier's training (overrides the config)")
  .option('--captions-per-image <n>', 'captions of each test image to generate from, 1-10 (overrides the config)')
  .option('--samples-per-caption <n>', 'noise draws per caption (overrides the config)')
  .option('--splits <n>', 'splits for the Inception Score and R-precision (overrides the config)')
  .option('--seed <n>', 'noise seed of the generated images (overrides the config)'))
  .option('--out <dir>', outHelp('evaluate'))
  .option('--retrain-classifier', 'train the classifier even when data/evaluate/classifier holds one of the same settings', false)
  .action(async (raw) => {
    const o = parseOptions(EvaluateOptions, raw, 'evaluate');
    const { config: name, data, backend: backendName, threads, conv, out, retrainClassifier, ...overrides } = o;
    const config = loadConfig(EvaluateConfig, 'evaluate', name, overrides) as EvaluateConfig;
    const outDir = await ensureOutDir(await stepOutput('evaluate', out));
    const backend = await initBackend({ backend: backendName, threads, conv });
    const scores = await runEvaluate(config, { outDir, datasetDir: resolveDatasetDir(data), backend: backend.name, retrain: retrainClassifier });
    printScores(scores);
    log(`evaluate: ${scoresJsonFile(outDir)}, ${reportFile(outDir)}`);
  });

await runCommand(evaluate);
