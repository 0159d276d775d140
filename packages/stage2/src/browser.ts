/**
 * What of stage2 runs in a browser: the generator, read from an exported Stage II with a
 * ReadTensors (fetchTensors there), as the page of t2i serve draws with it. Bundlers pick this
 * file through the "browser" condition of package.json; Node and TypeScript read index.ts.
 */
export { Generator, IMAGE_SIZE } from './model.ts';
export { otherStage1, readStage2Generator, type LoadedStage1, type LoadedStage2 } from './exported.ts';
