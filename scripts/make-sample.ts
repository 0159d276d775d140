/**
 * Rebuilds data/sample, the embedded default dataset, from a full copy of the dataset in the
 * official layout: the first IMAGES_PER_CLASS images (by id) of each class below, their caption
 * files, and the split and label files unchanged.
 *   pnpm tsx scripts/make-sample.ts ../shared/oxford102
 */
import { classDirName, newCommand, openDataset, runCommand, sampleDatasetDir, UsageError } from '@t2i/core';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

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
const WHOLE_FILES = ['trainvalclasses.txt', 'testclasses.txt', 'allclasses.txt', 'class_names.json', 'imagelabels.mat', 'setid.mat'];

/**
 * Writes the new sample beside the committed one and swaps it in only when complete: a wrong
 * source then fails before the committed sample is touched. README.md, which says where the files
 * came from, is kept.
 */
async function makeSample(sourceArg: string): Promise<void> {
  const source = path.resolve(process.env.INIT_CWD ?? process.cwd(), sourceArg);
  if (source === sampleDatasetDir) throw new UsageError(`${source} is the sample itself; pass the full dataset's folder`);
  if (!existsSync(source)) throw new UsageError(`${source}: no such folder; pass the full dataset's folder`);
  await openDataset(source);
  for (const file of WHOLE_FILES) if (!existsSync(path.join(source, file))) throw new UsageError(`${path.join(source, file)}: missing; the sample keeps the full copy's ${WHOLE_FILES.join(', ')}`);

  const next = `${sampleDatasetDir}.new-${process.pid}`;
  const old = `${sampleDatasetDir}.old-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  try {
    mkdirSync(path.join(next, 'jpg'), { recursive: true });
    for (const file of WHOLE_FILES) copyFileSync(path.join(source, file), path.join(next, file));
    for (const classId of Object.keys(SAMPLE_CLASSES)) {
      const dir = classDirName(Number(classId));
      const captions = readdirSync(path.join(source, 'text_c10', dir)).filter((f) => f.endsWith('.txt')).sort().slice(0, IMAGES_PER_CLASS);
      if (captions.length < IMAGES_PER_CLASS) throw new UsageError(`${path.join(source, 'text_c10', dir)}: ${captions.length} caption files, fewer than the sample's ${IMAGES_PER_CLASS}`);
      mkdirSync(path.join(next, 'text_c10', dir), { recursive: true });
      for (const name of captions) {
        copyFileSync(path.join(source, 'text_c10', dir, name), path.join(next, 'text_c10', dir, name));
        const jpg = name.replace(/\.txt$/, '.jpg');
        copyFileSync(path.join(source, 'jpg', jpg), path.join(next, 'jpg', jpg));
      }
    }
    const readme = path.join(sampleDatasetDir, 'README.md');
    if (existsSync(readme)) copyFileSync(readme, path.join(next, 'README.md'));
    if (existsSync(sampleDatasetDir)) renameSync(sampleDatasetDir, old);
    renameSync(next, sampleDatasetDir);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(next, { recursive: true, force: true });
  }
  console.log(`data/sample: ${Object.keys(SAMPLE_CLASSES).length} classes x ${IMAGES_PER_CLASS} images from ${source}`);
}

await runCommand(
  newCommand('make-sample', `Rebuild data/sample, the embedded dataset: ${IMAGES_PER_CLASS} images of each of ${Object.keys(SAMPLE_CLASSES).length} classes, with their captions, from a full copy of the dataset`)
    .argument('<source>', 'the full dataset folder in the official layout (jpg/, text_c10/, the split and label files), relative to the current directory')
    .action(makeSample),
);
