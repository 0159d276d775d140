import { ArtifactError, gatherRows, log, progressBar, readTable, repeatEachRow, requireArtifact, Rng, span, stageDir, writeFileAtomic, writeJsonAtomic } from '@t2i/core';
import { toBytes, writeImageGrid, writePng } from '@t2i/gan';
import { tf } from '@t2i/backends';
import { captionsFile } from 'captions';
import { loadCaptionVectors, type CaptionVectors } from 'embeddings';
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { loadImageSet, SOURCE_SIZE, type ImageSet } from 'preprocess-images';
import { centreCrops, classifierData, classifyAll, loadOrTrainClassifier, readClassificationSplit, toClassifierInput, type FlowerClassifier } from './classifier.ts';
import type { EvaluateConfig } from './config.ts';
import { describeModels, disposeGenerators, generate, loadGenerators, modelArtifacts, noiseAt, noiseFor, requireModels, SIZE, type Generators, type Noise, type Stage } from './generators.ts';
import { loadJointImageEncoder, type JointImageEncoder } from './joint.ts';
import { fid, inceptionScore } from './metrics.ts';
import { renderReport, reportAssetsDir, reportFile, trainingHistory, type RankedImage, type TrainingHistory } from './report.ts';
import { FEATURE_NOTE, PUBLISHED, PROTOCOL, scoresArrowFile, scoresJsonFile, scoreStage, writeScoresArrow, type PerImage, type Reference, type ScoreRow, type ScoresJson, type StageScores } from './scores.ts';

export interface EvaluateOptions {
  outDir: string;
  datasetDir: string;
  backend: string;
  /** Train the classifier even when a cached one matches. */
  retrain: boolean;
}

/** One generated image: a test image's caption and a noise draw. */
interface Item extends ScoreRow {
  /** Row of the caption in the caption matrix. */
  captionRow: number;
  /** Row of the ground-truth image among the real test-class images. */
  truthRow: number;
}

