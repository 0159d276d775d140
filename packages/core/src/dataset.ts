import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { readMat5 } from './mat5.ts';
import { DatasetLayoutError, type Problem } from './errors.ts';

export type Split = 'train' | 'test';
export const SPLITS: Split[] = ['train', 'test'];

/**
 * The official Oxford-102 + text_c10 layout:
 *   jpg/image_XXXXX.jpg, imagelabels.mat            (102flowers.tgz and its label file, from VGG)
 *   text_c10/class_XXXXX/image_XXXXX.txt            (Reed et al.'s cvpr2016_flowers captions)
 *   trainvalclasses.txt, testclasses.txt            (the text-to-image class split, same archive)
 */
export interface Dataset {
  root: string;
  trainClasses: Set<number>;
  testClasses: Set<number>;
  /** "image_00001" -> class 1..102, from imagelabels.mat. */
  labels: Map<string, number>;
}

export interface ImageEntry {
  /** "image_00001" */
  id: string;
  classId: number;
  split: Split;
  file: string;
}

const IMAGE_RE = /^image_(\d{5})\.jpg$/;
const CAPTION_RE = /^image_(\d{5})\.txt$/;
const CLASS_RE = /^class_(\d{5})$/;
const SEE = 'see the README, "Dataset"';

export const classDirName = (classId: number) => `class_${String(classId).padStart(5, '0')}`;

async function readClassList(root: string, name: string): Promise<Set<number>> {
  const file = path.join(root, name);
  if (!existsSync(file)) throw new DatasetLayoutError(`${file}: missing split file (it comes with the cvpr2016_flowers captions; ${SEE}).`);
  const classes = new Set<number>();
  (await fs.readFile(file, 'utf8')).split(/\r?\n/).forEach((line, i) => {
    const name = line.trim();
    if (!name) return;
    const m = CLASS_RE.exec(name);
    if (!m) throw new DatasetLayoutError(`${file}:${i + 1}: "${name}" is not a class folder name like class_00001.`);
    classes.add(Number(m[1]));
  });
  return classes;
}

async function readLabels(root: string): Promise<Map<string, number>> {
  const file = path.join(root, 'imagelabels.mat');
  if (!existsSync(file)) throw new DatasetLayoutError(`${file}: missing. It is the official label file of Oxford-102 (imagelabels.mat on the VGG page; ${SEE}).`);
  let labels: Float64Array | undefined;
  try {
    labels = readMat5(await fs.readFile(file)).get('labels');
  } catch (err) {
    throw new DatasetLayoutError(`${file}: ${(err as Error).message}; replace it with the official imagelabels.mat (${SEE}).`);
  }
  if (!labels) throw new DatasetLayoutError(`${file}: holds no "labels" matrix; replace it with the official imagelabels.mat (${SEE}).`);
  return new Map(Array.from(labels, (label, i) => [`image_${String(i + 1).padStart(5, '0')}`, label]));
}

/** Fails, saying how to name another, unless the dataset folder exists. */
export function requireDatasetFolder(root: string): void {
  if (!existsSync(root)) throw new DatasetLayoutError(`${root}: no such dataset folder. Pass --data DIR or set T2I_DATA (${SEE}).`);
}

/** Checks the folder's shape and reads the split and label files; file contents are left to the steps. */
export async function openDataset(root: string): Promise<Dataset> {
  requireDatasetFolder(root);
  for (const dir of ['jpg', 'text_c10']) {
    if (!existsSync(path.join(root, dir))) throw new DatasetLayoutError(`${path.join(root, dir)}: missing; a dataset folder holds jpg/ and text_c10/ (${SEE}).`);
  }
  const [trainClasses, testClasses, labels] = await Promise.all([
    readClassList(root, 'trainvalclasses.txt'),
    readClassList(root, 'testclasses.txt'),
    readLabels(root),
  ]);
  return { root, trainClasses, testClasses, labels };
}

export function splitOf(dataset: Dataset, classId: number): Split | undefined {
  return dataset.testClasses.has(classId) ? 'test' : dataset.trainClasses.has(classId) ? 'train' : undefined;
}

/** A dataset-relative path, for messages and reports. */
export function datasetRelative(dataset: Dataset, file: string): string {
  return path.relative(dataset.root, file) || file;
}

