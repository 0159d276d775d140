/**
 * What of captions runs in a browser: the tokenizer and the vocabulary, which the sentence encoder
 * reads a new sentence with. Bundlers pick this file through the "browser" condition of
 * package.json; Node and TypeScript read index.ts.
 */
export { tokenize } from './tokenize.ts';
export { Vocabulary, PAD, UNK, BOS, EOS, type VocabJson } from './vocab.ts';
