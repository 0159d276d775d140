import { ArtifactError, Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { ParamStore, type ReadTensors, type Tensors } from '@t2i/gan';
import { tokenize, Vocabulary, type VocabJson } from 'captions';
import type { EmbeddingsConfig } from './config.ts';
import { encodeCaptions } from './encode.ts';
import { buildTextModel, type SentenceModel } from './models.ts';

/**
 * Which sentence vectors a model reads: their size, and the encoder that made them (encoderIdentity:
 * a digest of its weights and vocabulary; absent from artifacts of earlier versions). Vectors of a
 * retrained encoder have the same size and mean something else. A loaded generator is one.
 */
export interface SentenceSpace {
  textDim: number;
  encoder?: string;
}

/**
 * Fails, naming the command that retrains what came after, unless the models that meet in one
 * command read the same sentence vectors (`parts`: each one's, e.g. { encoder: ..., 'Stage I': ... }).
 */
export function requireOneSentenceSpace(parts: Record<string, SentenceSpace>, remakeWith: string): void {
  const entries = Object.entries(parts);
  const fix = `retrain what came after embeddings: ${remakeWith}`;
  if (new Set(entries.map(([, s]) => s.textDim)).size > 1) {
    throw new ArtifactError(`sentence vectors of different sizes (${entries.map(([part, s]) => `${part} ${s.textDim}-d`).join(', ')}): the models were trained on different embeddings; ${fix}`);
  }
  const known = entries.filter(([, s]) => s.encoder !== undefined);
  if (new Set(known.map(([, s]) => s.encoder)).size > 1) {
    throw new ArtifactError(`sentence vectors of different encoder trainings (${known.map(([part, s]) => `${part} ${s.encoder!.slice(0, 8)}`).join(', ')}): the encoder was retrained after the models that read it; ${fix}`);
  }
}

/**
 * Any sentence to a vector, with the trained text encoder. Words the vocabulary does not know
 * become <unk>, whose embedding word dropout trained; they are reported, never fatal. The command
 * line reads it from files (loadSentenceEncoder), the page over HTTP: both through `read`.
 */
export class SentenceEncoder {
  private constructor(
    readonly config: EmbeddingsConfig,
    readonly vocab: Vocabulary,
    private readonly model: SentenceModel,
    private readonly store: ParamStore,
    readonly dim: number,
    /** Which training made it (SentenceSpace's encoder). */
    readonly id?: string,
  ) {}

  /** The sentence vectors it makes. */
  get space(): SentenceSpace {
    return { textDim: this.dim, encoder: this.id };
  }

  /** The encoder saved in `folder` (saveEncoder's), read with `read`. */
  static async read(folder: string, read: ReadTensors): Promise<SentenceEncoder> {
    return SentenceEncoder.fromTensors(await read(folder));
  }

  /** The text model rebuilt from its saved config and vocabulary, with the saved weights (the image side's, if there, are left out). */
  static fromTensors({ groups, meta }: Tensors): SentenceEncoder {
    const config = meta.config as EmbeddingsConfig;
    const vocab = new Vocabulary(meta.vocab as VocabJson);
    const store = new ParamStore(new Rng(0));
    const { text, dim } = buildTextModel(store, config, vocab.size);
    store.load(groups.weights);
    tf.dispose(Object.values(groups.weights));
    return new SentenceEncoder(config, vocab, text, store, dim, meta.id as string | undefined);
  }

  /** Per sentence also the words outside the vocabulary (read as <unk>) and those past maxTokens (not read). */
  async encode(sentences: string[]): Promise<{ vectors: Float32Array; unknownWords: string[][]; ignoredWords: string[][] }> {
    const words = sentences.map((s) => tokenize(s));
    const read = words.map((w) => w.slice(0, this.config.maxTokens));
    const tokens = read.map((w) => (w.length > 0 ? this.vocab.encodeTokens(w) : Int32Array.of(this.vocab.id('<unk>'))));
    return {
      vectors: await encodeCaptions(this.model, tokens),
      unknownWords: read.map((w) => this.vocab.unknownTokens(w)),
      ignoredWords: words.map((w) => w.slice(this.config.maxTokens)),
    };
  }

  dispose(): void {
    this.store.dispose();
  }
}
