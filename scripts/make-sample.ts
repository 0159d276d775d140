/**
 * Rebuilds data/sample, the embedded default dataset, from a full copy of the dataset in the
 * official layout: the first IMAGES_PER_CLASS images (by id) of each class below, their caption
 * files, and the split and label files unchanged.
 *   pnpm tsx scripts/make-sample.ts ../shared/oxford102
 */
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { sampleDatasetDir } from '@t2i/core';

/** Chosen so the colours of the 8 reference captions all occur; classes 1 and 5 are test classes. */
export const SAMPLE_CLASSES = {
  1: 'pink primrose',
  5: 'english marigold',
  26: 'corn poppy',
  28: 'stemless gentian',
  49: 'oxeye daisy',
  52: 'wild pansy',
  54: 'sunflower',
  65: 'californian poppy',
  74: 'rose',
  83: 'hibiscus',
};
const IMAGES_PER_CLASS = 20;

const source = path.resolve(process.argv[2] ?? '../shared/oxford102');
rmSync(sampleDatasetDir, { recursive: true, force: true });
mkdirSync(path.join(sampleDatasetDir, 'jpg'), { recursive: true });
for (const file of ['trainvalclasses.txt', 'testclasses.txt', 'allclasses.txt', 'class_names.json', 'imagelabels.mat', 'setid.mat']) {
  copyFileSync(path.join(source, file), path.join(sampleDatasetDir, file));
}
for (const classId of Object.keys(SAMPLE_CLASSES)) {
  const dir = `class_${classId.padStart(5, '0')}`;
  const captions = readdirSync(path.join(source, 'text_c10', dir)).filter((f) => f.endsWith('.txt')).sort().slice(0, IMAGES_PER_CLASS);
  mkdirSync(path.join(sampleDatasetDir, 'text_c10', dir), { recursive: true });
  for (const name of captions) {
    copyFileSync(path.join(source, 'text_c10', dir, name), path.join(sampleDatasetDir, 'text_c10', dir, name));
    const jpg = name.replace(/\.txt$/, '.jpg');
    copyFileSync(path.join(source, 'jpg', jpg), path.join(sampleDatasetDir, 'jpg', jpg));
  }
}
console.log(`data/sample: ${Object.keys(SAMPLE_CLASSES).length} classes x ${IMAGES_PER_CLASS} images from ${source}`);
