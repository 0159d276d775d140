import { arrow as A, ArrowFileSink, int16Column, int32Column, makeBatch, utf8Column } from '@t2i/core';
import path from 'node:path';
import type { Stage } from 't2i';
import type { ClassifierInfo } from './classifier.ts';
import { DETAIL_BANDS, detailScore, type Detail } from './detail.ts';
import { courseScore, fidLeaveOneOut, frechetDistance, gaussianOf, inceptionScore, jackknifeStandardError, pairedDifference, rPrecision, topK, trueClassRanks, type MeanStd, type PairedDifference } from './metrics.ts';

export const scoresJsonFile = (outDir: string) => path.join(outDir, 'scores.json');
export const scoresArrowFile = (outDir: string) => path.join(outDir, 'scores.arrow');

/** Said wherever a score is shown: the published ones use networks we cannot download. */
export const FEATURE_NOTE =
  "Measured with t2i's own flower classifier (a small CNN trained here from scratch on real Oxford-102 images), not with Inception: no number here is comparable to a published one.";

/** StackGAN's published figures on Oxford-102 at 256x256, for context only. */
export const PUBLISHED = {
  protocol:
    'StackGAN (Zhang et al., 2017) at 256x256 on Oxford-102: Inception Score 3.20 with an Inception network fine-tuned on flowers (the StackGAN paper); FID 55.28 with ImageNet Inception-v3 features (as later papers report it). Other networks, other sample counts: NOT comparable to the numbers measured here.',
  inceptionScore: 3.2,
  fid: 55.28,
};

/**
 * The sets of generated images scored, as scores.json and scores.arrow name them, in the report's
 * order: Stage I; the same images upscaled to 256 with lanczos3, the baseline Stage II must beat;
 * Stage II.
 */
export const GENERATED_SETS = ['stage1', 'stage1Upscaled', 'stage2'] as const;
export type GeneratedSet = (typeof GENERATED_SETS)[number];

/** The stage whose generator makes each set, and the set's side. */
export const SET_SHAPE: Record<GeneratedSet, { stage: Stage; size: number }> = {
  stage1: { stage: 1, size: 64 },
  stage1Upscaled: { stage: 1, size: 256 },
  stage2: { stage: 2, size: 256 },
};

/** How the baseline set is made: said beside its scores. */
export const UPSCALED_WITH = 'upscaled 64 -> 256 with lanczos3 (sharp, as preprocess-images resizes the dataset), what t2i generate writes at 256 without a Stage II';

