import { repeatEachRow } from '@t2i/core';
import { tf } from '@t2i/backends';
import { generateImages, generatePixels, readGenerator, seededNoise, type Generators, type Noise, type NoiseDims, type ReadTensors } from '@t2i/gan';
import { requireOneSentenceSpace, SentenceEncoder } from 'embeddings';
import { buildGenerator, IMAGE_SIZE as STAGE1_SIZE, type Stage1Config } from 'stage1';
import { IMAGE_SIZE as STAGE2_SIZE, otherStage1, readStage2Generator, type LoadedStage1, type LoadedStage2 } from 'stage2';

/**
 * Text to image, wherever the models are read from: the command line reads their files
 * (pipeline.ts), the page of t2i serve fetches them (page/app.ts). Nothing here touches Node, so
 * both build, encode and draw with this one code.
 */

/** StackGAN's Stage I (64x64) or Stage II (256x256). */
export type Stage = 1 | 2;

/** Side of each stage's images. */
export const SIZE: Record<Stage, number> = { 1: STAGE1_SIZE, 2: STAGE2_SIZE };

/** Where one pipeline's models are: tensor folders, as paths (command line) or URLs (page). */
export interface ModelFolders {
  encoder: string;
  stage1: string;
  stage2?: string;
}

/** What makes an exported Stage I generator. */
export const STAGE1_MAKE = 'pnpm --filter stage1 train';

/** The exported Stage I generator in `folder`, read with `read`, ready for inference. */
export const readStage1Generator = (folder: string, read: ReadTensors): Promise<LoadedStage1> =>
  readGenerator(folder, read, STAGE1_MAKE, (s, c: Stage1Config, textDim) => buildGenerator(s, c, textDim));

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
 * A seed gives the same pictures through every command, and on the page.
 */
export class TextToImagePipeline {
  /** Said of models that work together less well than they could (a Stage II trained on another Stage I); the caller shows it. */
  readonly warning?: string;

  constructor(
    readonly stage1: LoadedStage1,
    readonly stage2: LoadedStage2 | undefined,
    /** Absent where the caller brings its own sentence vectors (evaluate: the stored caption vectors). */
    private readonly encoder?: SentenceEncoder,
  ) {
    this.warning = stage2 && otherStage1(stage2, stage1);
  }

  /**
   * The models in `folders`, each tensor folder read with `read` (loadTensors: files;
   * fetchTensors: HTTP), up to `stage`; with the sentence encoder unless `encoder` is false.
   */
  static async read(folders: ModelFolders, read: ReadTensors, { stage = 2, encoder = true }: { stage?: Stage; encoder?: boolean } = {}): Promise<TextToImagePipeline> {
    if (stage === 2 && !folders.stage2) throw new Error('TextToImagePipeline: Stage II asked for, and no Stage II folder given');
    const stage1 = await readStage1Generator(folders.stage1, read);
    let stage2: LoadedStage2 | undefined;
    let sentences: SentenceEncoder | undefined;
    try {
      stage2 = stage === 2 ? await readStage2Generator(folders.stage2!, read) : undefined;
      const remake = `pnpm turbo run ${stage2 ? 'stage2' : 'stage1'}`;
      if (stage2) requireOneSentenceSpace({ 'Stage I': stage1, 'Stage II': stage2 }, remake);
      if (encoder) {
        sentences = await SentenceEncoder.read(folders.encoder, read);
        requireOneSentenceSpace({ encoder: sentences.space, 'Stage I': stage1, ...(stage2 && { 'Stage II': stage2 }) }, remake);
      }
    } catch (err) {
      sentences?.dispose();
      stage1.store.dispose();
      stage2?.store.dispose();
      throw err;
    }
    return new TextToImagePipeline(stage1, stage2, sentences);
  }

  /** Size of the sentence vectors the generators read. */
  get textDim(): number {
    return this.stage1.textDim;
  }

  /** The encoder's longest sentence, in words: those after it are not read. */
  get maxWords(): number | undefined {
    return this.encoder?.config.maxTokens;
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

  /** Sentence vectors [n, textDim], with each sentence's unknown words (read as <unk>) and words past the longest sentence read. */
  async encode(sentences: string[]): Promise<{ vectors: Float32Array; unknownWords: string[][]; ignoredWords: string[][] }> {
    if (!this.encoder) throw new Error('TextToImagePipeline: loaded without its sentence encoder');
    return this.encoder.encode(sentences);
  }

  /** n pictures of one sentence up to `stage`; the same seed gives the same pictures. */
  async generate(text: string, { n = 8, seed = 1, stage = this.stage2 ? 2 : 1 }: { n?: number; seed?: number; stage?: Stage } = {}): Promise<Pictures> {
    const { vectors, unknownWords, ignoredWords } = await this.encode([text]);
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
