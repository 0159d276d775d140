import {
  arrow as A,
  ArrowFileSink,
  fixedListColumn,
  formatBytes,
  fromRoot,
  int32Column,
  log,
  makeBatch,
  utf8Column,
  UsageError,
  writeJsonAtomic,
} from '@t2i/core';
import { tf } from '@t2i/backends';
import { MetricsLog } from '@t2i/gan';
import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import path from 'node:path';
import type { EmbeddingsConfig } from './config.ts';
import { loadEmbeddingData, type EmbeddingData } from './data.ts';
import { encoderDir, saveEncoder } from './encoder.ts';
import { buildModels } from './models.ts';
import { encodeCaptions } from './encode.ts';
import { captionVectors, measureQuality, type Quality } from './quality.ts';
import { loadImportedVectors } from './import.ts';
import { trainEncoders } from './train.ts';

export const embeddingsFile = (outDir: string) => path.join(outDir, 'embeddings.arrow');
export const referenceEmbeddingsFile = (outDir: string) => path.join(outDir, 'reference.arrow');
const ROWS_PER_BATCH = 8192;

export interface EmbeddingsOptions {
  outDir: string;
  restart: boolean;
  backend: string;
}

export function embeddingsSchema(dim: number, encoder: string, encoderId: string): A.Schema {
  return new A.Schema(
    [
      new A.Field('image_id', new A.Utf8(), false),
      new A.Field('caption_index', new A.Int32(), false),
      new A.Field('vector', new A.FixedSizeList(dim, new A.Field('item', new A.Float32(), false)), false),
    ],
    new Map([
      ['t2i.stage', 'embeddings'],
      ['t2i.encoder', encoder],
      ['t2i.dim', String(dim)],
      ['t2i.encoder_id', encoderId],
    ]),
  );
}

async function writeVectors(file: string, schema: A.Schema, ids: string[], index: Int32Array, vectors: Float32Array, dim: number): Promise<void> {
  const sink = await ArrowFileSink.open(file);
  try {
    for (let i = 0; i < ids.length; i += ROWS_PER_BATCH) {
      const end = Math.min(ids.length, i + ROWS_PER_BATCH);
      sink.write(makeBatch(schema, [utf8Column(ids.slice(i, end)), int32Column(index.slice(i, end)), fixedListColumn(vectors.slice(i * dim, end * dim), dim)]));
    }
  } catch (err) {
    await sink.abort();
    throw err;
  }
  await sink.commit();
}

/**
 * Names the sentence vectors of one encoder training, which the models trained on them record and
 * check: a digest of the encoder's weights (in name order) and vocabulary, and of imported vectors.
 * A rerun of a finished training (turbo's, after a code change) names them as before, so Stage I
 * resumes; more training or another one names them anew, so Stage I starts afresh.
 */
export async function encoderIdentity(weights: Map<string, tf.Variable>, vocab: unknown, imported?: Float32Array): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify(vocab));
  for (const name of [...weights.keys()].sort()) {
    const values = (await weights.get(name)!.data()) as Float32Array;
    hash.update(name).update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  }
  if (imported) hash.update(new Uint8Array(imported.buffer, imported.byteOffset, imported.byteLength));
  return hash.digest('hex').slice(0, 32);
}

export interface EmbeddingsResult {
  quality: Quality[];
  seconds: number;
}

