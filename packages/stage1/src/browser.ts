/**
 * What of stage1 runs in a browser: the generators, which the page of t2i serve builds from an
 * exported Stage I as the command line does. Bundlers pick this file through the "browser"
 * condition of package.json; Node and TypeScript read index.ts.
 */
export { buildGenerator, ComplexGenerator, Generator, IMAGE_SIZE, SimpleGenerator } from './model.ts';
