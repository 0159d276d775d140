export { centerCropResize } from './resize.ts';
export { imagesFile, imagesSchema, preprocessImages, type PreprocessOptions, type PreprocessResult } from './preprocess.ts';
export { loadImageSet, type ImageSet } from './read.ts';