export async function runEmbeddings(config: EmbeddingsConfig, options: EmbeddingsOptions, data?: EmbeddingData): Promise<EmbeddingsResult> {
  const started = performance.now();
  data ??= await loadEmbeddingData(config.maxTokens);
  if (config.encoder === 'import') {
    if (!config.importFile) throw new UsageError('embeddings: --encoder import needs --import-file FILE (Arrow or .npy vectors, images x 10 captions x D)');
    data.captions.imported = await loadImportedVectors(fromRoot(config.importFile), data);
    config = { ...config, dim: data.captions.imported.dim };
  }
  const models = buildModels(config, data.vocab.size);
  log(`embeddings: ${config.encoder} encoder, config ${config.name}, ${models.store.count().toLocaleString()} parameters, ${data.images.ids.length} images, ${data.captions.tokens.length} captions`);
  await trainEncoders(models, data, config, {
    checkpointDir: path.join(options.outDir, 'checkpoints'),
    metrics: new MetricsLog(path.join(options.outDir, 'metrics.jsonl')),
    restart: options.restart,
  });

  const vectors = await captionVectors(models, data, Array.from(data.captions.image.keys()));
  const ids = Array.from(data.captions.image, (r) => data.images.ids[r]);
  const encoderId = await encoderIdentity(models.store.variables, data.vocab.json, data.captions.imported?.vectors);
  const schema = embeddingsSchema(models.dim, config.encoder, encoderId);
  await writeVectors(embeddingsFile(options.outDir), schema, ids, Int32Array.from(data.captions.index), vectors, models.dim);
  const reference = await encodeCaptions(models.text, data.reference.tokens);
  await writeVectors(referenceEmbeddingsFile(options.outDir), schema, data.reference.text, Int32Array.from(data.reference.text, (_, i) => i), reference, models.dim);
  await saveEncoder(encoderDir(options.outDir), models, config, data.vocab, encoderId);

  // Each split is said as soon as it is measured: the training split's ranking takes minutes on the full data.
  const quality: Quality[] = [];
  for (const split of ['test', 'train'] as const) {
    const q = await measureQuality(models, data, split);
    log(`embeddings ${q.split} (${q.classes} classes, ${q.images} images): zero-shot top-1 ${(100 * q.zeroShotTop1).toFixed(1)}%, caption->image R@1 ${(100 * q.captionToImageR1).toFixed(1)}%, R@10 ${(100 * q.captionToImageR10).toFixed(1)}% (class-only ceiling ${(100 * q.classOracleR10).toFixed(1)}%; within its class ${(100 * q.withinClassR10).toFixed(1)}%); a caption's class top-1 ${(100 * q.captionClassTop1).toFixed(1)}%`);
    quality.push(q);
  }
  models.store.dispose();
  const seconds = (performance.now() - started) / 1000;
  const bytes = Object.fromEntries(
    [embeddingsFile(options.outDir), referenceEmbeddingsFile(options.outDir), path.join(encoderDir(options.outDir), 'tensors.bin')].map((f) => [path.relative(options.outDir, f), statSync(f).size]),
  );
  await writeJsonAtomic(path.join(options.outDir, 'scores.json'), {
    encoder: config.encoder,
    config: config.name,
    backend: options.backend,
    protocol:
      'zeroShotTop1: each image of the split goes to the class whose mean caption vector is nearest (cosine); captionToImageR1/R10: share of captions whose own image ranks 1st / in the top 10 among all images of the split; withinClassR10: the same among the images of the caption\'s class only; classOracleR10: the R@10 of an encoder that knows each caption\'s class and nothing else (the mean of min(10, n) / n over captions, n its class\'s images), the chance level of withinClassR10; captionClassTop1: share of captions whose nearest class (the normalised mean of its image vectors) is their own. Test classes are never seen in training.',
    quality,
  });
  await writeJsonAtomic(path.join(options.outDir, 'manifest.json'), { stage: 'embeddings', encoder: config.encoder, config, dim: models.dim, captions: ids.length, backend: options.backend, seconds: Number(seconds.toFixed(1)), bytes });
  log(`embeddings: ${ids.length} vectors of ${models.dim} in ${seconds.toFixed(1)} s; ` + Object.entries(bytes).map(([f, b]) => `${f} ${formatBytes(b)}`).join(', '));
  if (tf.memory().numTensors > 0) log(`embeddings: ${tf.memory().numTensors} tensors still live at the end`);
  return { quality, seconds };
}
