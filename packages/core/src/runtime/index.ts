export * from './backend.ts';
export * from './checkpoint.ts';
export * from './params.ts';
export * from './training.ts';
export * from './layers.ts';
export * from './gan.ts';
export * from './adam.ts';
export { registerWasmTrainingKernels } from './wasm-kernels.ts';