export const PROTOCOL = {
  classifier: (width: number, featureDim: number, info: ClassifierInfo, classes: number[]) =>
    `A ${width}-wide 5-layer CNN with batch norm (features: the ${featureDim}-d global average of its last convolution), trained from scratch for ${info.epochs} epochs (Adam, random 64 crops of the 76 px images, flips) on the official Oxford-102 classification split: the ${info.trainImages} images of setid.mat's trnid + valid, over all ${classes.length} classes present (train and test classes of the text-to-image split alike: ${classes.join(', ')}). Top-1/top-5 are on the ${info.testImages} tstid images, centre crops. classifier/tensors.json lists both sets' image ids.`,
  generated: (testImages: number, captionsPerImage: number, samplesPerCaption: number, seed: number, images: number) =>
    `For each of the ${testImages} test-class images, its first ${captionsPerImage} caption(s), each drawn ${samplesPerCaption} time(s) (noise seed ${seed}): ${images} images per stage. The caption's stored vector conditions Stage I (64x64); Stage II (256x256) refines that same Stage I image with the same caption. "Stage I upscaled" is each of those very Stage I images, ${UPSCALED_WITH}: the baseline a Stage II must beat, scored as Stage II is.`,
  realInceptionScore: (testImages: number) =>
    `The Inception Score of the ${testImages} real test-class images (centre crops), as above: the score of real flowers of these classes for this classifier.`,
  inceptionScore: (splits: number) =>
    `Inception Score: StackGAN's inception_score.py with our classifier's p(y|x) over all its classes: the generated images in ${splits} consecutive splits, exp(mean KL(p(y|x) || p(y))) per split, p(y) the split's mean; mean and std over the splits. Higher is better; the real test-class images' score is given for scale.`,
  fid: (splits: number) =>
    `FID: Fréchet distance between Gaussians fitted (mean, n-1 covariance) to the classifier's pooled features of the generated images and of every real test-class image (64x64 centre crops); 256x256 images are box-filtered to 64 first. Lower is better; real train-class against real test-class images is the floor to read it against. ± is its jackknife standard error: the FID again with each of ${splits} interleaved parts of the generated images (images g, g + ${splits}, g + 2 x ${splits}…, so that each part shows every class) left out in turn, the real images held fixed; it says how far another draw of captions and noise could move the value, not how far another training run would.`,
  detail: (images: number) =>
    `Detail (256x256 images only): a Laplacian pyramid of each image's luma (Rec. 601, on [0, 1]) in ${DETAIL_BANDS} bands, finest first (256->128, 128->64, 64->32, 32->16 px): band = x - bilinear upsample(2x2 average of x), then x = its 2x2 average; a band's energy is its mean |value|. The distance is the Fréchet distance between Gaussians fitted to the generated images' and to the ${images} real test-class images' vectors of log(energy + 0.001) (centre 256 crops of the 304 px set); lower is better, 0 = the real photos' detail. The ratio is the generated images' mean energy of the two finest bands over the real images': 1 = as much fine detail as real photos, near 0 = a plain upscale of 64 px images. Every other score sees 256 images box-filtered to 64, where Stage II and Stage I upscaled look alike; this one reads what lies above 64 px.`,
  detailNotApplicable: 'n/a: 64x64 images; the detail score reads the bands of 256x256 ones',
  realDetail: (images: number) => `Mean band energy, finest first, of the ${images} real test-class images at 256 (centre 256 crops of the 304 px set): what the detail score compares the generated images with.`,
  fidFloor: 'FID between the real train-class and the real test-class images in the same feature space: two sets of real flowers of disjoint classes. A generator of test-class flowers should land near or below it.',
  rPrecision: (candidates: number, splits: number, note: string) =>
    `R-precision (R = 1): each generated image ranks its own caption among ${candidates - 1} mismatched ones (captions of test images of other classes, drawn at random) by cosine in the joint text-image space of embeddings (its image encoder on the image, 256 box-filtered to 64; the caption's stored vector); the share ranked first, mean and std over ${splits} splits.${note ? ` ${note}` : ''}`,
  paired:
    "Stage II against each baseline image by image: the same captions and noise, so each Stage II image has its own Stage I image and upscale. For R-precision (its caption ranked first) and class top-1, the share of images Stage II gets right less the share the baseline does, with its standard error over the images (McNemar's: only the images where the two disagree add to it) and the counts of images only one of them gets right. For FID, Stage II's less the baseline's (below 0: Stage II nearer the real photos), with the jackknife standard error of that difference: both FIDs again with the same part left out of both sets, in turn, so what the two sets share cancels. A difference within about two standard errors of 0 is noise.",
  classConsistency: "Class consistency: the classifier's top-1 and top-5 on the generated images, against the class of the caption's image.",
  courseScore:
    "The course's score: mean cosine distance (1 - cosine) between the classifier features of each generated image and of its caption's ground-truth image, plus 1 / spread, spread = root mean per-dimension variance of the generated images' features (a collapsed generator has a small spread). Lower is better. Our classifier's features, not the course's network.",
};

export interface StageScores {
  stage: Stage;
  size: number;
  /** The generator's training epoch. */
  epoch: number;
  /** Stage II's: the epoch of the frozen Stage I it was trained on. */
  stage1Epoch?: number;
  /** The generator measured: its architecture, config and epoch, in a line. */
  model: string;
  images: number;
  inceptionScore: MeanStd & { splits: number; protocol: string };
  /** With its jackknife standard error over interleaved parts: how far another draw of captions and noise could move it. */
  fid: { value: number; standardError: number; protocol: string };
  rPrecision: MeanStd & { candidates: number; splits: number; protocol: string };
  classConsistency: { top1: number; top5: number; protocol: string };
  courseScore: { score: number; meanCosineDistance: number; spread: number; protocol: string };
  detail: (Detail & { protocol: string }) | { notApplicable: string };
}

