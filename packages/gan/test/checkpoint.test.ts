import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { Rng } from '@t2i/core';
import { tf } from '@t2i/backends';
import { Adam, checkpointToResume, decodeTensors, disposeCheckpoint, fetchTensors, listCheckpoints, loadCheckpoint, loadGenerator, loadTensors, ParamStore, saveCheckpoint, saveTensors } from '../src/index.ts';
import { fromHalf, toHalf } from '../src/half.ts';

const dirs: string[] = [];
const dir = () => (dirs.push(tempDir()), dirs[dirs.length - 1]);
afterAll(() => dirs.forEach(removeDir));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

function tinyModel(seed: number) {
  const store = new ParamStore(new Rng(seed));
  const w = store.add('dense/w', [3, 2], { kind: 'glorot' });
  const b = store.add('dense/b', [2], { kind: 'zeros' });
  const x = tf.tensor2d([[1, 2, 3], [0, -1, 1]]);
  const loss = () => x.matMul(w).add(b).square().mean() as tf.Scalar;
  return { store, loss, x };
}

describe('ParamStore', () => {
  it('initialises each row of a packed weight by its own rule, drawing as the rows would alone', async () => {
    const packed = new ParamStore(new Rng(3)).add('bn/gamma_beta', [2, 4], { kind: 'rows', rows: [{ kind: 'normal', mean: 1, std: 0.02 }, { kind: 'zeros' }] });
    const alone = new ParamStore(new Rng(3)).add('bn/gamma', [4], { kind: 'normal', mean: 1, std: 0.02 });
    expect(Array.from(await packed.data())).toEqual([...(await alone.data()), 0, 0, 0, 0]);
    expect(() => new ParamStore(new Rng(3)).add('bn/x', [3, 4], { kind: 'rows', rows: [{ kind: 'zeros' }] })).toThrow('1 row rules for a weight of 3 rows');
    tf.dispose([packed, alone]);
  });
});

