import { Rng } from '@t2i/core';
import { ParamStore } from '@t2i/gan';
import type { EmbeddingsConfig } from './config.ts';
import { COLOUR_LEVELS, ImageEncoder } from './image-encoder.ts';
import { Seq2Seq } from './seq2seq.ts';
import { TextEncoder } from './text-encoder.ts';

export type SentenceModel = TextEncoder | Seq2Seq;

export interface EncoderModels {
  store: ParamStore;
  text: SentenceModel;
  image: ImageEncoder;
  /** Size of the sentence vectors. */
  dim: number;
}

/** The text side alone: what encodes a new sentence later. */
export function buildTextModel(store: ParamStore, config: EmbeddingsConfig, vocabSize: number): { text: SentenceModel; dim: number } {
  if (config.encoder === 'seq2seq') {
    return { text: new Seq2Seq(store, { vocabSize, wordDim: config.wordDim, hidden: config.seq2seqHidden }), dim: config.seq2seqHidden };
  }
  return { text: new TextEncoder(store, { vocabSize, wordDim: config.wordDim, channels: config.textChannels, dim: config.dim, gruHidden: config.textEncoder === 'cnn-gru' ? (config.gruHidden ?? Math.ceil(config.textChannels / 2)) : undefined }), dim: config.dim };
}

export function buildModels(config: EmbeddingsConfig, vocabSize: number): EncoderModels {
  const store = new ParamStore(new Rng(config.seed));
  const { text, dim } = buildTextModel(store, config, vocabSize);
  return { store, text, image: new ImageEncoder(store, config.imageChannels, dim, config.imageEncoder === 'cnn8' ? 2 : 1, config.imageColours ? (config.colourLevels ?? COLOUR_LEVELS) : 0), dim };
}
