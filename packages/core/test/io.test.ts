import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import {
  arrow as A,
  ArrowFileSink,
  commitTogether,
  dictionaryColumn,
  explainWriteError,
  fixedListColumn,
  int16Column,
  makeBatch,
  mapOrdered,
  readBatches,
  readJson,
  readTable,
  readMat5,
  sampleDatasetDir,
  stagedFile,
  utf8Column,
  writeFileAtomic,
} from '../src/index.ts';

const dirs: string[] = [];
const dir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach(removeDir));

const schema = new A.Schema([
  new A.Field('id', new A.Utf8()),
  new A.Field('class_id', new A.Int16()),
  new A.Field('split', new A.Dictionary(new A.Utf8(), new A.Int8())),
  new A.Field('v', new A.FixedSizeList(3, new A.Field('item', new A.Uint8()))),
]);
const batch = (start: number, n: number) =>
  makeBatch(schema, [
    utf8Column(Array.from({ length: n }, (_, i) => `row${start + i}`)),
    int16Column(Int16Array.from({ length: n }, (_, i) => start + i)),
    dictionaryColumn(Array.from({ length: n }, (_, i) => ((start + i) % 2 ? 'test' : 'train')), ['train', 'test']),
    fixedListColumn(Uint8Array.from({ length: n * 3 }, (_, i) => (start * 3 + i) % 256), 3),
  ]);

describe('Arrow I/O', () => {
  it('writes batches to a temp name, renames on commit, and streams them back', async () => {
    const out = path.join(dir(), 'x.arrow');
    const sink = await ArrowFileSink.open(out);
    sink.write(batch(0, 5));
    sink.write(batch(5, 4));
    expect(existsSync(out)).toBe(false);
    await sink.commit();
    expect(readdirSync(path.dirname(out))).toEqual(['x.arrow']);
    const batches = [];
    for await (const b of readBatches(out)) batches.push(b);
    expect(batches.map((b) => b.numRows)).toEqual([5, 4]);
    const last = batches[1];
    expect(last.getChild('id')!.get(3)).toBe('row8');
    expect(last.getChild('split')!.get(3)).toBe('train');
    expect(Array.from(last.getChild('v')!.get(0) as A.Vector)).toEqual([15, 16, 17]);
  });

  it('leaves nothing behind when aborted', async () => {
    const d = dir();
    const sink = await ArrowFileSink.open(path.join(d, 'x.arrow'));
    sink.write(batch(0, 2));
    await sink.abort();
    expect(readdirSync(d)).toEqual([]);
  });

  it('refuses columns of different lengths', () => {
    expect(() => makeBatch(schema, [utf8Column(['a']), int16Column(new Int16Array(2)), dictionaryColumn(['train'], ['train', 'test']), fixedListColumn(new Uint8Array(3), 3)])).toThrow(/class_id has 2 rows/);
  });
});

