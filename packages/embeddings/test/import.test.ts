import { readTable } from '@t2i/core';
import { tf } from '@t2i/backends';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { loadImportedVectors, readNpy } from '../src/import.ts';
import { embeddingsFile, runEmbeddings } from '../src/stage.ts';
import { syntheticData, tinyConfig } from './fixtures.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

function writeNpy(file: string, shape: number[], values: Float32Array): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(values.buffer, values.byteOffset, values.byteLength)]));
}

describe('--encoder import', () => {
  it('reads .npy vectors (images x 10 x D) in image order, normalised, and rejects a wrong shape', async () => {
    const data = syntheticData();
    const dir = tempDir();
    dirs.push(dir);
    const n = data.images.ids.length;
    const values = Float32Array.from({ length: n * 10 * 3 }, (_, i) => [3, 4, 0][i % 3] * (1 + Math.floor(i / 30)));
    writeNpy(path.join(dir, 'v.npy'), [n, 10, 3], values);
    expect(readNpy(path.join(dir, 'v.npy')).shape).toEqual([n, 10, 3]);
    const { vectors, dim } = await loadImportedVectors(path.join(dir, 'v.npy'), data);
    expect(dim).toBe(3);
    expect(Array.from(vectors.subarray(0, 3)).map((v) => +v.toFixed(4))).toEqual([0.6, 0.8, 0]);
    writeNpy(path.join(dir, 'bad.npy'), [n - 1, 10, 3], values.subarray(0, (n - 1) * 30));
    await expect(loadImportedVectors(path.join(dir, 'bad.npy'), data)).rejects.toThrow(/should be \(images, captions per image, D\)/);
    writeNpy(path.join(dir, 'short.npy'), [n, 10, 3], values.subarray(0, n * 30 - 1));
    expect(() => readNpy(path.join(dir, 'short.npy'))).toThrow(`short.npy: its header's shape (${n}, 10, 3) needs ${n * 120} bytes of data, the file holds ${n * 120 - 4}: it is truncated`);
  });

  it('writes the imported vectors as the embeddings, and reads its own Arrow output back', async () => {
    const data = syntheticData();
    const dir = tempDir();
    dirs.push(dir);
    const n = data.images.ids.length;
    writeNpy(path.join(dir, 'v.npy'), [n, 10, 4], Float32Array.from({ length: n * 40 }, (_, i) => Math.sin(i + 1)));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await runEmbeddings(tinyConfig({ encoder: 'import', importFile: path.join(dir, 'v.npy'), epochs: 1, imageEpochs: 1 }), { outDir: path.join(dir, 'out'), restart: true, backend: 'cpu' }, data);
    stderr.mockRestore();
    const table = await readTable(embeddingsFile(path.join(dir, 'out')));
    expect(table.numRows).toBe(n * 10);
    const first = Array.from((table.getChild('vector')!.get(0) as { toArray(): Float32Array }).toArray());
    const raw = [1, 2, 3, 4].map((i) => Math.sin(i));
    const norm = Math.hypot(...raw);
    first.forEach((v, i) => expect(v).toBeCloseTo(raw[i] / norm, 5));
    const again = await loadImportedVectors(embeddingsFile(path.join(dir, 'out')), syntheticData());
    Array.from(again.vectors.subarray(0, 4)).forEach((v, i) => expect(v).toBeCloseTo(first[i], 6));
  });
});
