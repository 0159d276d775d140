import { ArtifactError, log, repeatEachRow, stepDir } from '@t2i/core';
import { tf } from '@t2i/backends';
import { generateImages, generatePixels, generatorDir, loadGenerator, seededNoise, type Generators, type Noise, type NoiseDims } from '@t2i/gan';
import { encoderDir, requireOneSentenceSpace, SentenceEncoder } from 'embeddings';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { buildGenerator, IMAGE_SIZE as STAGE1_SIZE, type Stage1Config } from 'stage1';
import { IMAGE_SIZE as STAGE2_SIZE, loadStage2Generator, otherStage1, type LoadedStage1, type LoadedStage2 } from 'stage2';
import { shippedDir, verifyShipped, type ShippedManifest } from './shipped.ts';

/** StackGAN's Stage I (64x64) or Stage II (256x256). */
export type Stage = 1 | 2;

/** Side of each stage's images. */
export const SIZE: Record<Stage, number> = { 1: STAGE1_SIZE, 2: STAGE2_SIZE };

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
export interface ModelSource {
  kind: 'trained' | 'shipped';
  encoder: string;
  stage1: string;
  stage2?: string;
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
  return `models: shipped in ${path.relative(process.cwd(), path.dirname(source.stage1)) || '.'} (${m.dataset}; Stage I epoch ${m.stage1.epoch} of ${m.stage1.plannedEpochs} planned; no pipeline has trained models under data/ yet)`;
}

/** The exported Stage I generator (data/stage1/generator), ready for inference. */
export const loadStage1Generator = (dir = generatorDir(stepDir('stage1'))): Promise<LoadedStage1> =>
  loadGenerator(dir, 'pnpm --filter stage1 train', (s, c: Stage1Config, textDim) => buildGenerator(s, c, textDim));

/** One sentence's pictures: n images at 64x64 (Stage I) and, up to Stage II, at 256x256. */
export interface Pictures {
  n: number;
  /** [n, 64, 64, 3] bytes (Stage I). */
  low: Uint8Array;
  /** [n, 256, 256, 3] bytes (Stage II). */
  high?: Uint8Array;
  /** Words of the sentence outside the vocabulary (encoded as <unk>). */
  unknownWords: string[];
  /** Words past the encoder's length, not read. */
  ignoredWords: string[];
}

/**
 * Text to image with the trained models: the sentence encoder, the Stage I generator and (up to
 * Stage II) the Stage II generator, loaded once and checked to read the same sentence vectors.
 * A seed gives the same pictures through every command.
 */
export class TextToImagePipeline {
  constructor(
    readonly stage1: LoadedStage1,
    readonly stage2: LoadedStage2 | undefined,
    /** Absent where the caller brings its own sentence vectors (evaluate: the stored caption vectors). */
    private readonly encoder?: SentenceEncoder,
  ) {}

  /**
   * The models of `source` (by default the latest trained ones, under data/ or $T2I_ARTIFACTS);
   * fails with the command to run when any is missing.
   */
  static async load({ stage = 2, encoder = true, source }: { stage?: Stage; encoder?: boolean; source?: ModelSource } = {}): Promise<TextToImagePipeline> {
    if (!source) requireModels(stage);
    const from = source ?? trainedModels();
    const stage1 = await loadStage1Generator(from.stage1);
    const stage2 = stage === 2 ? await loadStage2Generator(from.stage2) : undefined;
    const remake = `pnpm turbo run ${stage2 ? 'stage2' : 'stage1'}`;
    let sentences: SentenceEncoder | undefined;
    try {
      if (stage2) requireOneSentenceSpace({ 'Stage I': stage1, 'Stage II': stage2 }, remake);
      if (encoder) {
        sentences = await SentenceEncoder.load(from.encoder);
        requireOneSentenceSpace({ encoder: sentences.space, 'Stage I': stage1, ...(stage2 && { 'Stage II': stage2 }) }, remake);
      }
    } catch (err) {
      sentences?.dispose();
      stage1.store.dispose();
      stage2?.store.dispose();
      throw err;
    }
    const mismatch = stage2 && otherStage1(stage2, stage1);
    if (mismatch) log(mismatch);
    return new TextToImagePipeline(stage1, stage2, sentences);
  }

  /** Size of the sentence vectors the generators read. */
  get textDim(): number {
    return this.stage1.textDim;
  }

  /** The generators up to `stage` (by default all that are loaded), as inference runs them. */
  generators(stage: Stage = this.stage2 ? 2 : 1): Generators {
    if (stage === 2 && !this.stage2) throw new Error('TextToImagePipeline: Stage II was not loaded');
    const dims: NoiseDims = { zDim: this.stage1.config.zDim, conditionDim1: this.stage1.config.conditionDim };
    if (stage === 1 || !this.stage2) return { textDim: this.textDim, stage1: this.stage1.generator, dims };
    return { textDim: this.textDim, stage1: this.stage1.generator, stage2: this.stage2.generator, dims: { ...dims, conditionDim2: this.stage2.config.conditionDim } };
  }

  /** The noise of n images from a seed, for every loaded stage. */
  noise(n: number, seed: number): Noise {
    return seededNoise(seed, n, this.generators().dims);
  }

  /** Sentence vectors [n, textDim] to images with given noise, as tensors in [-1, 1] (the caller disposes them). */
  draw(vectors: Float32Array, noise: Noise): { low: tf.Tensor4D; high?: tf.Tensor4D } {
    return generateImages(this.generators(), vectors, noise);
  }

  /** n pictures of one sentence up to `stage`; the same seed gives the same pictures. */
  async generate(text: string, { n = 8, seed = 1, stage = this.stage2 ? 2 : 1 }: { n?: number; seed?: number; stage?: Stage } = {}): Promise<Pictures> {
    if (!this.encoder) throw new Error('TextToImagePipeline: loaded without its sentence encoder');
    const { vectors, unknownWords, ignoredWords } = await this.encoder.encode([text]);
    const generators = this.generators(stage);
    const { low, high } = await generatePixels(generators, repeatEachRow(vectors, this.textDim, n), seededNoise(seed, n, generators.dims));
    return { n, low, high, unknownWords: unknownWords[0], ignoredWords: ignoredWords[0] };
  }

  dispose(): void {
    this.encoder?.dispose();
    this.stage1.store.dispose();
    this.stage2?.store.dispose();
  }
}