/** Every caption of the test-class images: the conditioning of the generated images and R-precision's candidates. */
interface TestCaptions {
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

interface StageOutputs {
  probs: Float32Array;
  features: Float32Array;
  joint: Float32Array;
}

/** Generates the items' images batch by batch and keeps what the scores need of them: p(y|x), features, joint vectors. */
async function generateAndMeasure(items: Item[], captions: TestCaptions, dim: number, g: Generators, noise: Noise, classifier: FlowerClassifier, joint: JointImageEncoder, batchSize: number): Promise<Partial<Record<Stage, StageOutputs>>> {
  const k = classifier.classes.length;
  const make = (): StageOutputs => ({ probs: new Float32Array(items.length * k), features: new Float32Array(items.length * classifier.featureDim), joint: new Float32Array(items.length * joint.dim) });
  const out: Partial<Record<Stage, StageOutputs>> = { 1: make(), ...(g.stage2 ? { 2: make() } : {}) };
  const bar = progressBar('evaluate: generating', items.length, 'images');
  for (let start = 0; start < items.length; start += batchSize) {
    const batch = items.slice(start, start + batchSize);
    const text = gatherRows(captions.vectors, dim, batch.map((item) => item.captionRow));
    const images = generate(g, text, noiseAt(g, noise, span(start, batch.length)));
    for (const [stage, x] of [[1, images.low], [2, images.high]] as const) {
      if (!x) continue;
      const measured = tf.tidy(() => {
        const input = toClassifierInput(x);
        return { ...classifier.classify(input), joint: joint.encode(input) };
      });
      const o = out[stage]!;
      o.probs.set((await measured.probs.data()) as Float32Array, start * k);
      o.features.set((await measured.features.data()) as Float32Array, start * classifier.featureDim);
      o.joint.set((await measured.joint.data()) as Float32Array, start * joint.dim);
      tf.dispose(measured);
    }
    tf.dispose([images.low, ...(images.high ? [images.high] : [])]);
    bar.tick(batch.length);
  }
  bar.stop();
  return out;
}

/** Images of chosen items, regenerated from their caption and noise (inference is deterministic), as bytes per stage. */
async function regenerate(items: Item[], captions: TestCaptions, dim: number, g: Generators, noise: Noise, indices: number[]): Promise<{ low: Uint8Array; high?: Uint8Array }> {
  const images = generate(g, gatherRows(captions.vectors, dim, indices.map((i) => items[i].captionRow)), noiseAt(g, noise, indices));
  const low = toBytes((await images.low.data()) as Float32Array);
  const high = images.high ? toBytes((await images.high.data()) as Float32Array) : undefined;
  tf.dispose([images.low, ...(images.high ? [images.high] : [])]);
  return { low, high };
}

async function captionTexts(): Promise<Map<string, string>> {
  const table = await readTable(requireArtifact(captionsFile(stageDir('captions')), 'pnpm turbo run captions'));
  const ids = table.getChild('image_id')!;
  const index = table.getChild('caption_index')!;
  const text = table.getChild('text')!;
  return new Map(Array.from({ length: table.numRows }, (_, i) => [`${ids.get(i)}#${index.get(i)}`, text.get(i) as string]));
}

export async function runEvaluate(config: EvaluateConfig, options: EvaluateOptions): Promise<ScoresJson> {
  const started = performance.now();
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
  const g = await loadGenerators(stage2Skipped ? 1 : 2);
  const joint = await loadJointImageEncoder();
  try {
    if (joint.dim !== vectors.dim || g.textDim !== vectors.dim) throw new ArtifactError(`embeddings make ${vectors.dim}-d vectors, the joint image encoder ${joint.dim}-d and the generators were trained on ${g.textDim}-d ones; rerun the stages after embeddings`);
    const noise = noiseFor(g, items.length, config.seed);
    log(`evaluate: ${items.length} images per stage (${testRows.length} test-class images x ${config.captionsPerImage} captions x ${config.samplesPerCaption} samples)`);
    const outputs = await generateAndMeasure(items, captions, vectors.dim, g, noise, classifier, joint, config.batchSize);

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
    };
    const epochs: Record<Stage, number> = { 1: g.stage1.epoch, 2: g.stage2?.epoch ?? 0 };
    const models = describeModels(g);
    const measured = ([1, 2] as const).flatMap((stage) => {
      const o = outputs[stage];
      return o ? [{ stage, ...scoreStage({ stage, size: SIZE[stage], epoch: epochs[stage], model: models[stage], ...o }, ref) }] : [];
    });
    const stageScores = (stage: Stage): StageScores | { skipped: string } => measured.find((m) => m.stage === stage)?.scores ?? { skipped: stage2Skipped! };

    const scores: ScoresJson = {
      note: FEATURE_NOTE,
      config,
      backend: options.backend,
      classifier: {
        ...info,
        protocol: `A ${config.classifierWidth}-wide 5-layer CNN with batch norm (features: the ${F}-d global average of its last convolution), trained from scratch for ${info.epochs} epochs (Adam, random 64 crops of the 76 px images, flips) on the official Oxford-102 classification split: the ${info.trainImages} images of setid.mat's trnid + valid, over all ${K} classes present (train and test classes of the text-to-image split alike: ${classifier.classes.join(', ')}). Top-1/top-5 are on the ${info.testImages} tstid images, centre crops. classifier/tensors.json lists both sets' image ids.`,
      },
      generated: {
        protocol: `For each of the ${testRows.length} test-class images, its first ${config.captionsPerImage} caption(s), each drawn ${config.samplesPerCaption} time(s) (noise seed ${config.seed}): ${items.length} images per stage. The caption's stored vector conditions Stage I (64x64); Stage II (256x256) refines that same Stage I image with the same caption.`,
        testImages: testRows.length,
        captionsPerImage: config.captionsPerImage,
        samplesPerCaption: config.samplesPerCaption,
        images: items.length,
      },
      stages: { stage1: stageScores(1), stage2: stageScores(2) },
      real: {
        inceptionScoreTest: { ...inceptionScore(realTest.probs, K, Math.min(config.splits, testRows.length)), protocol: `The Inception Score of the ${testRows.length} real test-class images (centre crops), as above: the score of real flowers of these classes for this classifier.` },
        fidTrainVsTest: { value: fid(realTrain.features, realTest.features, F), protocol: PROTOCOL.fidFloor },
      },
      published: PUBLISHED,
    };
    await writeJsonAtomic(scoresJsonFile(options.outDir), scores);
    await writeScoresArrow(scoresArrowFile(options.outDir), items, measured.map(({ stage, perImage }) => ({ stage, perImage })));

    const assets = reportAssetsDir(options.outDir);
    await rm(assets, { recursive: true, force: true });
    await mkdir(assets, { recursive: true });
    const rel = (name: string) => `${path.basename(assets)}/${name}`;

    // The reference grids: every caption with the same noise columns, so columns compare.
    const n = config.referenceSamples;
    const rows = vectors.reference.length / vectors.dim;
    const refImages = generate(
      g,
      repeatEachRow(vectors.reference, vectors.dim, n),
      noiseAt(g, noiseFor(g, n, config.seed + 1), span(0, rows * n).map((i) => i % n)),
    );
    await writeImageGrid(path.join(assets, 'reference-64.png'), toBytes((await refImages.low.data()) as Float32Array), rows * n, SIZE[1], { cols: n, cell: 128 });
    if (refImages.high) await writeImageGrid(path.join(assets, 'reference-256.png'), toBytes((await refImages.high.data()) as Float32Array), rows * n, SIZE[2], { cols: n });
    tf.dispose([refImages.low, ...(refImages.high ? [refImages.high] : [])]);

    // Best and worst by the classifier's probability of the caption's class, at the last stage measured.
    const last = measured[measured.length - 1];
    const order = Array.from(items, (_, i) => i).sort((a, b) => last.perImage.pTrue[b] - last.perImage.pTrue[a]);
    const chosen = [...order.slice(0, 3), ...order.slice(-3)];
    const pictures = await regenerate(items, captions, vectors.dim, g, noise, chosen);
    const texts = await captionTexts();
    const picks: RankedImage[] = [];
    for (const [j, i] of chosen.entries()) {
      const item = items[i];
      const low = `pick-${j + 1}-64.png`;
      const high = `pick-${j + 1}-256.png`;
      const stride = (s: Stage) => SIZE[s] * SIZE[s] * 3;
      await writeImageGrid(path.join(assets, low), pictures.low.subarray(j * stride(1), (j + 1) * stride(1)), 1, SIZE[1], { cols: 1, cell: 128, gap: 0 });
      if (pictures.high) await writePng(path.join(assets, high), pictures.high.subarray(j * stride(2), (j + 1) * stride(2)), SIZE[2], SIZE[2]);
      picks.push({ imageId: item.imageId, classId: item.classId, caption: texts.get(`${item.imageId}#${item.captionIndex}`) ?? '', score: last.perImage.pTrue[i], low: rel(low), high: pictures.high ? rel(high) : undefined });
    }

    const history = (await Promise.all((['stage1', 'stage2'] as const).map((s) => trainingHistory(s, assets, config.gridEpochs, config.animationFrames)))).filter((h): h is TrainingHistory => h !== undefined);
    const perImage = (stage: Stage): PerImage | undefined => measured.find((m) => m.stage === stage)?.perImage;
    const html = renderReport({
      scores,
      reference: { text: vectors.referenceText, samples: n, low: rel('reference-64.png'), high: refImages.high ? rel('reference-256.png') : undefined },
      top: picks.slice(0, 3),
      bottom: picks.slice(3),
      rankedBy: `p(caption's class), Stage ${last.stage}`,
      stage1: perImage(1)!,
      stage2: perImage(2),
      movingAverage: config.movingAverage,
      history,
    });
    await writeFileAtomic(reportFile(options.outDir), html);
    const seconds = (performance.now() - started) / 1000;
    await writeJsonAtomic(path.join(options.outDir, 'manifest.json'), { stage: 'evaluate', config, backend: options.backend, images: items.length, stages: measured.map((m) => m.stage), seconds: Number(seconds.toFixed(1)) });
    return scores;
  } finally {
    joint.dispose();
    disposeGenerators(g);
    classifier.store.dispose();
  }
}
