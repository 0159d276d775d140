import { ArtifactError, log, stepDir } from '@t2i/core';
import { generatorDir, loadGenerator, loadTensors } from '@t2i/gan';
import { encoderDir } from 'embeddings';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildGenerator, type Stage1Config } from 'stage1';
import type { LoadedStage1 } from 'stage2';
import { shippedDir, verifyShipped, type ShippedManifest } from './shipped.ts';
import { STAGE1_MAKE, TextToImagePipeline, type ModelFolders, type Stage } from './text-to-image.ts';

export { SIZE, TextToImagePipeline, type ModelFolders, type Pictures, type Stage } from './text-to-image.ts';

/** Where each trained model lives and the command that makes it. */
export function modelArtifacts() {
  return {
    encoder: { file: path.join(encoderDir(), 'tensors.json'), makeWith: 'pnpm turbo run embeddings' },
    stage1: { file: path.join(generatorDir(stepDir('stage1')), 'tensors.json'), makeWith: 'pnpm turbo run stage1' },
    stage2: { file: path.join(generatorDir(stepDir('stage2')), 'tensors.json'), makeWith: 'pnpm turbo run stage2' },
  };
}

/**
 * Fails, before anything loads, with every missing model and the one command that makes them
 * all (turbo runs the steps before it too).
 */
export function requireModels(stage: Stage): void {
  const needed = Object.entries(modelArtifacts()).filter(([name]) => stage === 2 || name !== 'stage2');
  const missing = needed.filter(([, a]) => !existsSync(a.file));
  if (missing.length === 0) return;
  const last = missing[missing.length - 1][1].makeWith;
  // --stage 1 is a way out only when Stage I's models are all there.
  const stage1Ready = missing.every(([name]) => name === 'stage2');
  throw new ArtifactError(`no trained model: ${missing.map(([name, a]) => `${name} (${a.file})`).join(', ')} missing. Run \`${last}\` first${stage1Ready ? ', or pass --stage 1 for 64x64 images alone' : ''}.`);
}

/** Where one command's models come from: trained under data/ (or $T2I_ARTIFACTS), or shipped in models/. */
export interface ModelSource extends ModelFolders {
  kind: 'trained' | 'shipped';
  /** The shipped manifest (kind shipped). */
  manifest?: ShippedManifest;
}

/** The models trained under data/. */
export function trainedModels(): ModelSource {
  const dir = (file: string) => path.dirname(file);
  const a = modelArtifacts();
  return { kind: 'trained', encoder: dir(a.encoder.file), stage1: dir(a.stage1.file), stage2: dir(a.stage2.file) };
}

/**
 * The models a user's command draws with: those trained under data/ when a pipeline has made them,
 * else the ones shipped in models/ (checked against their manifest), up to the stage they reach.
 * Fails, before anything loads, as requireModels does when neither has them.
 */
export function locateModels(stage: Stage): { source: ModelSource; stage: Stage; note?: string } {
  const a = modelArtifacts();
  const trainedStage1 = existsSync(a.encoder.file) && existsSync(a.stage1.file);
  if (!trainedStage1) {
    const manifest = verifyShipped();
    if (manifest) {
      const dir = shippedDir();
      const source: ModelSource = { kind: 'shipped', encoder: path.join(dir, manifest.encoder.dir), stage1: path.join(dir, manifest.stage1.dir), stage2: manifest.stage2 && path.join(dir, manifest.stage2.dir), manifest };
      const reached: Stage = stage === 2 && source.stage2 ? 2 : 1;
      const note = reached < stage ? 'no Stage II ships yet: 64x64 images only' : undefined;
      return { source, stage: reached, note };
    }
  }
  requireModels(stage);
  return { source: trainedModels(), stage };
}

/** What a command says about the models it draws with. */
export function describeModels(source: ModelSource, stage1Epoch: number): string {
  if (source.kind === 'trained') return `models: trained under ${path.dirname(path.dirname(source.stage1))} (Stage I epoch ${stage1Epoch})`;
  const m = source.manifest!;
  return `models: shipped in ${path.relative(process.cwd(), path.dirname(source.stage1)) || '.'} (${m.dataset}; Stage I epoch ${m.stage1.epoch} of ${m.stage1.plannedEpochs} planned${m.stage2 ? `, Stage II epoch ${m.stage2.epoch}` : ''}; no pipeline has trained models under data/ yet)`;
}

/** The exported Stage I generator (data/stage1/generator), ready for inference. */
export const loadStage1Generator = (dir = generatorDir(stepDir('stage1'))): Promise<LoadedStage1> =>
  loadGenerator(dir, STAGE1_MAKE, (s, c: Stage1Config, textDim) => buildGenerator(s, c, textDim));

/**
 * The pipeline of `source`'s models, read from their files (by default the latest trained ones,
 * under data/ or $T2I_ARTIFACTS); fails with the command to run when any is missing.
 */
export async function loadPipeline({ stage = 2, encoder = true, source }: { stage?: Stage; encoder?: boolean; source?: ModelSource } = {}): Promise<TextToImagePipeline> {
  if (!source) requireModels(stage);
  const pipeline = await TextToImagePipeline.read(source ?? trainedModels(), loadTensors, { stage, encoder });
  if (pipeline.warning) log(pipeline.warning);
  return pipeline;
}
