/**
 * For kernels built from other kernels (the wasm replacements, the split-K filter gradient): they
 * run inside the engine's kernel scope, so they work on TensorInfos rather than Tensors, and every
 * intermediate they allocate must be released with `free`.
 */
import { getKernel, registerKernel, unregisterKernel, type backend_util, type KernelBackend, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';

/** Runs whatever kernel `backendName` has registered now (ours where we replaced one), returning one output. */
export function callKernel(backendName: string, backend: KernelBackend, kernelName: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: object = {}): TensorInfo {
  const config = getKernel(kernelName, backendName);
  if (config == null) throw new Error(`kernel '${kernelName}' not registered for backend '${backendName}'`);
  return config.kernelFunc({ inputs: inputs as Record<string, TensorInfo>, backend, attrs: attrs as NamedAttrMap }) as TensorInfo;
}

/**
 * Puts `ours` in place of `backendName`'s kernel. It is handed the kernel it replaces, to run for
 * the cases it does not cover.
 */
export function replaceKernel(kernelName: string, backendName: string, ours: (args: Parameters<KernelFunc>[0], stock: KernelFunc) => ReturnType<KernelFunc>): void {
  const stock = getKernel(kernelName, backendName);
  if (stock == null) throw new Error(`backend '${backendName}' has no ${kernelName} to replace`);
  unregisterKernel(kernelName, backendName);
  registerKernel({ kernelName, backendName, kernelFunc: (args) => ours(args, stock.kernelFunc) });
}

export function free(backend: KernelBackend, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/**
 * The bottom and right padding up to which a strided conv's last taps reach:
 * (out - 1) * stride + filter - in - top. Filter gradients pad the input to it; where it comes out
 * negative, the last input rows/columns are reached by no tap.
 */
export function tapReach(info: backend_util.Conv2DInfo): [number, number] {
  return [
    info.filterHeight + (info.outHeight - 1) * info.strideHeight - info.inHeight - info.padInfo.top,
    info.filterWidth + (info.outWidth - 1) * info.strideWidth - info.inWidth - info.padInfo.left,
  ];
}
