/**
 * tfjs's cpu ResizeNearestNeighborGrad reads dy at the images' batch stride instead of dy's, and
 * ignores halfPixelCenters (tfjs 4.22), so for a batch of more than one image every upsampling
 * layer got a wrong gradient on the cpu backend. This one scatters each dy pixel to the input
 * pixel the forward pass read it from, with the forward kernel's own index arithmetic.
 */
import { registerKernel, ResizeNearestNeighborGrad, unregisterKernel, type KernelFunc, type ResizeNearestNeighborGradAttrs, type TensorInfo } from '@tensorflow/tfjs';

type CpuBackend = {
  data: { get(dataId: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array): TensorInfo;
};

const resizeNearestNeighborGrad: KernelFunc = ({ inputs, backend, attrs }) => {
  const { images, dy } = inputs as { images: TensorInfo; dy: TensorInfo };
  const { alignCorners, halfPixelCenters } = attrs as unknown as ResizeNearestNeighborGradAttrs;
  const cpu = backend as unknown as CpuBackend;
  const [batch, xHeight, xWidth, depth] = images.shape;
  const [, yHeight, yWidth] = dy.shape;
  const dyValues = cpu.data.get(dy.dataId).values;
  const out = new Float32Array(batch * xHeight * xWidth * depth);
  const scale = (x: number, y: number) => (alignCorners && y > 1 ? (x - 1) / (y - 1) : x / y);
  const source = (i: number, s: number, size: number) => {
    const frac = halfPixelCenters ? (i + 0.5) * s : i * s;
    return Math.max(0, Math.min(size - 1, alignCorners ? Math.round(frac) : Math.floor(frac)));
  };
  const hs = scale(xHeight, yHeight);
  const ws = scale(xWidth, yWidth);
  for (let b = 0; b < batch; b++) {
    for (let r = 0; r < yHeight; r++) {
      const sr = source(r, hs, xHeight);
      for (let c = 0; c < yWidth; c++) {
        const to = ((b * xHeight + sr) * xWidth + source(c, ws, xWidth)) * depth;
        const from = ((b * yHeight + r) * yWidth + c) * depth;
        for (let d = 0; d < depth; d++) out[to + d] += dyValues[from + d];
      }
    }
  }
  return cpu.makeTensorInfo(images.shape, images.dtype, out);
};

export function registerCpuKernelFixes(): void {
  unregisterKernel(ResizeNearestNeighborGrad, 'cpu');
  registerKernel({ kernelName: ResizeNearestNeighborGrad, backendName: 'cpu', kernelFunc: resizeNearestNeighborGrad });
}
