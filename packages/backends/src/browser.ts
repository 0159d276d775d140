/**
 * @t2i/backends in a browser: tfjs with its own backends (webgl, else cpu), and what the model
 * code and kernels agree on (ops.ts). The Node backends, their loader and t2i's training kernels
 * stay out: the page (t2i serve) only draws. Bundlers pick this file through the "browser"
 * condition of package.json; Node and TypeScript read index.ts.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export * from './ops.ts';
