import { ArtifactError, gatherRows, log, progressBar, Rng, span } from '@t2i/core';
import { tf } from '@t2i/backends';
import { noiseRows, toBytes, type Noise } from '@t2i/gan';
import { loadCaptionVectors, type CaptionVectors } from 'embeddings';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadImageSet, SOURCE_SIZE, upscaleImages, type ImageSet } from 'preprocess-images';
import { departures } from 'stage2';
import { loadPipeline, modelArtifacts, requireModels, SIZE, type TextToImagePipeline, type Stage } from 't2i';
import { centreCrops, classifierData, classifyAll, loadOrTrainClassifier, readClassificationSplit, toClassifierInput, type FlowerClassifier } from './classifier.ts';
import type { EvaluateConfig } from './config.ts';
import { bandEnergies, DETAIL_BANDS, meanEnergies, realTestBandEnergies } from './detail.ts';
import { loadJointImageEncoder, type JointImageEncoder } from './joint.ts';
import { fid, inceptionScore } from './metrics.ts';
import { FEATURE_NOTE, GENERATED_SETS, pairedComparisons, PROTOCOL, PUBLISHED, scoreStage, SET_SHAPE, type GeneratedSet, type PerImage, type Reference, type ScoreRow, type ScoresJson, type StageScores } from './scores.ts';

export interface EvaluateOptions {
  outDir: string;
  datasetDir: string;
  backend: string;
  /** Train the classifier even when a cached one matches. */
  retrain: boolean;
}

/** One generated image: a test image's caption and a noise draw. */
export interface Item extends ScoreRow {
  /** Row of the caption in the caption matrix. */
  captionRow: number;
  /** Row of the ground-truth image among the real test-class images. */
  truthRow: number;
}

/** Every caption of the test-class images: the conditioning of the generated images and R-precision's candidates. */
export interface TestCaptions {
  vectors: Float32Array;
  classOf: number[];
  rowOf: Map<string, number>;
}

function testCaptions(images: ImageSet, testRows: number[], vectors: CaptionVectors): TestCaptions {
  const parts: Float32Array[] = [];
  const classOf: number[] = [];
  const rowOf = new Map<string, number>();
  for (const r of testRows) {
    const all = vectors.byImage.get(images.ids[r]);
    if (!all) continue;
    for (let k = 0; k < all.length / vectors.dim; k++) {
      rowOf.set(`${images.ids[r]}#${k}`, classOf.length);
      classOf.push(images.classIds[r]);
      parts.push(all.subarray(k * vectors.dim, (k + 1) * vectors.dim));
    }
  }
  const out = new Float32Array(parts.length * vectors.dim);
  parts.forEach((p, i) => out.set(p, i * vectors.dim));
  return { vectors: out, classOf, rowOf };
}

function planItems(images: ImageSet, testRows: number[], captions: TestCaptions, config: EvaluateConfig): Item[] {
  const items: Item[] = [];
  testRows.forEach((r, truthRow) => {
    for (let k = 0; k < config.captionsPerImage; k++) {
      const captionRow = captions.rowOf.get(`${images.ids[r]}#${k}`);
      if (captionRow === undefined) continue;
      for (let s = 0; s < config.samplesPerCaption; s++) items.push({ imageId: images.ids[r], captionIndex: k, sample: s, classId: images.classIds[r], captionRow, truthRow });
    }
  });
  return items;
}

/** For each item: its own caption row, then up to `want` captions of other classes, at random. */
function candidatesFor(items: Item[], captions: TestCaptions, want: number, rng: Rng): { candidates: number[][]; note: string } {
  const others = new Map<number, number[]>();
  let fewest = Infinity;
  const candidates = items.map((item) => {
    if (!others.has(item.classId)) others.set(item.classId, captions.classOf.flatMap((c, row) => (c === item.classId ? [] : [row])));
    const pool = others.get(item.classId)!;
    const k = Math.min(want, pool.length);
    fewest = Math.min(fewest, k);
    return [item.captionRow, ...rng.sample(pool.length, k).map((i) => pool[i])];
  });
  const note = fewest < want ? `Only ${fewest} captions of other test classes exist here (of the ${want} the protocol asks for), so images rank their caption among all of them: chance is 1/${fewest + 1}, not 1/${want + 1}.` : '';
  return { candidates, note };
}