async function listJpgs(dataset: Dataset): Promise<Map<string, string>> {
  const jpgs = new Map<string, string>();
  for (const name of (await fs.readdir(path.join(dataset.root, 'jpg'))).sort()) {
    const m = IMAGE_RE.exec(name);
    if (m) jpgs.set(`image_${m[1]}`, path.join(dataset.root, 'jpg', name));
  }
  // Without this, a misplaced folder (102flowers.tgz unpacked to jpg/jpg/) made empty artifacts in place of good ones.
  if (jpgs.size === 0) throw new DatasetLayoutError(`${path.join(dataset.root, 'jpg')}: no image_NNNNN.jpg in it; the Oxford-102 images go directly in jpg/ (102flowers.tgz unpacks to jpg/)`);
  return jpgs;
}

/** The images, with class and split from imagelabels.mat and the split files: what preprocess-images reads. */
export async function listImages(dataset: Dataset): Promise<{ images: ImageEntry[]; problems: Problem[] }> {
  const images: ImageEntry[] = [];
  const problems: Problem[] = [];
  for (const [id, file] of await listJpgs(dataset)) {
    const classId = dataset.labels.get(id);
    const rel = datasetRelative(dataset, file);
    if (classId === undefined) {
      problems.push({ file: rel, problem: 'has no label in imagelabels.mat', fix: 'use the official imagelabels.mat, or remove the image', imageId: id });
      continue;
    }
    const split = splitOf(dataset, classId);
    if (!split) {
      problems.push({ file: rel, problem: `its class ${classDirName(classId)} is in neither trainvalclasses.txt nor testclasses.txt`, fix: `add ${classDirName(classId)} to one split file`, imageId: id });
      continue;
    }
    images.push({ id, classId, split, file });
  }
  return { images, problems };
}

/**
 * The caption files, with class from their text_c10 folder: what captions reads. Problems: a
 * caption file without an image or the reverse, a folder in no split file, a folder that
 * disagrees with imagelabels.mat, an image with caption files in two folders.
 */
export async function listCaptionFiles(dataset: Dataset): Promise<{ files: ImageEntry[]; problems: Problem[] }> {
  const { root } = dataset;
  const jpgs = await listJpgs(dataset);
  const problems: Problem[] = [];
  const found = new Map<string, ImageEntry>();
  const dirs = (await fs.readdir(path.join(root, 'text_c10'), { withFileTypes: true })).filter((d) => d.isDirectory() && CLASS_RE.test(d.name)).map((d) => d.name).sort();
  for (const dir of dirs) {
    const classId = Number(CLASS_RE.exec(dir)![1]);
    const split = splitOf(dataset, classId);
    const names = (await fs.readdir(path.join(root, 'text_c10', dir))).filter((n) => CAPTION_RE.test(n)).sort();
    if (!split) {
      problems.push({ file: path.join('text_c10', dir), problem: `class ${classId} is in neither trainvalclasses.txt nor testclasses.txt (${names.length} caption files left out)`, fix: `add ${dir} to one split file, or remove the folder` });
      continue;
    }
    for (const name of names) {
      const id = `image_${CAPTION_RE.exec(name)![1]}`;
      const file = path.join(root, 'text_c10', dir, name);
      const rel = datasetRelative(dataset, file);
      const problem = (problem: string, fix: string) => problems.push({ file: rel, problem, fix, imageId: id });
      if (found.has(id)) problem(`${id} also has a caption file in ${classDirName(found.get(id)!.classId)}`, 'keep one caption file per image');
      else if (!jpgs.has(id)) problem(`has no image jpg/${id}.jpg`, 'add the image, or remove the caption file');
      else if (dataset.labels.get(id) !== classId) problem(`sits in ${dir} but imagelabels.mat gives class ${dataset.labels.get(id)}`, 'move it to the folder of its label');
      else found.set(id, { id, classId, split, file });
    }
  }
  const reported = new Set(problems.map((p) => p.imageId));
  for (const [id, file] of jpgs) {
    const classId = dataset.labels.get(id);
    if (found.has(id) || reported.has(id)) continue;
    if (classId !== undefined && splitOf(dataset, classId) === undefined) continue;
    problems.push({ file: datasetRelative(dataset, file), problem: `has no caption file text_c10/${classId ? classDirName(classId) : 'class_XXXXX'}/${id}.txt`, fix: 'add its caption file, or remove the image', imageId: id });
  }
  return { files: [...found.values()].sort((a, b) => (a.id < b.id ? -1 : 1)), problems };
}
