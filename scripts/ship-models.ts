/**
 * Writes models/ from a trained run: the sentence encoder (both sides) and the Stage I generator in float16,
 * the Stage II generator too when the run's scores show it beats Stage I upscaled, and models/manifest.json (configs, dataset, epochs, training time, the encoder id, each file's
 * sha256, and evaluate's scores where the run has them). It refuses a Stage I that scores worse than
 * the one shipped now (stage1Verdict), unless forced. The maintainers' step before committing
 * a release model; users never need it.
 *   pnpm tsx scripts/ship-models.ts [--from $T2I_ARTIFACTS] [--dataset "..."] [--force]
 */
import { artifactsDir, log, newCommand, parseOptions, readJson, runCommand, trainingSpan, UsageError } from '@t2i/core';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../packages/backends/src/index.ts';
import { shipModels, shippedDir, stage1Verdict, stage2Verdict, verifyShipped } from '../packages/t2i/src/shipped.ts';
import { z } from 'zod';

const Options = z.object({ from: z.string(), dataset: z.string(), force: z.boolean().optional() });

/** The metadata an exported model's tensors.json carries (its config, epoch, encoder id). */
const tensorsMeta = <T>(dir: string) => readJson<{ meta: T }>(path.join(dir, 'tensors.json')).meta;

const command = newCommand('ship-models', 'Write models/ (float16 sentence encoder, Stage I generator and a Stage II that beats Stage I upscaled, with a manifest) from a trained run')
  .option('--from <dir>', 'the run folder that holds embeddings/, stage1/ and optionally stage2/ (default: $T2I_ARTIFACTS, else data/)', artifactsDir())
  .option('--dataset <text>', 'what the models were trained on, for the manifest', 'Oxford-102 flowers, the 7,034 images of the 82 training classes, with Reed et al. (2016) captions')
  .option('--force', 'ship even a Stage I that scores worse than the shipped one, or has no scores')
  .action(async (raw) => {
    const o = parseOptions(Options, raw, 'ship-models');
    const from = path.resolve(o.from);
    const encoder = path.join(from, 'embeddings', 'encoder');
    const stage1 = path.join(from, 'stage1', 'generator');
    for (const dir of [encoder, stage1]) if (!existsSync(path.join(dir, 'tensors.json'))) throw new UsageError(`${dir} holds no trained model; train it first (README, "The release model")`);
    const encoderMeta = readJson<{ config: unknown }>(path.join(from, 'embeddings', 'manifest.json'));
    const encoderTraining = trainingSpan(path.join(from, 'embeddings', 'metrics.jsonl'));
    const encoderId = tensorsMeta<{ id: string }>(encoder).id;
    const stage1Meta = tensorsMeta<{ config: { epochs: number }; epoch: number }>(stage1);
    const scoresFile = path.join(from, 'evaluate', 'scores.json');
    const scores = existsSync(scoresFile) ? readJson<unknown>(scoresFile) : null;
    // A release replaces the shipped models only where its Stage I is no worse, read on evaluate's scores.
    if (!o.force) {
      const verdict = stage1Verdict(scores, verifyShipped()?.scores, stage1Meta.epoch);
      if (!verdict.ship) throw new UsageError(`${verdict.reason}; ${shippedDir()} is left as it is (--force ships it anyway)`);
      log(verdict.reason);
    }
    // Stage II ships only where it does better than resizing Stage I's image, which costs nothing.
    const stage2 = path.join(from, 'stage2', 'generator');
    let stage2About: { config: unknown; epoch: number; trainingSeconds: number } | undefined;
    if (existsSync(path.join(stage2, 'tensors.json'))) {
      const meta = tensorsMeta<{ config: unknown; epoch: number; stage1: { epoch: number } }>(stage2);
      const verdict = stage2Verdict(scores, { epoch: meta.epoch, stage1Epoch: meta.stage1.epoch });
      if (verdict.stale && !o.force) throw new UsageError(`${verdict.reason}; ${shippedDir()} is left as it is`);
      log(`${verdict.reason}: ${verdict.ship ? 'shipping it' : 'not shipping it (generate writes Stage I upscaled at 256)'}`);
      if (verdict.ship) {
        stage2About = { config: meta.config, epoch: meta.epoch, trainingSeconds: Math.round(trainingSpan(path.join(from, 'stage2', 'metrics.jsonl')).seconds) };
      }
    }
    // Only copying weights: the cpu backend is enough and starts at once.
    await initBackend({ backend: 'cpu' });
    const manifest = await shipModels({
      encoder,
      stage1,
      ...(stage2About && { stage2 }),
      about: {
        description: 'The models `t2i generate` draws with when no pipeline has trained its own under data/. README, "The release model", says how to train them again.',
        dataset: o.dataset,
        encoder: { id: encoderId, config: encoderMeta.config, epochs: encoderTraining.epoch, trainingSeconds: Math.round(encoderTraining.seconds) },
        stage1: { config: stage1Meta.config, epoch: stage1Meta.epoch, plannedEpochs: stage1Meta.config.epochs, trainingSeconds: Math.round(trainingSpan(path.join(from, 'stage1', 'metrics.jsonl')).seconds) },
        ...(stage2About && { stage2: stage2About }),
        scores,
      },
    });
    for (const [name, f] of Object.entries(manifest.files)) log(`${path.join(shippedDir(), name)}: ${(f.bytes / 1e6).toFixed(2)} MB, sha256 ${f.sha256.slice(0, 12)}…`);
  });

await runCommand(command);
