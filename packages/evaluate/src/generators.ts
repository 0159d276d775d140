import { ArtifactError, gatherRows, log, stageDir } from '@t2i/core';
import { tf } from '@t2i/backends';
import { encoderDir, requireOneSentenceSpace, SentenceEncoder } from 'embeddings';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { generateStage1, IMAGE_SIZE as STAGE1_SIZE, loadStage1Generator, sampleNoise, type LoadedGenerator } from 'stage1';
import { generatorDir } from '@t2i/gan';
import { IMAGE_SIZE as STAGE2_SIZE, loadStage2Generator, otherStage1, stage2Noise, type LoadedStage2 } from 'stage2';

export type Stage = 1 | 2;

/** Side of each stage's images. */
export const SIZE: Record<Stage, number> = { 1: STAGE1_SIZE, 2: STAGE2_SIZE };

/** Where each trained model lives and the command that makes it. */
export function modelArtifacts() {
  return {
    encoder: { file: path.join(encoderDir(), 'tensors.json'), makeWith: 'pnpm turbo run embeddings' },
    stage1: { file: path.join(generatorDir(stageDir('stage1')), 'tensors.json'), makeWith: 'pnpm turbo run stage1' },
    stage2: { file: path.join(generatorDir(stageDir('stage2')), 'tensors.json'), makeWith: 'pnpm turbo run stage2' },
  };
}

/**
 * Fails, before anything loads, with every missing model and the one command that makes them
 * all (turbo runs the stages before it too).
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

export interface Generators {
  stage1: LoadedGenerator;
  /** Absent when only Stage I was asked for. */
  stage2?: LoadedStage2;
  textDim: number;
}

export async function loadGenerators(stage: Stage): Promise<Generators> {
  const stage1 = await loadStage1Generator();
  const stage2 = stage === 2 ? await loadStage2Generator() : undefined;
  try {
    if (stage2) requireOneSentenceSpace({ 'Stage I': stage1, 'Stage II': stage2 }, 'pnpm turbo run stage2');
  } catch (err) {
    disposeGenerators({ stage1, stage2, textDim: stage1.textDim });
    throw err;
  }
  const mismatch = stage2 && otherStage1(stage2, stage1);
  if (mismatch) log(mismatch);
  return { stage1, stage2, textDim: stage1.textDim };
}

/** Which trained model each stage is, in a line: what the report says beside its scores. */
export function describeModels(g: Generators): Record<Stage, string> {
  const c1 = g.stage1.config;
  const stage1 = `${c1.generator} G, ${c1.discriminator} D, ngf ${c1.ngf}, ndf ${c1.ndf}; config ${c1.name}, epoch ${g.stage1.epoch} of ${c1.epochs}`;
  if (!g.stage2) return { 1: stage1, 2: '' };
  const c2 = g.stage2.config;
  return { 1: stage1, 2: `${c2.residualBlocks} residual block${c2.residualBlocks === 1 ? '' : 's'}, ngf ${c2.ngf}, ndf ${c2.ndf}; config ${c2.name}, epoch ${g.stage2.epoch} of ${c2.epochs}, on Stage I epoch ${g.stage2.stage1.epoch}` };
}

export function disposeGenerators(g: Generators): void {
  g.stage1.store.dispose();
  g.stage2?.store.dispose();
}

/** The sentence encoder, checked against the generators it feeds. */
export async function loadEncoder(g: Generators): Promise<SentenceEncoder> {
  const encoder = await SentenceEncoder.load();
  try {
    requireOneSentenceSpace({ encoder: encoder.space, 'Stage I': g.stage1, ...(g.stage2 && { 'Stage II': g.stage2 }) }, `pnpm turbo run ${g.stage2 ? 'stage2' : 'stage1'}`);
  } catch (err) {
    encoder.dispose();
    throw err;
  }
  return encoder;
}

/** Noise of n samples for both stages, [n, d] each, flattened. */
export interface Noise {
  z: Float32Array;
  eps1: Float32Array;
  eps2?: Float32Array;
}

/**
 * Noise from a seed, drawn as `stage1 sample` and `stage2 sample` draw it, so that a seed gives
 * the same pictures through every command.
 */
export function noiseFor(g: Generators, n: number, seed: number): Noise {
  const { z, eps } = sampleNoise(g.stage1.config, n, seed);
  if (!g.stage2) return { z, eps1: eps };
  return { z, eps1: eps, eps2: stage2Noise(g.stage2.config.conditionDim, n, seed) };
}

/** The noise of chosen samples, in the order given. */
export function noiseAt(g: Generators, noise: Noise, indices: readonly number[]): Noise {
  return {
    z: gatherRows(noise.z, g.stage1.config.zDim, indices),
    eps1: gatherRows(noise.eps1, g.stage1.config.conditionDim, indices),
    eps2: noise.eps2 && g.stage2 ? gatherRows(noise.eps2, g.stage2.config.conditionDim, indices) : undefined,
  };
}

/**
 * Text vectors [n, textDim] through Stage I (64x64) and, when loaded, Stage II (256x256) from
 * Stage I's own images: the pair of one caption and one noise draw. Inference mode, [-1, 1].
 */
export function generate(g: Generators, text: Float32Array, noise: Noise): { low: tf.Tensor4D; high?: tf.Tensor4D } {
  const n = text.length / g.textDim;
  return tf.tidy(() => {
    const low = generateStage1(g.stage1.generator, text, g.textDim, noise.z, noise.eps1, g.stage1.config);
    if (!g.stage2 || !noise.eps2) return { low };
    const { c } = g.stage2.generator.ca.apply(tf.tensor2d(text, [n, g.textDim]), tf.tensor2d(noise.eps2, [n, g.stage2.config.conditionDim]));
    return { low, high: g.stage2.generator.generate(low, c, { training: false }) };
  });
}