/** One batch of draws as the sets scored, [-1, 1] tensors that the caller disposes. */
export type DrawnSets = Partial<Record<GeneratedSet, tf.Tensor4D>>;

/**
 * Stage I's images, the same images upscaled to 256 with lanczos3 (through bytes, as t2i generate
 * writes them) and, where drawn, Stage II's: every set of one draw, from one caption and noise.
 */
export async function setsOf(drawn: { low: tf.Tensor4D; high?: tf.Tensor4D }): Promise<DrawnSets> {
  const n = drawn.low.shape[0];
  const to = SIZE[2];
  const upscaled = await upscaleImages(toBytes((await drawn.low.data()) as Float32Array), n, SIZE[1], to);
  const stage1Upscaled = tf.tidy(() => tf.tensor4d(upscaled, [n, to, to, 3], 'float32').div(127.5).sub(1) as tf.Tensor4D);
  return { stage1: drawn.low, stage1Upscaled, ...(drawn.high && { stage2: drawn.high }) };
}

/** Draws the items' images batch by batch, in order, and hands each batch's sets to `see`, which must not keep them. */
export async function drawSets(items: Item[], captions: TestCaptions, dim: number, pipeline: Pick<TextToImagePipeline, 'draw' | 'generators'>, noise: Noise, batchSize: number, see: (sets: DrawnSets, start: number) => Promise<void>): Promise<void> {
  const bar = progressBar('evaluate: generating', items.length, 'images');
  for (let start = 0; start < items.length; start += batchSize) {
    const batch = items.slice(start, start + batchSize);
    const text = gatherRows(captions.vectors, dim, batch.map((item) => item.captionRow));
    const sets = await setsOf(pipeline.draw(text, noiseRows(noise, pipeline.generators().dims, span(start, batch.length))));
    try {
      await see(sets, start);
    } finally {
      tf.dispose(Object.values(sets));
    }
    bar.tick(batch.length);
  }
  bar.stop();
}

interface SetOutputs {
  probs: Float32Array;
  features: Float32Array;
  joint: Float32Array;
  /** Band energies, of 256x256 sets alone. */
  bands?: Float32Array;
}

/** Generates the items' images and keeps what the scores need of each set: p(y|x), features, joint vectors, band energies at 256. */
async function generateAndMeasure(items: Item[], captions: TestCaptions, dim: number, pipeline: TextToImagePipeline, noise: Noise, classifier: FlowerClassifier, joint: JointImageEncoder, batchSize: number): Promise<Partial<Record<GeneratedSet, SetOutputs>>> {
  const k = classifier.classes.length;
  const n = items.length;
  const make = (set: GeneratedSet): SetOutputs => ({
    probs: new Float32Array(n * k),
    features: new Float32Array(n * classifier.featureDim),
    joint: new Float32Array(n * joint.dim),
    ...(SET_SHAPE[set].size === SIZE[2] && { bands: new Float32Array(n * DETAIL_BANDS) }),
  });
  const out: Partial<Record<GeneratedSet, SetOutputs>> = {};
  await drawSets(items, captions, dim, pipeline, noise, batchSize, async (sets, start) => {
    for (const set of GENERATED_SETS) {
      const x = sets[set];
      if (!x) continue;
      const o = (out[set] ??= make(set));
      const measured = tf.tidy(() => {
        const input = toClassifierInput(x);
        return { ...classifier.classify(input), joint: joint.encode(input), bands: o.bands && bandEnergies(x) };
      });
      o.probs.set((await measured.probs.data()) as Float32Array, start * k);
      o.features.set((await measured.features.data()) as Float32Array, start * classifier.featureDim);
      o.joint.set((await measured.joint.data()) as Float32Array, start * joint.dim);
      if (measured.bands) o.bands!.set((await measured.bands.data()) as Float32Array, start * DETAIL_BANDS);
      tf.dispose(measured);
    }
  });
  return out;
}

