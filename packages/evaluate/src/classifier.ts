import { augmentRows, DatasetLayoutError, log, progressBar, readMat5, requireDatasetFolder, Rng, UsageError } from '@t2i/core';
import { tf } from '@t2i/backends';
import { assertFinite, type BatchNorm, BatchNormUpdates, ConvBn, Dense, loadTensors, type Mode, ParamStore, saveTensors, StepRunner } from '@t2i/gan';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { ImageSet } from 'preprocess-images';
import type { EvaluateConfig } from './config.ts';
import { topK, trueClassRanks } from './metrics.ts';

/** Part of the cache key: raise it when the classifier's layers or training change, so that older cached weights are retrained. */
const CLASSIFIER_VERSION = 2;

/** The classifier sees 64x64 centre crops (random crops and flips in training), as both GAN stages' discriminators at 64. */
export const CLASSIFIER_SIZE = 64;

/**
 * The flower classifier that stands in for Inception: the published scores use ImageNet-trained
 * networks that cannot be downloaded here, so evaluate trains its own on real images. Five
 * convolutions with batch norm and ReLU (64 -> 4 px), a global average (the pooled feature
 * vector, for FID and the course's score) and a linear map to the classes.
 */
export class FlowerClassifier {
  private readonly convs: ConvBn[];
  private readonly out: Dense;

  constructor(
    readonly store: ParamStore,
    /** Class ids (1-102) of the outputs, in order. */
    readonly classes: number[],
    width: number,
    readonly featureDim: number,
  ) {
    const s = store.scope('classifier');
    this.convs = [
      new ConvBn(s, 'conv64', 3, width, 3),
      new ConvBn(s, 'conv32', width, width, 4, 2),
      new ConvBn(s, 'conv16', width, width * 2, 4, 2),
      new ConvBn(s, 'conv8', width * 2, width * 4, 4, 2),
      new ConvBn(s, 'conv4', width * 4, featureDim, 4, 2),
    ];
    this.out = new Dense(s, 'logits', featureDim, classes.length);
  }

  /** images: [n, 64, 64, 3] in [-1, 1]. */
  apply(images: tf.Tensor4D, mode: Mode): { features: tf.Tensor2D; logits: tf.Tensor2D } {
    let h = images;
    for (const conv of this.convs) h = tf.relu(conv.apply(h, mode));
    const features = h.mean([1, 2]) as tf.Tensor2D;
    return { features, logits: this.out.apply(features) };
  }

  /** p(y|x) and pooled features, inference mode: [n, classes] and [n, featureDim]. */
  classify(images: tf.Tensor4D): { probs: tf.Tensor2D; features: tf.Tensor2D } {
    return tf.tidy(() => {
      const { features, logits } = this.apply(images, { training: false });
      return { probs: tf.softmax(logits), features };
    });
  }
}

/** Generated or real images at 64 or 256 as the classifier's input: 256 is box-filtered down (an exact 4x4 average). */
export function toClassifierInput(images: tf.Tensor4D): tf.Tensor4D {
  const side = images.shape[1];
  if (side === CLASSIFIER_SIZE) return images;
  if (side % CLASSIFIER_SIZE !== 0) throw new RangeError(`images of ${side} px do not box-filter down to ${CLASSIFIER_SIZE}`);
  const k = side / CLASSIFIER_SIZE;
  return tf.avgPool(images, k, k, 'valid');
}

/** p(y|x) and features of many images, batch by batch; `batch(start, count)` makes the [-1, 1] input. */
export async function classifyAll(classifier: FlowerClassifier, n: number, batchSize: number, batch: (start: number, count: number) => tf.Tensor4D): Promise<{ probs: Float32Array; features: Float32Array }> {
  const k = classifier.classes.length;
  const probs = new Float32Array(n * k);
  const features = new Float32Array(n * classifier.featureDim);
  for (let start = 0; start < n; start += batchSize) {
    const count = Math.min(batchSize, n - start);
    const out = tf.tidy(() => classifier.classify(toClassifierInput(batch(start, count))));
    probs.set((await out.probs.data()) as Float32Array, start * k);
    features.set((await out.features.data()) as Float32Array, start * classifier.featureDim);
    tf.dispose(out);
  }
  return { probs, features };
}

/** Centre crops of side `crop` of rows of an image set (64 of the 76 set, 256 of the 304 one), in [-1, 1]. */
export function centreCrops(images: ImageSet, rows: readonly number[], crop = CLASSIFIER_SIZE): tf.Tensor4D {
  return tf.tensor4d(augmentRows(images, rows, { crop, mode: 'center', flip: false }, new Rng(0)), [rows.length, crop, crop, 3]);
}

