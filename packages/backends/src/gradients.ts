/**
 * tfjs registers no gradient for the comparison kernels, so any second derivative through an op
 * whose gradient masks by a comparison throws ("gradient function not found for Greater"): leaky
 * ReLU's gradient is where(x > 0, dy, α·dy), so a WGAN-GP critic's gradient penalty, which
 * differentiates the critic's input gradient, could not pass through one. A comparison is
 * piecewise constant: its gradient is zero wherever it has one, as tfjs's own GreaterEqual says.
 */
import { Equal, getGradient, Greater, GreaterEqual, Less, LessEqual, NotEqual, registerGradient, zeros, type Tensor } from '@tensorflow/tfjs';

export const COMPARISONS = [Greater, GreaterEqual, Less, LessEqual, Equal, NotEqual];

export function registerComparisonGradients(): void {
  for (const kernelName of COMPARISONS) {
    if (getGradient(kernelName) != null) continue;
    registerGradient({
      kernelName,
      inputsToSave: ['a', 'b'],
      // float32 whatever the inputs' dtype: the tape refuses any other gradient.
      gradFunc: (_dy: Tensor | Tensor[], [a, b]: Tensor[]) => ({ a: () => zeros(a.shape), b: () => zeros(b.shape) }),
    });
  }
}
