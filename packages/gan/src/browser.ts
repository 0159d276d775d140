/**
 * What of @t2i/gan runs in a browser (no Node built-ins, no sharp): the layers and parameters the
 * generators are built from, reading exported generators with a ReadTensors (fetchTensors there),
 * the noise of a seed and the drawing of images. The page of t2i serve draws with these, as the
 * command line does. Bundlers pick this file through the "browser" condition of package.json;
 * Node and TypeScript read index.ts.
 */
export * from './conditioning.ts';
export * from './discriminator.ts';
export * from './exported.ts';
export * from './inference.ts';
export * from './layers.ts';
export * from './noise.ts';
export * from './params.ts';
export * from './pixels.ts';
export * from './switches.ts';
export * from './tensors.ts';
