export { buildCaptions, captionsFile, parseCaptionFile, referenceFile, vocabFile, CAPTIONS_PER_IMAGE, type CaptionsResult } from './captions.ts';
export { REFERENCE_CAPTIONS } from './reference.ts';
export { tokenize } from './tokenize.ts';
export { Vocabulary, PAD, UNK, BOS, EOS, type VocabJson } from './vocab.ts';