/** Per generated image: what scores.arrow and the report's charts hold. */
export interface PerImage {
  /** Classifier probability of the caption's class. */
  pTrue: Float32Array;
  /** Rank of the caption's class among the classifier's (0 = top-1). */
  classRank: Int32Array;
  /** Cosine distance to the ground-truth image's features. */
  cosineDistance: Float32Array;
  /** Mismatched captions that beat the image's own caption (0 = retrieved). */
  captionRank: Int32Array;
}

export interface StageInput {
  set: GeneratedSet;
  epoch: number;
  stage1Epoch?: number;
  model: string;
  probs: Float32Array;
  features: Float32Array;
  joint: Float32Array;
  /** Band energies per image ([n, DETAIL_BANDS]), of 256x256 sets alone. */
  bands?: Float32Array;
}

export interface Reference {
  classes: number;
  featureDim: number;
  /** Output index of each generated image's caption class. */
  labels: Int32Array;
  /** Classifier features of each generated image's ground-truth image. */
  truthFeatures: Float32Array;
  /** Features of every real test-class image. */
  realTest: Float32Array;
  captions: Float32Array;
  captionDim: number;
  candidates: number[][];
  /** Said in R-precision's protocol when fewer mismatched captions than asked for exist. */
  candidatesNote: string;
  splits: number;
  /** Band energies of every real test-class image at 256, [n, DETAIL_BANDS]. */
  realBands: Float32Array;
}

export function scoreStage(input: StageInput, ref: Reference): { scores: StageScores; perImage: PerImage; fidLeaveOneOut: number[] } {
  const n = ref.labels.length;
  const real = gaussianOf(ref.realTest, ref.featureDim);
  const leaveOneOut = fidLeaveOneOut(input.features, real, ref.featureDim, ref.splits);
  const is = inceptionScore(input.probs, ref.classes, ref.splits);
  const rp = rPrecision({ images: input.joint, captions: ref.captions, dim: ref.captionDim, candidates: ref.candidates }, ref.splits);
  const classRank = trueClassRanks(input.probs, ref.classes, ref.labels);
  const course = courseScore(input.features, ref.truthFeatures, ref.featureDim);
  return {
    scores: {
      ...SET_SHAPE[input.set],
      epoch: input.epoch,
      ...(input.stage1Epoch !== undefined && { stage1Epoch: input.stage1Epoch }),
      model: input.model,
      images: n,
      inceptionScore: { ...is, splits: ref.splits, protocol: PROTOCOL.inceptionScore(ref.splits) },
      fid: { value: frechetDistance(gaussianOf(input.features, ref.featureDim), real), standardError: jackknifeStandardError(leaveOneOut), protocol: PROTOCOL.fid(ref.splits) },
      rPrecision: { mean: rp.mean, std: rp.std, candidates: ref.candidates[0].length, splits: ref.splits, protocol: PROTOCOL.rPrecision(ref.candidates[0].length, ref.splits, ref.candidatesNote) },
      classConsistency: { top1: topK(classRank, 1), top5: topK(classRank, 5), protocol: PROTOCOL.classConsistency },
      courseScore: { score: course.score, meanCosineDistance: course.meanCosineDistance, spread: course.spread, protocol: PROTOCOL.courseScore },
      detail: input.bands ? { ...detailScore(input.bands, ref.realBands), protocol: PROTOCOL.detail(ref.realBands.length / DETAIL_BANDS) } : { notApplicable: PROTOCOL.detailNotApplicable },
    },
    perImage: {
      pTrue: Float32Array.from(ref.labels, (label, i) => input.probs[i * ref.classes + label]),
      classRank,
      cosineDistance: course.perImage,
      captionRank: rp.ranks,
    },
    fidLeaveOneOut: leaveOneOut,
  };
}

/** Stage II against one baseline, image by image. */
export interface PairedScores {
  /** Stage II's FID less the baseline's, and the jackknife standard error of the difference. */
  fid: { difference: number; standardError: number };
  rPrecision: PairedDifference;
  classTop1: PairedDifference;
}

/** One generated set as scoreStage measured it: what pairing reads. */
export interface MeasuredSet {
  set: GeneratedSet;
  scores: StageScores;
  perImage: PerImage;
  fidLeaveOneOut: number[];
}

