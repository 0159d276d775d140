export { centerCropResize, SOURCE_SIZE, upscaleImages } from './resize.ts';
export { imagesFile, imagesSchema, preprocessImages, type PreprocessOptions, type PreprocessResult } from './preprocess.ts';
export { loadImageSet, rowPixels, type ImageSet } from './read.ts';