/** The official Oxford-102 classification split (setid.mat): trnid + valid to train on, tstid held out. */
export interface ClassificationSplit {
  train: Set<string>;
  test: Set<string>;
}

export async function readClassificationSplit(datasetDir: string): Promise<ClassificationSplit> {
  const file = path.join(datasetDir, 'setid.mat');
  requireDatasetFolder(datasetDir);
  if (!existsSync(file)) {
    throw new DatasetLayoutError(`${file}: missing. evaluate's classifier trains on the official Oxford-102 split: put setid.mat (from the VGG page, beside imagelabels.mat) in the dataset folder.`);
  }
  const mat = readMat5(await fs.readFile(file));
  const ids = (name: string) => {
    const values = mat.get(name);
    if (!values) throw new DatasetLayoutError(`${file}: holds no "${name}"; replace it with the official setid.mat`);
    return Array.from(values, (v) => `image_${String(v).padStart(5, '0')}`);
  };
  return { train: new Set([...ids('trnid'), ...ids('valid')]), test: new Set(ids('tstid')) };
}

export interface ClassifierData {
  images: ImageSet;
  /** Class ids present in the image set, sorted: the classifier's outputs. */
  classes: number[];
  /** Output index of each image's class. */
  labels: Int32Array;
  trainRows: number[];
  testRows: number[];
}

/** Every class present, trained on the images in trnid + valid, tested on those in tstid. */
export function classifierData(images: ImageSet, split: ClassificationSplit): ClassifierData {
  const classes = [...new Set(images.classIds)].sort((a, b) => a - b);
  const index = new Map(classes.map((c, i) => [c, i]));
  const labels = Int32Array.from(images.classIds, (c) => index.get(c)!);
  const rowsIn = (set: Set<string>) => images.ids.flatMap((id, i) => (set.has(id) ? [i] : []));
  const data = { images, classes, labels, trainRows: rowsIn(split.train), testRows: rowsIn(split.test) };
  if (data.trainRows.length < 2) throw new UsageError(`evaluate: only ${data.trainRows.length} of ${images.ids.length} images are in setid.mat's trnid/valid; the classifier needs at least 2 to train on`);
  return data;
}

export interface ClassifierInfo {
  classes: number[];
  trainImages: number;
  testImages: number;
  /** Top-1 and top-5 on the held-out tstid images (null without any). */
  testTop1: number | null;
  testTop5: number | null;
  epochs: number;
  seconds: number;
}

type ClassifierSettings = Pick<EvaluateConfig, 'classifierWidth' | 'classifierFeatures' | 'classifierEpochs' | 'classifierBatchSize' | 'classifierLearningRate' | 'classifierSeed'>;

async function train(classifier: FlowerClassifier, data: ClassifierData, config: ClassifierSettings): Promise<void> {
  const rng = new Rng(config.classifierSeed ^ 0xc1a55);
  const optimizer = tf.train.adam(config.classifierLearningRate);
  const runner = new StepRunner();
  const updates = new BatchNormUpdates();
  // Batch norm needs two images per batch; a last batch of one is left for the next shuffle.
  const steps = Math.max(1, Math.floor(data.trainRows.length / config.classifierBatchSize) + (data.trainRows.length % config.classifierBatchSize >= 2 ? 1 : 0));
  for (let epoch = 0; epoch < config.classifierEpochs; epoch++) {
    const order = rng.shuffle([...data.trainRows]);
    const bar = progressBar(`classifier epoch ${epoch + 1}/${config.classifierEpochs}`, steps, 'steps');
    let sum = 0;
    for (let s = 0; s < steps; s++) {
      const rows = order.slice(s * config.classifierBatchSize, (s + 1) * config.classifierBatchSize);
      const cost = runner.run(
        () =>
          optimizer.minimize(() => {
            const x = tf.tensor4d(augmentRows(data.images, rows, { crop: CLASSIFIER_SIZE, mode: 'random', flip: true }, rng), [rows.length, CLASSIFIER_SIZE, CLASSIFIER_SIZE, 3]);
            const y = tf.oneHot(tf.tensor1d(rows.map((r) => data.labels[r]), 'int32'), classifier.classes.length);
            return tf.losses.softmaxCrossEntropy(y, classifier.apply(x, { training: true, updates }).logits) as tf.Scalar;
          }, true, classifier.store.trainable())!,
      );
      updates.apply();
      const value = (await cost.data())[0];
      cost.dispose();
      assertFinite({ loss: value }, epoch * steps + s + 1);
      sum += value;
      bar.tick(1, { loss: value });
    }
    bar.stop();
    if ((epoch + 1) % 10 === 0 || epoch + 1 === config.classifierEpochs) log(`classifier epoch ${epoch + 1}/${config.classifierEpochs}: loss ${(sum / steps).toFixed(4)}`);
  }
  optimizer.dispose();
}