describe('checkpoints', () => {
  for (const [saveFlat, loadFlat] of [[false, false], [true, true], [true, false], [false, true]]) {
    it(`resuming from a checkpoint gives the same next step as continuing (Adam ${saveFlat ? 'flat' : 'per variable'}, resumed ${loadFlat ? 'flat' : 'per variable'})`, async () => {
      const d = dir();
      const a = tinyModel(1);
      const optA = new Adam(0.1, 0.5, { flat: saveFlat });
      for (let i = 0; i < 3; i++) optA.minimize(a.loss);
      const optimizer = await a.store.optimizerState(optA);
      await saveCheckpoint(d, { step: 3, weights: a.store.snapshot(), optimizer, meta: { note: 'x' } });
      optA.minimize(a.loss);
      const continued = Array.from(a.store.variables.get('dense/w')!.dataSync());

      const b = tinyModel(99);
      const optB = new Adam(0.1, 0.5, { flat: loadFlat });
      const saved = (await loadCheckpoint(d))!;
      expect(saved.step).toBe(3);
      expect(saved.meta.note).toBe('x');
      b.store.load(saved.weights);
      await b.store.restoreOptimizer(optB, saved.optimizer);
      optB.minimize(b.loss);
      Array.from(b.store.variables.get('dense/w')!.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(continued[i], 6));
    });
  }

  it('resumes the checkpoint of the same identity that fits the model; moves the others aside, and all of them on --restart', async () => {
    const m = tinyModel(1);
    const write = async (identity: string) => {
      const d = path.join(dir(), 'checkpoints');
      await saveCheckpoint(d, { step: 7, weights: m.store.snapshot(), optimizer: {}, meta: { identity } });
      return d;
    };
    const asideOf = (d: string) => readdirSync(path.dirname(d)).filter((n) => n.startsWith('set-aside-'));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const same = await write('a');
      const resumed = (await checkpointToResume(same, 'a', m.store, false, 'test'))!;
      expect(resumed.step).toBe(7);
      disposeCheckpoint(resumed);
      expect(asideOf(same)).toEqual([]);

      const other = await write(JSON.stringify({ ngf: 4, images: 180 }));
      expect(await checkpointToResume(other, JSON.stringify({ ngf: 8, images: 180 }), m.store, false, 'test')).toBeUndefined();
      expect(existsSync(other)).toBe(false);
      expect(asideOf(other).map((n) => readdirSync(path.join(path.dirname(other), n, 'checkpoints')))).toEqual([['step-00000007']]);
      expect(String(stderr.mock.calls.at(-1)![0])).toMatch(/^test: the checkpoint in .* is of another config or dataset \(ngf 4 -> 8\); training from scratch \(the earlier run is moved to .*set-aside-/);

      const restarted = await write('a');
      const metrics = path.join(path.dirname(restarted), 'metrics.jsonl');
      writeFileSync(metrics, '{"step": 7}\n');
      expect(await checkpointToResume(restarted, 'a', m.store, true, 'test', [metrics, path.join(path.dirname(restarted), 'grids')])).toBeUndefined();
      expect(readdirSync(path.dirname(restarted))).toEqual(asideOf(restarted));
      expect(readdirSync(path.join(path.dirname(restarted), asideOf(restarted)[0])).sort()).toEqual(['checkpoints', 'metrics.jsonl']);
      // Nothing to move: nothing said.
      stderr.mockClear();
      expect(await checkpointToResume(restarted, 'a', m.store, true, 'test')).toBeUndefined();
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      m.store.dispose();
    }
  });

  it('refuses a state holding NaN or infinity, naming the tensor and the checkpoint that stays the newest', async () => {
    const d = dir();
    const m = tinyModel(1);
    await saveCheckpoint(d, { step: 3, weights: m.store.snapshot(), optimizer: {}, meta: {} });
    const slot = tf.tensor1d([0, Infinity]);
    const save = saveCheckpoint(d, { step: 4, weights: m.store.snapshot(), optimizer: { 'dense/w/v': slot }, meta: {} });
    await expect(save).rejects.toThrow(`training diverged: optimizer/dense/w/v holds NaN or infinite values at step 4, so it was not checkpointed (the last checkpoint, ${path.join(d, 'step-00000003')}, is kept)`);
    expect(await listCheckpoints(d)).toEqual([3]);
    expect(readdirSync(d)).toEqual(['step-00000003']);
    m.store.dispose();
  });

  it('keeps the last k, and ignores a folder left half-written', async () => {
    const d = dir();
    const m = tinyModel(1);
    for (const step of [1, 2, 3, 4]) await saveCheckpoint(d, { step, weights: m.store.snapshot(), optimizer: {}, meta: {} }, 2);
    expect(await listCheckpoints(d)).toEqual([3, 4]);
    expect(readdirSync(d).filter((n) => n.includes('tmp'))).toEqual([]);
    // A run killed mid-write leaves a temp folder (never a step- folder without tensors.json).
    writeFileSync(path.join(d, '.step-00000005.123.tmp'), '');
    expect(await listCheckpoints(d)).toEqual([3, 4]);
  });

  it('refuses weights of another shape, naming the weight', () => {
    const m = tinyModel(1);
    expect(() => m.store.load({ 'dense/w': tf.zeros([2, 2]), 'dense/b': tf.zeros([2]) })).toThrow(/dense\/w has shape \[2,2\], the model expects \[3,2\]/);
    expect(() => m.store.load({})).toThrow(/checkpoint: no weight dense\/w/);
  });

  it("refuses an exported model of another layout, naming its folder and the command that makes it again, and frees what it read", async () => {
    const d = dir();
    const old = tf.zeros([3, 2]);
    await saveTensors(d, { weights: { 'dense/kernel': old } }, { config: {} });
    old.dispose();
    const before = tf.memory().numTensors;
    await expect(loadGenerator(d, 'pnpm --filter stage1 train', (store) => store.add('dense/w', [3, 2], { kind: 'zeros' }))).rejects.toThrow(`${d} holds a model of another layout (no weight dense/w): written by an earlier version of t2i? Make it again: pnpm --filter stage1 train`);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('replaces a tensor folder whole, leaving nothing of the old one beside it', async () => {
    const d = dir();
    const folder = path.join(d, 'generator');
    const [one, two] = [tf.ones([2]), tf.fill([3], 2)];
    await saveTensors(folder, { weights: { w: one } }, { version: 1 });
    await saveTensors(folder, { weights: { w: two } }, { version: 2 });
    const { groups, meta } = await loadTensors(folder);
    expect(meta.version).toBe(2);
    expect(Array.from(await groups.weights.w.data())).toEqual([2, 2, 2]);
    expect(readdirSync(d)).toEqual(['generator']);
    tf.dispose([one, two, groups.weights.w]);
  });

  it('names a truncated tensors.bin and the way out, rather than loading zeros', async () => {
    const d = dir();
    const m = tinyModel(1);
    const folder = await saveCheckpoint(d, { step: 1, weights: m.store.snapshot(), optimizer: {}, meta: {} });
    truncateSync(path.join(folder, 'tensors.bin'), 20);
    await expect(loadCheckpoint(d)).rejects.toThrow(/tensors\.bin ends inside weights\/dense\/\w: the file is truncated; delete this folder and make it again \(a checkpoint: training then resumes from the one before\)/);
    mkdirSync(path.join(d, 'step-00000002'));
    writeFileSync(path.join(d, 'step-00000002', 'tensors.json'), '{"tens');
    await expect(loadCheckpoint(d)).rejects.toThrow(/step-00000002\/tensors\.json cannot be read \(.*JSON.*\); delete this folder/);
  });
});

describe('float16 storage', () => {
  it('round-trips every half value, and rounds to the nearest half, ties to even', () => {
    const all = Uint16Array.from({ length: 0x10000 }, (_, h) => h);
    const values = fromHalf(all);
    const back = toHalf(values);
    const nan = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    for (let h = 0; h < 0x10000; h++) if (!nan(h)) expect(back[h]).toBe(h);
    const cases: [number, number][] = [
      [1, 1],
      [0.1, 0.0999755859375],
      [1 + 2 ** -11, 1],
      [1 + 3 * 2 ** -11, 1 + 2 ** -9],
      [65504, 65504],
      [65520, Infinity],
      [-1e6, -Infinity],
      [2 ** -24, 2 ** -24],
      [1.4 * 2 ** -25, 2 ** -24],
      [2 ** -26, 0],
      [3 * 2 ** -25, 2 * 2 ** -24],
    ];
    const got = fromHalf(toHalf(Float32Array.from(cases, ([x]) => x)));
    cases.forEach(([, want], i) => expect(got[i]).toBe(want));
    expect(fromHalf(toHalf(Float32Array.of(NaN)))[0]).toBeNaN();
  });

  it('stores float32 weights at half the bytes and reads them back as float32', async () => {
    const d = dir();
    const w = tf.tensor2d([[0.5, -1.25], [3.14159, 1e-3]]);
    const steps = tf.tensor1d([7], 'int32');
    await saveTensors(d, { weights: { w, steps } }, { note: 'half' }, { float16: true });
    expect(statSync(path.join(d, 'tensors.bin')).size).toBe(4 * 2 + 4);
    const { groups, meta } = await loadTensors(d);
    expect(meta.note).toBe('half');
    expect(groups.weights.w.dtype).toBe('float32');
    expect(Array.from(groups.weights.w.dataSync())).toEqual([0.5, -1.25, 3.140625, 0.0010004043579101562]);
    expect(Array.from(groups.weights.steps.dataSync())).toEqual([7]);
    tf.dispose([w, steps, ...Object.values(groups.weights)]);
  });
});

describe('tensor folders over HTTP (the page of t2i serve)', () => {
  it('reads back what the files hold, at any offset, and names a truncated tensors.bin', async () => {
    const d = dir();
    // Three halves put the int32 tensor after them at byte 6, not a multiple of 4.
    const w = tf.tensor1d([0.5, -1.25, 2]);
    const steps = tf.tensor1d([7, -3], 'int32');
    await saveTensors(d, { weights: { w, steps } }, { note: 'web' }, { float16: true });
    const server = http.createServer((req, res) => {
      const m = /^\/folder\/(tensors\.(json|bin))$/.exec(req.url ?? '');
      if (!m) return res.writeHead(404).end();
      const file = path.join(d, m[1]);
      res.end(readFileSync(file));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/folder`;
    try {
      const fetched = await fetchTensors(url);
      const loaded = await loadTensors(d);
      expect(fetched.meta).toEqual(loaded.meta);
      for (const name of ['w', 'steps']) {
        expect(fetched.groups.weights[name].dtype).toBe(loaded.groups.weights[name].dtype);
        expect(Array.from(fetched.groups.weights[name].dataSync())).toEqual(Array.from(loaded.groups.weights[name].dataSync()));
      }
      tf.dispose([...Object.values(fetched.groups.weights), ...Object.values(loaded.groups.weights)]);
      const json = readFileSync(path.join(d, 'tensors.json'), 'utf8');
      expect(() => decodeTensors(url, json, readFileSync(path.join(d, 'tensors.bin')).subarray(0, 8))).toThrow(`${url}/tensors.bin ends inside weights/steps: the file is truncated`);
      await expect(fetchTensors(`${url}/missing`)).rejects.toThrow(`${url}/missing/tensors.json cannot be fetched (HTTP 404 Not Found)`);
    } finally {
      server.close();
      tf.dispose([w, steps]);
    }
  });
});
