export * from './backend.ts';
export * from './wasm/out-of-memory.ts';
export { registerWasmTrainingKernels } from './wasm/kernels.ts';
export * from './ops.ts';
export { registerNativeConvolutions } from './onnx/kernels.ts';
export { onnxRuntime } from './onnx/runtime.ts';