/** Stage II against Stage I and against Stage I upscaled on the same images (pairedDifference, and FID's jackknife), when both were measured. */
export function pairedComparisons(measured: MeasuredSet[]): { protocol: string; stage2VsStage1: PairedScores; stage2VsStage1Upscaled: PairedScores } | undefined {
  const of = (set: GeneratedSet) => measured.find((m) => m.set === set);
  const [stage1, upscaled, stage2] = [of('stage1'), of('stage1Upscaled'), of('stage2')];
  if (!stage1 || !upscaled || !stage2) return undefined;
  const first = (ranks: Int32Array) => Array.from(ranks, (r) => r === 0);
  const against = (base: MeasuredSet): PairedScores => ({
    fid: {
      difference: stage2.scores.fid.value - base.scores.fid.value,
      // The same part left out of both sets at once: the jackknife of the difference itself.
      standardError: jackknifeStandardError(stage2.fidLeaveOneOut.map((v, g) => v - base.fidLeaveOneOut[g])),
    },
    rPrecision: pairedDifference(first(stage2.perImage.captionRank), first(base.perImage.captionRank)),
    classTop1: pairedDifference(first(stage2.perImage.classRank), first(base.perImage.classRank)),
  });
  return { protocol: PROTOCOL.paired, stage2VsStage1: against(stage1), stage2VsStage1Upscaled: against(upscaled) };
}

/** scores.json: every number beside the text that says how it was measured. */
export interface ScoresJson {
  note: string;
  config: Record<string, unknown>;
  backend: string;
  classifier: ClassifierInfo & { protocol: string };
  generated: { protocol: string; testImages: number; captionsPerImage: number; samplesPerCaption: number; images: number };
  stages: Record<GeneratedSet, StageScores | { skipped: string }>;
  /** Stage II against its baselines image by image, where Stage II was measured. */
  paired?: ReturnType<typeof pairedComparisons>;
  real: { inceptionScoreTest: MeanStd & { protocol: string }; fidTrainVsTest: { value: number; protocol: string }; detail: { images: number; meanEnergy: number[]; protocol: string } };
  published: typeof PUBLISHED;
}

export interface ScoreRow {
  imageId: string;
  captionIndex: number;
  sample: number;
  classId: number;
}

/** scores.arrow: one row per generated image and set scored. */
export async function writeScoresArrow(file: string, rows: ScoreRow[], perSet: { set: GeneratedSet; perImage: PerImage }[]): Promise<void> {
  const schema = new A.Schema(
    [
      new A.Field('image_id', new A.Utf8(), false),
      new A.Field('caption_index', new A.Int32(), false),
      new A.Field('sample', new A.Int32(), false),
      new A.Field('class_id', new A.Int16(), false),
      new A.Field('stage', new A.Int16(), false),
      // stage alone cannot tell Stage I from Stage I upscaled.
      new A.Field('image_set', new A.Utf8(), false),
      new A.Field('p_true_class', new A.Float32(), false),
      new A.Field('true_class_rank', new A.Int32(), false),
      new A.Field('cosine_distance', new A.Float32(), false),
      new A.Field('caption_rank', new A.Int32(), false),
    ],
    new Map([['t2i.stage', 'evaluate']]),
  );
  const float32 = (values: Float32Array) => A.makeData({ type: new A.Float32(), length: values.length, nullCount: 0, data: values });
  const sink = await ArrowFileSink.open(file);
  try {
    for (const { set, perImage } of perSet) {
      sink.write(
        makeBatch(schema, [
          utf8Column(rows.map((r) => r.imageId)),
          int32Column(Int32Array.from(rows, (r) => r.captionIndex)),
          int32Column(Int32Array.from(rows, (r) => r.sample)),
          int16Column(Int16Array.from(rows, (r) => r.classId)),
          int16Column(new Int16Array(rows.length).fill(SET_SHAPE[set].stage)),
          utf8Column(rows.map(() => set)),
          float32(perImage.pTrue),
          int32Column(perImage.classRank),
          float32(perImage.cosineDistance),
          int32Column(perImage.captionRank),
        ]),
      );
    }
  } catch (err) {
    await sink.abort();
    throw err;
  }
  await sink.commit();
}