describe('damaged upstream artifacts', () => {
  it('are named with what to do, not a parser stack', async () => {
    const d = dir();
    const arrowFile = path.join(d, 'captions.arrow');
    writeFileSync(arrowFile, 'ARROW1 and then nothing');
    await expect(readTable(arrowFile)).rejects.toThrow(new RegExp(`^${arrowFile} is not a readable Arrow file \\(.*\\): it is damaged; delete it and run the step that writes it again$`));
    const jsonFile = path.join(d, 'vocab.json');
    writeFileSync(jsonFile, '{"tokens": [');
    expect(() => readJson(jsonFile)).toThrow(/vocab\.json cannot be read as JSON \(.*\): it is damaged; delete it and run the step that writes it again/);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole and leaves no temp file', async () => {
    const d = dir();
    const file = path.join(d, 'a.json');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(readdirSync(d)).toEqual(['a.json']);
  });

  it('keeps the old file when the write fails', async () => {
    const d = dir();
    const file = path.join(d, 'a.json');
    writeFileSync(file, 'old');
    await expect(writeFileAtomic(file, { bad: true } as unknown as string)).rejects.toThrow();
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(d)).toEqual(['a.json']);
  });

  it('changes files that must agree together or not at all', async () => {
    const d = dir();
    const [arrowFile, vocab] = [path.join(d, 'captions.arrow'), path.join(d, 'vocab.json')];
    writeFileSync(vocab, 'old');
    const sink = await ArrowFileSink.open(arrowFile);
    sink.write(makeBatch(new A.Schema([new A.Field('x', new A.Utf8(), false)]), [utf8Column(['a'])]));
    // The second write fails before anything is renamed (its folder is a file): neither changes.
    writeFileSync(path.join(d, 'blocker'), '');
    await expect(commitTogether([sink, stagedFile(vocab, 'new'), stagedFile(path.join(d, 'blocker', 'x.json'), '{}')])).rejects.toThrow();
    expect(readdirSync(d).sort()).toEqual(['blocker', 'vocab.json']);
    expect(readFileSync(vocab, 'utf8')).toBe('old');
    await commitTogether([stagedFile(vocab, 'new'), stagedFile(path.join(d, 'other.json'), '{}')]);
    expect(readdirSync(d).sort()).toEqual(['blocker', 'other.json', 'vocab.json']);
    expect(readFileSync(vocab, 'utf8')).toBe('new');
  });

  it("clears what killed runs left half-written, and not a running process's", async () => {
    const d = dir();
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const stale = [`.images-76.arrow.${dead}.0123abcd.tmp`, `.step-00000005.${dead}.89abcdef.tmp`];
    const live = `.images-304.arrow.${process.pid}.0123abcd.tmp`;
    for (const name of [...stale, live]) writeFileSync(path.join(d, name), 'partial');
    await writeFileAtomic(path.join(d, 'a.json'), 'new');
    expect(readdirSync(d).sort()).toEqual([live, 'a.json'].sort());
  });

  it('names the file and the fix when the disk is full or read-only', () => {
    const full = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(String(explainWriteError(full, '/data/captions/captions.arrow'))).toBe(
      'ArtifactError: /data/captions/captions.arrow: cannot be written (no space left on the device); the previous version, if there was one, is as it was. Free some space or fix the permissions of /data/captions, then run again.',
    );
    const other = new Error('EISDIR');
    expect(explainWriteError(other, '/x')).toBe(other);
  });
});

describe('mapOrdered', () => {
  it('keeps input order with bounded concurrency', async () => {
    let inFlight = 0, most = 0;
    const out: number[] = [];
    for await (const v of mapOrdered([5, 1, 4, 2, 3], 2, async (x) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, x * 3));
      inFlight--;
      return x * 10;
    })) out.push(v);
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });

  it('rethrows a failure in its turn, without an unhandled rejection', async () => {
    const run = async () => {
      for await (const _ of mapOrdered([1, 2, 3], 3, async (x) => {
        if (x === 3) throw new Error('three');
        await new Promise((r) => setTimeout(r, 20));
        return x;
      }));
    };
    await expect(run()).rejects.toThrow('three');
  });
});

describe('readMat5', () => {
  it('reads the official imagelabels.mat', () => {
    const labels = readMat5(readFileSync(path.join(sampleDatasetDir, 'imagelabels.mat'))).get('labels')!;
    expect(labels.length).toBe(8189);
    expect(labels[0]).toBe(77);
    expect(labels[6733]).toBe(1);
    expect(Math.min(...labels)).toBe(1);
    expect(Math.max(...labels)).toBe(102);
  });

  it('reads every matrix of setid.mat (compressed elements are unpadded)', () => {
    const ids = readMat5(readFileSync(path.join(sampleDatasetDir, 'setid.mat')));
    expect([...ids.keys()]).toEqual(['trnid', 'valid', 'tstid']);
    expect(ids.get('tstid')!.length).toBe(6149);
  });

  it('rejects other files', () => {
    expect(() => readMat5(Buffer.from('not a mat file'))).toThrow(/MATLAB 5/);
  });
});
