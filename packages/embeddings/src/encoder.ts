import { log, requireArtifact, stepDir } from '@t2i/core';
import { loadTensors, saveTensors } from '@t2i/gan';
import type { Vocabulary } from 'captions';
import path from 'node:path';
import type { EmbeddingsConfig } from './config.ts';
import type { EncoderModels } from './models.ts';
import { SentenceEncoder } from './sentence-encoder.ts';

export const encoderDir = (outDir = stepDir('embeddings')) => path.join(outDir, 'encoder');

/** Saves what encoding a new sentence needs: the config, the vocabulary and the weights (text and image side). */
export async function saveEncoder(dir: string, models: EncoderModels, config: EmbeddingsConfig, vocab: Vocabulary, id: string): Promise<void> {
  await saveTensors(dir, { weights: models.store.snapshot() }, { config, vocab: vocab.json, dim: models.dim, id });
}

/** The trained sentence encoder from its files (by default data/embeddings/encoder), or the command that makes it. */
export async function loadSentenceEncoder(dir = encoderDir()): Promise<SentenceEncoder> {
  requireArtifact(path.join(dir, 'tensors.json'), 'pnpm turbo run embeddings');
  return SentenceEncoder.read(dir, loadTensors);
}

/** What a command says of the sentence it drew: the words it read as <unk>, and those past the encoder's length that it did not read. */
export function logReading(reading: { unknownWords: string[]; ignoredWords: string[] }): void {
  if (reading.unknownWords.length) log(`unknown words (read as <unk>): ${reading.unknownWords.join(', ')}`);
  if (reading.ignoredWords.length) log(`the sentence is longer than the encoder reads: ${reading.ignoredWords.length} words at its end are ignored (${reading.ignoredWords.slice(0, 8).join(' ')}${reading.ignoredWords.length > 8 ? ' ...' : ''})`);
}
