/**
 * What of embeddings runs in a browser: the trained sentence encoder, read with a ReadTensors
 * (fetchTensors there), and the sentence-space check. The page of t2i serve encodes with it as
 * the command line does. Bundlers pick this file through the "browser" condition of package.json;
 * Node and TypeScript read index.ts.
 */
export { requireOneSentenceSpace, SentenceEncoder, type SentenceSpace } from './sentence-encoder.ts';
