import { writeJsonAtomic } from '@t2i/core';
import path from 'node:path';
import type { EvaluateConfig } from './config.ts';
import { measure, type EvaluateOptions } from './measure.ts';
import { writeReport } from './report.ts';
import type { ScoresJson } from './scores.ts';

/** The evaluate step: measure the trained generators, then write the scores and the report. */
export async function runEvaluate(config: EvaluateConfig, options: EvaluateOptions): Promise<ScoresJson> {
  const started = performance.now();
  const m = await measure(config, options);
  try {
    await writeReport(options.outDir, m, config);
  } finally {
    m.pipeline.dispose();
  }
  const seconds = (performance.now() - started) / 1000;
  await writeJsonAtomic(path.join(options.outDir, 'manifest.json'), { stage: 'evaluate', config, backend: options.backend, images: m.items.length, sets: m.perSet.map((p) => p.set), seconds: Number(seconds.toFixed(1)) });
  return m.scores;
}