/** What evaluate measured, and what its report draws again: the pipeline stays loaded for that (the caller disposes it). */
export interface Measurement {
  scores: ScoresJson;
  /** The generated images, in the order of every per-image array. */
  items: Item[];
  /** Per set measured, per generated image. */
  perSet: { set: GeneratedSet; perImage: PerImage }[];
  captions: TestCaptions;
  vectors: CaptionVectors;
  noise: Noise;
  pipeline: TextToImagePipeline;
}

/**
 * Scores of the trained generators on the test-class captions: a flower classifier trained here
 * (or its cached copy) on real images, Stage I's and Stage II's images for every planned caption
 * and noise draw, Stage I's upscaled to 256 (the baseline; measured with or without a Stage II, as
 * it is what t2i generate writes at 256 without one), and every score with the protocol that says
 * how it was measured.
 */
export async function measure(config: EvaluateConfig, options: EvaluateOptions): Promise<Measurement> {
  requireModels(1);
  const images = await loadImageSet(SOURCE_SIZE.stage1);
  const vectors = await loadCaptionVectors();
  const split = await readClassificationSplit(options.datasetDir);
  const data = classifierData(images, split);
  const { classifier, info } = await loadOrTrainClassifier(path.join(options.outDir, 'classifier'), data, config, options.retrain);
  log(`classifier: ${info.classes.length} classes, ${info.trainImages} training images; held-out (tstid, ${info.testImages} images) top-1 ${info.testTop1 === null ? 'n/a' : (100 * info.testTop1).toFixed(1) + '%'}, top-5 ${info.testTop5 === null ? 'n/a' : (100 * info.testTop5).toFixed(1) + '%'}`);

  const rowsOf = (which: 'train' | 'test') => images.splits.flatMap((s, i) => (s === which ? [i] : []));
  const testRows = rowsOf('test');
  const trainRows = rowsOf('train');
  const real = (rows: number[]) => classifyAll(classifier, rows.length, config.classifierBatchSize, (s, c) => centreCrops(images, rows.slice(s, s + c)));
  const realTest = await real(testRows);
  const realTrain = await real(trainRows);
  const realBands = await realTestBandEnergies(config.classifierBatchSize);
  const K = classifier.classes.length;
  const F = classifier.featureDim;

  const captions = testCaptions(images, testRows, vectors);
  const items = planItems(images, testRows, captions, config);
  if (items.length < 2) throw new Error(`evaluate: ${items.length} generated image(s) planned; the scores need at least 2 test-class images with caption vectors`);
  const splits = Math.min(config.splits, items.length);
  const { candidates, note } = candidatesFor(items, captions, config.rPrecisionCandidates - 1, new Rng(config.seed ^ 0x7e57));

  const stage2File = modelArtifacts().stage2;
  const stage2Skipped = existsSync(stage2File.file) ? undefined : `no trained Stage II generator (${stage2File.file}); run \`${stage2File.makeWith}\` and evaluate again`;
  if (stage2Skipped) log(`evaluate: Stage II skipped: ${stage2Skipped}`);
  // The stored caption vectors condition the images: no sentence encoder.
  const pipeline = await loadPipeline({ stage: stage2Skipped ? 1 : 2, encoder: false });
  let joint: JointImageEncoder | undefined;
  try {
    joint = await loadJointImageEncoder();
    if (joint.dim !== vectors.dim || pipeline.textDim !== vectors.dim) throw new ArtifactError(`embeddings make ${vectors.dim}-d vectors, the joint image encoder ${joint.dim}-d and the generators were trained on ${pipeline.textDim}-d ones; rerun the steps after embeddings`);
    const noise = pipeline.noise(items.length, config.seed);
    log(`evaluate: ${items.length} images per set (${testRows.length} test-class images x ${config.captionsPerImage} captions x ${config.samplesPerCaption} samples)`);
    const outputs = await generateAndMeasure(items, captions, vectors.dim, pipeline, noise, classifier, joint, config.batchSize);

    const labelOf = new Map(classifier.classes.map((c, i) => [c, i]));
    const ref: Reference = {
      classes: K,
      featureDim: F,
      labels: Int32Array.from(items, (it) => labelOf.get(it.classId)!),
      truthFeatures: Float32Array.from({ length: items.length * F }, (_, i) => realTest.features[items[Math.floor(i / F)].truthRow * F + (i % F)]),
      realTest: realTest.features,
      captions: captions.vectors,
      captionDim: vectors.dim,
      candidates,
      candidatesNote: note,
      splits,
      realBands,
    };
    const epochs: Record<Stage, number> = { 1: pipeline.stage1.epoch, 2: pipeline.stage2?.epoch ?? 0 };
    const models = describeModels(pipeline);
    const measured = GENERATED_SETS.flatMap((set) => {
      const o = outputs[set];
      const trainedOn = set === 'stage2' ? pipeline.stage2?.stage1.epoch : undefined;
      return o ? [{ set, ...scoreStage({ set, epoch: epochs[SET_SHAPE[set].stage], stage1Epoch: trainedOn, model: models[set], ...o }, ref) }] : [];
    });
    const scoresOf = (set: GeneratedSet): StageScores | { skipped: string } => measured.find((m) => m.set === set)?.scores ?? { skipped: stage2Skipped! };

    const scores: ScoresJson = {
      note: FEATURE_NOTE,
      config,
      backend: options.backend,
      classifier: { ...info, protocol: PROTOCOL.classifier(config.classifierWidth, F, info, classifier.classes) },
      generated: {
        protocol: PROTOCOL.generated(testRows.length, config.captionsPerImage, config.samplesPerCaption, config.seed, items.length),
        testImages: testRows.length,
        captionsPerImage: config.captionsPerImage,
        samplesPerCaption: config.samplesPerCaption,
        images: items.length,
      },
      stages: { stage1: scoresOf('stage1'), stage1Upscaled: scoresOf('stage1Upscaled'), stage2: scoresOf('stage2') },
      paired: pairedComparisons(measured),
      real: {
        inceptionScoreTest: { ...inceptionScore(realTest.probs, K, Math.min(config.splits, testRows.length)), protocol: PROTOCOL.realInceptionScore(testRows.length) },
        fidTrainVsTest: { value: fid(realTrain.features, realTest.features, F), protocol: PROTOCOL.fidFloor },
        detail: { images: realBands.length / DETAIL_BANDS, meanEnergy: meanEnergies(realBands), protocol: PROTOCOL.realDetail(realBands.length / DETAIL_BANDS) },
      },
      published: PUBLISHED,
    };
    return { scores, items, perSet: measured.map(({ set, perImage }) => ({ set, perImage })), captions, vectors, noise, pipeline };
  } catch (err) {
    pipeline.dispose();
    throw err;
  } finally {
    joint?.dispose();
    classifier.store.dispose();
  }
}

/** Which trained model makes each set, in a line: what the report says beside its scores. */
function describeModels(p: TextToImagePipeline): Record<GeneratedSet, string> {
  const c1 = p.stage1.config;
  const stage1 = `${c1.generator} G, ${c1.discriminator} D, ngf ${c1.ngf}, ndf ${c1.ndf}; config ${c1.name}, epoch ${p.stage1.epoch} of ${c1.epochs}`;
  const stage1Upscaled = `${stage1}; upscaled 64 -> 256 (lanczos3)`;
  if (!p.stage2) return { stage1, stage1Upscaled, stage2: '' };
  const c2 = p.stage2.config;
  const departed = departures(c2).map((d) => `, ${d}`).join('');
  return { stage1, stage1Upscaled, stage2: `${c2.residualBlocks} residual block${c2.residualBlocks === 1 ? '' : 's'}, ngf ${c2.ngf}, ndf ${c2.ndf}${departed}; config ${c2.name}, epoch ${p.stage2.epoch} of ${c2.epochs}, on Stage I epoch ${p.stage2.stage1.epoch}` };
}