/**
 * Sets every batch norm's moving statistics to the mean of its batch statistics over the
 * training images (centre crops): the moving averages of a short training run are still far
 * from them, and inference would then see badly scaled activations (all-zero features after
 * the ReLUs, on the smallest runs).
 */
async function calibrateBatchNorm(classifier: FlowerClassifier, data: ClassifierData, batchSize: number): Promise<void> {
  const updates = new BatchNormUpdates();
  // Per layer, the running sum of its statistics: the means, then the variances.
  const sums = new Map<BatchNorm, Float64Array>();
  let batches = 0;
  for (let start = 0; start + 2 <= data.trainRows.length; start += batchSize) {
    tf.tidy(() => {
      classifier.apply(centreCrops(data.images, data.trainRows.slice(start, start + batchSize)), { training: true, updates });
    });
    for (const { layer, stats } of updates.pending) {
      const sum = sums.get(layer) ?? new Float64Array(stats.size);
      ((await stats.data()) as Float32Array).forEach((v, i) => (sum[i] += v));
      sums.set(layer, sum);
    }
    updates.discard();
    batches++;
  }
  for (const [layer, sum] of sums) {
    const means = tf.tensor(Float32Array.from(sum, (x) => x / batches), layer.moving.shape);
    layer.moving.assign(means);
    means.dispose();
  }
}

/** Top-1 and top-5 of the classifier on rows of the image set. */
export async function accuracy(classifier: FlowerClassifier, data: ClassifierData, rows: number[], batchSize: number): Promise<{ top1: number | null; top5: number | null }> {
  if (rows.length === 0) return { top1: null, top5: null };
  const { probs } = await classifyAll(classifier, rows.length, batchSize, (start, count) => centreCrops(data.images, rows.slice(start, start + count)));
  const ranks = trueClassRanks(probs, classifier.classes.length, rows.map((r) => data.labels[r]));
  return { top1: topK(ranks, 1), top5: topK(ranks, 5) };
}

/**
 * The classifier cached under `dir` when it was trained with the same settings on the same
 * images, else a freshly trained one (saved there). `retrain` forces training.
 */
export async function loadOrTrainClassifier(dir: string, data: ClassifierData, config: ClassifierSettings, retrain = false): Promise<{ classifier: FlowerClassifier; info: ClassifierInfo; trained: boolean }> {
  const settings = Object.fromEntries(Object.entries(config).filter(([k]) => k.startsWith('classifier')));
  const digest = createHash('sha256').update(data.images.ids.map((id, i) => `${id}:${data.images.classIds[i]}`).join(',')).digest('hex');
  const identity = JSON.stringify({ version: CLASSIFIER_VERSION, ...settings, classes: data.classes, train: data.trainRows.length, test: data.testRows.length, images: digest });
  const store = new ParamStore(new Rng(config.classifierSeed));
  const classifier = new FlowerClassifier(store, data.classes, config.classifierWidth, config.classifierFeatures);
  if (!retrain && existsSync(path.join(dir, 'tensors.json'))) {
    const { groups, meta } = await loadTensors(dir);
    if (meta.identity === identity && !store.mismatch(groups.weights)) {
      store.load(groups.weights);
      tf.dispose(Object.values(groups.weights));
      log(`classifier: cached in ${dir} (same settings and images), not retrained`);
      return { classifier, info: meta.info as ClassifierInfo, trained: false };
    }
    tf.dispose(Object.values(groups.weights));
    log(`classifier: the one cached in ${dir} was trained with other settings or images, or by another version of t2i; retraining`);
  }
  const started = performance.now();
  log(`classifier: ${store.count().toLocaleString()} parameters, ${data.classes.length} classes, ${data.trainRows.length} training images (trnid + valid), ${data.testRows.length} held out (tstid)`);
  await train(classifier, data, config);
  await calibrateBatchNorm(classifier, data, config.classifierBatchSize);
  const { top1, top5 } = await accuracy(classifier, data, data.testRows, config.classifierBatchSize);
  const info: ClassifierInfo = {
    classes: data.classes,
    trainImages: data.trainRows.length,
    testImages: data.testRows.length,
    testTop1: top1,
    testTop5: top5,
    epochs: config.classifierEpochs,
    seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
  };
  const ids = (rows: number[]) => rows.map((r) => data.images.ids[r]);
  await saveTensors(dir, { weights: store.snapshot() }, { identity, info, trainImages: ids(data.trainRows), testImages: ids(data.testRows) });
  return { classifier, info, trained: true };
}
