import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDataset, removeDir } from '../../../test/helpers/dataset.ts';
import { DatasetLayoutError, listCaptionFiles, listImages, openDataset } from '../src/index.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach(removeDir));
const fixture = () => {
  const root = makeDataset({ classes: [1, 26], perClass: 3 });
  dirs.push(root);
  return root;
};

describe('dataset layout', () => {
  it('lists images with class from imagelabels.mat and split from the class files', async () => {
    const ds = await openDataset(fixture());
    const { images, problems } = await listImages(ds);
    expect(problems).toEqual([]);
    expect(images.map((i) => [i.id, i.classId, i.split])).toEqual([
      ['image_06487', 26, 'train'],
      ['image_06488', 26, 'train'],
      ['image_06489', 26, 'train'],
      ['image_06734', 1, 'test'],
      ['image_06735', 1, 'test'],
      ['image_06736', 1, 'test'],
    ]);
    const captions = await listCaptionFiles(ds);
    expect(captions.problems).toEqual([]);
    expect(captions.files.map((f) => f.id)).toEqual(images.map((i) => i.id));
  });

  it('names every unpaired, misplaced or unsplit file', async () => {
    const root = fixture();
    rmSync(path.join(root, 'text_c10/class_00001/image_06734.txt'));
    rmSync(path.join(root, 'jpg/image_06735.jpg'));
    renameSync(path.join(root, 'text_c10/class_00026/image_06487.txt'), path.join(root, 'text_c10/class_00001/image_06487.txt'));
    writeFileSync(path.join(root, 'testclasses.txt'), 'class_00001\n');
    writeFileSync(path.join(root, 'trainvalclasses.txt'), 'class_00002\n');
    const ds = await openDataset(root);
    const captions = await listCaptionFiles(ds);
    const byFile = Object.fromEntries(captions.problems.map((p) => [p.file, p.problem]));
    expect(byFile['jpg/image_06734.jpg']).toMatch(/has no caption file text_c10\/class_00001\/image_06734.txt/);
    expect(byFile['text_c10/class_00001/image_06735.txt']).toMatch(/has no image jpg\/image_06735.jpg/);
    expect(byFile['text_c10/class_00001/image_06487.txt']).toMatch(/imagelabels.mat gives class 26/);
    expect(byFile['text_c10/class_00026']).toMatch(/neither trainvalclasses.txt nor testclasses.txt/);
    const images = await listImages(ds);
    expect(images.problems.map((p) => p.file)).toEqual(['jpg/image_06487.jpg', 'jpg/image_06488.jpg', 'jpg/image_06489.jpg']);
  });

  it('explains a folder that is not a dataset', async () => {
    const root = fixture();
    await expect(openDataset(path.join(root, 'nope'))).rejects.toThrow(/no such dataset folder.*T2I_DATA/);
    rmSync(path.join(root, 'imagelabels.mat'));
    await expect(openDataset(root)).rejects.toThrow(DatasetLayoutError);
    await expect(openDataset(root)).rejects.toThrow(/imagelabels.mat: missing/);
  });

  it('refuses a jpg/ folder without images (unpacked one level too deep) rather than listing none', async () => {
    const root = fixture();
    renameSync(path.join(root, 'jpg'), path.join(root, 'nested'));
    mkdirSync(path.join(root, 'jpg'));
    renameSync(path.join(root, 'nested'), path.join(root, 'jpg', 'jpg'));
    const ds = await openDataset(root);
    for (const list of [listImages, listCaptionFiles]) await expect(list(ds)).rejects.toThrow(`${path.join(root, 'jpg')}: no image_NNNNN.jpg in it`);
  });
});
