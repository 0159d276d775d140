/**
 * What the model code (@t2i/gan) and the backends' own kernels agree on: the names of the kernels a
 * backend may add for Adam and batch norm, StackGAN's constants those kernels bake in, and where a
 * backend puts its own training-mode batch norm.
 */
import type { Tensor } from '@tensorflow/tfjs';

/** Flat Adam's moments [m; v] after a gradient, in one kernel (webgpu/adam.ts). */
export const ADAM_MOMENTS = 'T2iAdamMoments';
/** Flat Adam's new weights of one variable, read from its stretch of the moments (webgpu/adam.ts). */
export const ADAM_WEIGHTS = 'T2iAdamWeights';

/**
 * A backend's one-kernel moving-average update (webgpu's: webgpu/batch-norm.ts), where it has one:
 * moving and stats [2, C] in, moving·momentum + stats·(1 − momentum) out. Three kernels otherwise.
 */
export const MOVING_AVERAGE = 'T2iBatchNormMovingAverage';

export const BATCH_NORM_EPSILON = 1e-5;

/** StackGAN's leaky ReLU slope. */
export const LEAKY_SLOPE = 0.2;

/** The activations that follow batch norm in StackGAN's networks. */
export type Activation = 'relu' | 'leakyRelu';

export type BatchNormTraining = (
  x: Tensor,
  /** [2, channels]: γ, then β. */
  gammaBeta: Tensor,
  groups: number,
  /** Receives the batch statistics, kept, as [2, channels]: the mean, then the variance. */
  record?: (stats: Tensor) => void,
  activation?: Activation,
) => Tensor;

/** Backends' own training-mode batch norms (webgpu's: webgpu/batch-norm.ts), used in place of the one written with tf ops. */
const ownBatchNorms = new Map<string, BatchNormTraining>();

export function registerBatchNormTraining(backend: string, batchNorm: BatchNormTraining): void {
  ownBatchNorms.set(backend, batchNorm);
}

/** The backend's own training-mode batch norm, if it has one. */
export const ownBatchNorm = (backend: string): BatchNormTraining | undefined => ownBatchNorms.get(backend);
