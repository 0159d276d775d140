import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classDirName, sampleDatasetDir } from '@t2i/core';

/**
 * A small dataset in the official layout, copied from the embedded sample: `perClass` images
 * of each listed class, with their caption files and the real split and label files.
 */
export function makeDataset(options: { classes: number[]; perClass: number; dir?: string }): string {
  const root = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 't2i-data-'));
  mkdirSync(path.join(root, 'jpg'), { recursive: true });
  for (const file of ['trainvalclasses.txt', 'testclasses.txt', 'imagelabels.mat', 'setid.mat']) cpSync(path.join(sampleDatasetDir, file), path.join(root, file));
  for (const classId of options.classes) {
    const dir = classDirName(classId);
    mkdirSync(path.join(root, 'text_c10', dir), { recursive: true });
    const names = readdirSync(path.join(sampleDatasetDir, 'text_c10', dir)).sort().slice(0, options.perClass);
    for (const name of names) {
      cpSync(path.join(sampleDatasetDir, 'text_c10', dir, name), path.join(root, 'text_c10', dir, name));
      const jpg = name.replace('.txt', '.jpg');
      cpSync(path.join(sampleDatasetDir, 'jpg', jpg), path.join(root, 'jpg', jpg));
    }
  }
  return root;
}

export function tempDir(prefix = 't2i-out-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
