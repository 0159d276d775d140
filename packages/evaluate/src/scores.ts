import { arrow as A, ArrowFileSink, int16Column, int32Column, makeBatch, utf8Column } from '@t2i/core';
import path from 'node:path';
import type { ClassifierInfo } from './classifier.ts';
import { courseScore, fid, inceptionScore, rPrecision, topK, trueClassRanks, type MeanStd } from './metrics.ts';

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

export const PROTOCOL = {
  classifier: (width: number, featureDim: number, info: ClassifierInfo, classes: number[]) =>
    `A ${width}-wide 5-layer CNN with batch norm (features: the ${featureDim}-d global average of its last convolution), trained from scratch for ${info.epochs} epochs (Adam, random 64 crops of the 76 px images, flips) on the official Oxford-102 classification split: the ${info.trainImages} images of setid.mat's trnid + valid, over all ${classes.length} classes present (train and test classes of the text-to-image split alike: ${classes.join(', ')}). Top-1/top-5 are on the ${info.testImages} tstid images, centre crops. classifier/tensors.json lists both sets' image ids.`,
  generated: (testImages: number, captionsPerImage: number, samplesPerCaption: number, seed: number, images: number) =>
    `For each of the ${testImages} test-class images, its first ${captionsPerImage} caption(s), each drawn ${samplesPerCaption} time(s) (noise seed ${seed}): ${images} images per stage. The caption's stored vector conditions Stage I (64x64); Stage II (256x256) refines that same Stage I image with the same caption.`,
  realInceptionScore: (testImages: number) =>
    `The Inception Score of the ${testImages} real test-class images (centre crops), as above: the score of real flowers of these classes for this classifier.`,
  inceptionScore: (splits: number) =>
    `Inception Score: StackGAN's inception_score.py with our classifier's p(y|x) over all its classes: the generated images in ${splits} consecutive splits, exp(mean KL(p(y|x) || p(y))) per split, p(y) the split's mean; mean and std over the splits. Higher is better; the real test-class images' score is given for scale.`,
  fid: 'FID: Fréchet distance between Gaussians fitted (mean, n-1 covariance) to the classifier\'s pooled features of the generated images and of every real test-class image (64x64 centre crops); 256x256 images are box-filtered to 64 first. Lower is better; real train-class against real test-class images is the floor to read it against.',
  fidFloor: 'FID between the real train-class and the real test-class images in the same feature space: two sets of real flowers of disjoint classes. A generator of test-class flowers should land near or below it.',
  rPrecision: (candidates: number, splits: number, note: string) =>
    `R-precision (R = 1): each generated image ranks its own caption among ${candidates - 1} mismatched ones (captions of test images of other classes, drawn at random) by cosine in the joint text-image space of embeddings (its image encoder on the image, 256 box-filtered to 64; the caption's stored vector); the share ranked first, mean and std over ${splits} splits.${note ? ` ${note}` : ''}`,
  classConsistency: "Class consistency: the classifier's top-1 and top-5 on the generated images, against the class of the caption's image.",
  courseScore:
    "The course's score: mean cosine distance (1 - cosine) between the classifier features of each generated image and of its caption's ground-truth image, plus 1 / spread, spread = root mean per-dimension variance of the generated images' features (a collapsed generator has a small spread). Lower is better. Our classifier's features, not the course's network.",
};

export interface StageScores {
  stage: 1 | 2;
  size: number;
  /** The generator's training epoch. */
  epoch: number;
  /** The generator measured: its architecture, config and epoch, in a line. */
  model: string;
  images: number;
  inceptionScore: MeanStd & { splits: number; protocol: string };
  fid: { value: number; protocol: string };
  rPrecision: MeanStd & { candidates: number; splits: number; protocol: string };
  classConsistency: { top1: number; top5: number; protocol: string };
  courseScore: { score: number; meanCosineDistance: number; spread: number; protocol: string };
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
  stage: 1 | 2;
  size: number;
  epoch: number;
  model: string;
  probs: Float32Array;
  features: Float32Array;
  joint: Float32Array;
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
}

export function scoreStage(input: StageInput, ref: Reference): { scores: StageScores; perImage: PerImage } {
  const n = ref.labels.length;
  const is = inceptionScore(input.probs, ref.classes, ref.splits);
  const rp = rPrecision({ images: input.joint, captions: ref.captions, dim: ref.captionDim, candidates: ref.candidates }, ref.splits);
  const classRank = trueClassRanks(input.probs, ref.classes, ref.labels);
  const course = courseScore(input.features, ref.truthFeatures, ref.featureDim);
  return {
    scores: {
      stage: input.stage,
      size: input.size,
      epoch: input.epoch,
      model: input.model,
      images: n,
      inceptionScore: { ...is, splits: ref.splits, protocol: PROTOCOL.inceptionScore(ref.splits) },
      fid: { value: fid(input.features, ref.realTest, ref.featureDim), protocol: PROTOCOL.fid },
      rPrecision: { mean: rp.mean, std: rp.std, candidates: ref.candidates[0].length, splits: ref.splits, protocol: PROTOCOL.rPrecision(ref.candidates[0].length, ref.splits, ref.candidatesNote) },
      classConsistency: { top1: topK(classRank, 1), top5: topK(classRank, 5), protocol: PROTOCOL.classConsistency },
      courseScore: { score: course.score, meanCosineDistance: course.meanCosineDistance, spread: course.spread, protocol: PROTOCOL.courseScore },
    },
    perImage: {
      pTrue: Float32Array.from(ref.labels, (label, i) => input.probs[i * ref.classes + label]),
      classRank,
      cosineDistance: course.perImage,
      captionRank: rp.ranks,
    },
  };
}

/** scores.json: every number beside the text that says how it was measured. */
export interface ScoresJson {
  note: string;
  config: Record<string, unknown>;
  backend: string;
  classifier: ClassifierInfo & { protocol: string };
  generated: { protocol: string; testImages: number; captionsPerImage: number; samplesPerCaption: number; images: number };
  stages: Record<'stage1' | 'stage2', StageScores | { skipped: string }>;
  real: { inceptionScoreTest: MeanStd & { protocol: string }; fidTrainVsTest: { value: number; protocol: string } };
  published: typeof PUBLISHED;
}

export interface ScoreRow {
  imageId: string;
  captionIndex: number;
  sample: number;
  classId: number;
}

/** scores.arrow: one row per generated image and stage. */
export async function writeScoresArrow(file: string, rows: ScoreRow[], perStage: { stage: 1 | 2; perImage: PerImage }[]): Promise<void> {
  const schema = new A.Schema(
    [
      new A.Field('image_id', new A.Utf8(), false),
      new A.Field('caption_index', new A.Int32(), false),
      new A.Field('sample', new A.Int32(), false),
      new A.Field('class_id', new A.Int16(), false),
      new A.Field('stage', new A.Int16(), false),
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
    for (const { stage, perImage } of perStage) {
      sink.write(
        makeBatch(schema, [
          utf8Column(rows.map((r) => r.imageId)),
          int32Column(Int32Array.from(rows, (r) => r.captionIndex)),
          int32Column(Int32Array.from(rows, (r) => r.sample)),
          int16Column(Int16Array.from(rows, (r) => r.classId)),
          int16Column(new Int16Array(rows.length).fill(stage)),
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
