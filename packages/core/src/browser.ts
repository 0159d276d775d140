/**
 * What of @t2i/core runs in a browser (no Node built-ins): the errors, the seeded RNG and row
 * helpers that the model code shared with the page (t2i serve) imports. Bundlers pick this file
 * through the "browser" condition of package.json; Node and TypeScript read index.ts.
 */
export * from './errors.ts';
export * from './rng.ts';
export * from './rows.ts';
