import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { Rng } from '../src/index.ts';
import {
  Adam,
  assertFinite,
  BACKENDS,
  checkpointToResume,
  disposeCheckpoint,
  explainAbort,
  initBackend,
  listCheckpoints,
  loadCheckpoint,
  loadExportedModel,
  loadTensors,
  MetricsLog,
  ParamStore,
  saveCheckpoint,
  saveTensors,
  StepRunner,
  stockWebgpuKernels,
  tf,
  trainGan,
  type BackendLoader,
  type BackendName,
} from '../src/runtime/index.ts';
import { memoiseBindGroupLayouts } from '../src/runtime/dawn-layouts.ts';
import { isDawnPoll, pollDawnByTimer } from '../src/runtime/dawn-polling.ts';
import { fromHalf, toHalf } from '../src/runtime/half.ts';

const dirs: string[] = [];
const dir = () => (dirs.push(tempDir()), dirs[dirs.length - 1]);
afterAll(() => dirs.forEach(removeDir));
beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('initBackend', () => {
  const failing = (reason: string): BackendLoader => async () => {
    throw new Error(reason);
  };
  const loaders = (overrides: Partial<Record<BackendName, BackendLoader>>) =>
    Object.fromEntries(BACKENDS.map((b) => [b, overrides[b] ?? failing(`${b} unavailable`)])) as Record<BackendName, BackendLoader>;

  it('falls through to the first backend that loads and logs why the others were skipped', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const loaded: string[] = [];
    const choice = await initBackend(undefined, loaders({ wasm: async () => void loaded.push('wasm'), cpu: async () => void loaded.push('cpu') }));
    const logged = stderr.mock.calls.map((c) => String(c[0])).join('');
    stderr.mockRestore();
    expect(choice.name).toBe('wasm');
    expect(loaded).toEqual(['wasm']);
    expect(choice.skipped.map((s) => s.name)).toEqual(['tensorflow-gpu', 'tensorflow', 'webgpu']);
    expect(logged).toMatch(/backend: wasm \(skipped tensorflow-gpu: tensorflow-gpu unavailable; tensorflow: tensorflow unavailable; webgpu: webgpu unavailable\)/);
  });

  it('uses only the backend asked for, and names an unknown one', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    await expect(initBackend('webgpu', loaders({ cpu: async () => undefined }))).rejects.toThrow(/no tfjs backend could be loaded: webgpu: webgpu unavailable/);
    await expect(initBackend('tpu', loaders({}))).rejects.toThrow(/unknown backend "tpu"/);
    await expect(initBackend('tpu', loaders({}))).rejects.toMatchObject({ name: 'UsageError' });
    stderr.mockRestore();
  });

  it('tells a loader whether the user named it (a software GPU adapter loads only then)', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const seen: boolean[] = [];
    const softwareGpu: BackendLoader = async ({ explicit }) => {
      seen.push(explicit);
      if (!explicit) throw new Error('software adapter');
    };
    expect((await initBackend(undefined, loaders({ webgpu: softwareGpu, wasm: async () => undefined }))).name).toBe('wasm');
    expect((await initBackend('webgpu', loaders({ webgpu: softwareGpu }))).name).toBe('webgpu');
    stderr.mockRestore();
    expect(seen).toEqual([false, true]);
  });

  it('hands the loader --threads, else T2I_THREADS, else every core, and logs the threads it runs', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const asked: number[] = [];
    const wasm: BackendLoader = async ({ threads }) => {
      asked.push(threads);
      return { threads: Math.min(threads, 2) };
    };
    const env = process.env.T2I_THREADS;
    try {
      process.env.T2I_THREADS = '3';
      expect((await initBackend({ backend: 'wasm', threads: 1 }, loaders({ wasm }))).threads).toBe(1);
      expect((await initBackend('wasm', loaders({ wasm }))).threads).toBe(2);
      delete process.env.T2I_THREADS;
      await initBackend('wasm', loaders({ wasm }));
      process.env.T2I_THREADS = 'many';
      await expect(initBackend('wasm', loaders({ wasm }))).rejects.toThrow(/T2I_THREADS is "many"; give a whole number/);
    } finally {
      if (env === undefined) delete process.env.T2I_THREADS;
      else process.env.T2I_THREADS = env;
    }
    const logged = stderr.mock.calls.map((c) => String(c[0])).join('');
    stderr.mockRestore();
    expect(asked).toEqual([1, 3, os.availableParallelism()]);
    expect(logged).toMatch(/backend: wasm, 1 thread\n/);
    expect(logged).toMatch(/backend: wasm, 2 threads \(asked for 3; the machine has \d+ cores\)/);
  });

  it('really loads cpu', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect((await initBackend('cpu')).name).toBe('cpu');
    stderr.mockRestore();
    expect(tf.getBackend()).toBe('cpu');
  });
});

function tinyModel(seed: number) {
  const store = new ParamStore(new Rng(seed));
  const w = store.add('dense/w', [3, 2], { kind: 'glorot' });
  const b = store.add('dense/b', [2], { kind: 'zeros' });
  const x = tf.tensor2d([[1, 2, 3], [0, -1, 1]]);
  const loss = () => x.matMul(w).add(b).square().mean() as tf.Scalar;
  return { store, loss, x };
}

describe('T2I_WEBGPU_STOCK', () => {
  it('names which of our webgpu kernels stay tfjs\'s: gemm when unset, none when empty, some, or all', () => {
    const set = process.env.T2I_WEBGPU_STOCK;
    delete process.env.T2I_WEBGPU_STOCK;
    expect([...stockWebgpuKernels()]).toEqual(['gemm']);
    if (set !== undefined) process.env.T2I_WEBGPU_STOCK = set;
    expect([...stockWebgpuKernels('')]).toEqual([]);
    expect([...stockWebgpuKernels('batch-norm,filter-grad')]).toEqual(['batch-norm', 'filter-grad']);
    expect([...stockWebgpuKernels('all')]).toEqual(['filter-grad', 'input-grad', 'batch-norm', 'leading-sum', 'rectifier-grad', 'adam', 'uniforms', 'gemm']);
    expect(() => stockWebgpuKernels('filter-grad,sgd')).toThrow(/names sgd; use all or a comma list of filter-grad, input-grad, batch-norm, leading-sum, rectifier-grad, adam, uniforms, gemm/);
  });
});

describe("Dawn's polling", () => {
  // Function.prototype stands in for Dawn's poll: native, anonymous, no parameters.
  const dawnPoll = Function.prototype as () => void;

  it('tells Dawn\'s poll from the callbacks everyone else passes to setImmediate', () => {
    expect(isDawnPoll(dawnPoll)).toBe(true);
    let resolver: unknown;
    new Promise((resolve) => (resolver = resolve));
    for (const other of [() => {}, function named() {}, resolver, dawnPoll.bind(null), Math.random, undefined]) expect(isDawnPoll(other)).toBe(false);
  });

  it('sends only Dawn\'s polls through a 1 ms timer, and wraps setImmediate once', () => {
    const calls: string[] = [];
    const host = {
      setImmediate: (callback: () => void) => calls.push(`immediate ${callback === dawnPoll ? 'dawn' : 'other'}`),
      setTimeout: (callback: () => void, ms: number) => calls.push(`timeout ${ms} ${callback === dawnPoll ? 'dawn' : 'other'}`),
    };
    pollDawnByTimer(host);
    const wrapped = host.setImmediate;
    pollDawnByTimer(host);
    expect(host.setImmediate).toBe(wrapped);
    host.setImmediate(dawnPoll);
    host.setImmediate(() => {});
    expect(calls).toEqual(['timeout 1 dawn', 'immediate other']);
  });
});

describe("Dawn's bind group layouts", () => {
  it('asks each pipeline once for each index, and wraps the prototype once', () => {
    const asked: string[] = [];
    class Pipeline {
      constructor(readonly name: string) {}
      getBindGroupLayout(index: number) {
        asked.push(`${this.name} ${index}`);
        return { of: this.name, index };
      }
    }
    memoiseBindGroupLayouts(Pipeline.prototype);
    const wrapped = Pipeline.prototype.getBindGroupLayout;
    memoiseBindGroupLayouts(Pipeline.prototype);
    expect(Pipeline.prototype.getBindGroupLayout).toBe(wrapped);
    const [a, b] = [new Pipeline('a'), new Pipeline('b')];
    const first = a.getBindGroupLayout(0);
    expect(a.getBindGroupLayout(0)).toBe(first);
    expect(a.getBindGroupLayout(1)).toEqual({ of: 'a', index: 1 });
    expect(b.getBindGroupLayout(0)).toEqual({ of: 'b', index: 0 });
    b.getBindGroupLayout(0);
    expect(asked).toEqual(['a 0', 'a 1', 'b 0']);
  });
});

describe('Adam', () => {
  it("follows TensorFlow's update rule", () => {
    const w = tf.variable(tf.tensor1d([1, -2, 0.5]));
    const grads = [[0.3, -1, 2], [0.1, 0.2, -0.4], [-2, 0.5, 1]];
    const opt = new Adam(0.01, 0.5, { beta2: 0.999, epsilon: 1e-8 });
    const want = [1, -2, 0.5];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    grads.forEach((g, step) => {
      opt.applyGradients({ [w.name]: tf.tensor1d(g) });
      const t = step + 1;
      const lr = (0.01 * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.5 ** t);
      for (let i = 0; i < 3; i++) {
        m[i] = 0.5 * m[i] + 0.5 * g[i];
        v[i] = 0.999 * v[i] + 0.001 * g[i] ** 2;
        want[i] -= (lr * m[i]) / (Math.sqrt(v[i]) + 1e-8);
      }
    });
    Array.from(w.dataSync()).forEach((x, i) => expect(x).toBeCloseTo(want[i], 6));
    opt.dispose();
    w.dispose();
  });

  it('updates all variables at once in flat mode, to the same values', () => {
    const shapes = [[3, 2], [5], [2, 2, 2]];
    const run = (flat: boolean) => {
      const vars = shapes.map((shape, i) => tf.tidy(() => tf.variable(tf.randomNormal(shape, 0, 1, 'float32', 100 + i))));
      const opt = new Adam(0.05, 0.5, { flat });
      for (let step = 0; step < 4; step++) {
        const grads = Object.fromEntries(vars.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 1, 'float32', 1 + 10 * step + i)]));
        opt.applyGradients(grads);
        tf.dispose(Object.values(grads));
      }
      const values = vars.map((v) => Array.from(v.dataSync()));
      opt.dispose();
      tf.dispose(vars);
      return values;
    };
    const before = tf.memory().numTensors;
    const [flat, each] = [run(true), run(false)];
    flat.flat().forEach((x, i) => expect(x).toBeCloseTo(each.flat()[i], 6));
    expect(tf.memory().numTensors).toBe(before);
  });

  it("frees each variable's temporaries before the next (tf.train.adam holds all of them to the end)", async () => {
    const size = 1000;
    const vars = Array.from({ length: 8 }, () => tf.variable(tf.randomNormal([size])));
    const grads = Object.fromEntries(vars.map((v) => [v.name, tf.randomNormal([size])]));
    const extra = async (opt: tf.Optimizer) => {
      opt.applyGradients(grads); // creates the moments
      const before = tf.memory().numBytes;
      const { peakBytes } = await tf.profile(() => opt.applyGradients(grads));
      opt.dispose();
      return peakBytes - before;
    };
    const bytes = size * 4;
    // Two temporaries of one variable's size at a time (and a few scalars), however many variables there are.
    expect(await extra(new Adam(0.01, 0.5))).toBeLessThan(2 * bytes + 64);
    expect(await extra(tf.train.adam(0.01, 0.5))).toBeGreaterThan(8 * 8 * bytes);
    tf.dispose([...vars, ...Object.values(grads)]);
  });
});

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
    await expect(loadExportedModel(d, 'pnpm --filter stage1 train', (store) => store.add('dense/w', [3, 2], { kind: 'zeros' }))).rejects.toThrow(`${d} holds a model of another layout (no weight dense/w): written by an earlier version of t2i? Make it again: pnpm --filter stage1 train`);
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

describe('StepRunner', () => {
  it('lets steps run inside tidy and catches a tensor that escapes', () => {
    const runner = new StepRunner();
    const v = tf.variable(tf.scalar(1));
    for (let i = 0; i < 3; i++) runner.run(() => void v.assign(v.add(1)));
    let leaked: tf.Tensor[] = [];
    const leaky = new StepRunner();
    leaky.run(() => undefined);
    expect(() =>
      leaky.run(() => {
        leaked.push(tf.keep(tf.scalar(2)));
      }),
    ).toThrow(/tensor leak: 1 more live tensors after step 2/);
    tf.dispose(leaked);
    leaked = [];
  });

  it("explains the wasm backend running out of memory, and leaves other errors alone", () => {
    const abort = new Error('Aborted(). Build with -sASSERTIONS for more info.');
    const explained = explainAbort(abort) as Error;
    expect(explained.message).toMatch(/ran out of memory: its heap stops at 4 GiB.*Lower --batch-size/);
    expect(explained.cause).toBe(abort);
    // The trap that follows when tfjs frees a step's tensors in the dead module, heap near its limit.
    const trap = new WebAssembly.RuntimeError('memory access out of bounds');
    expect((explainAbort(trap, 4.0 * 2 ** 30) as Error).message).toMatch(/heap had grown to 4\.00 GiB/);
    expect(explainAbort(trap, 1 * 2 ** 30)).toBe(trap);
    const other = new Error('shape mismatch');
    expect(explainAbort(other, 4.0 * 2 ** 30)).toBe(other);
  });

  it('stops on a NaN loss', () => {
    expect(() => assertFinite({ d: 0.5, g: NaN }, 12)).toThrow(/g is NaN at step 12/);
  });
});

describe('trainGan', () => {
  /** A one-weight GAN whose losses are also read synchronously as they happen; NaN from step `nanAt`. */
  function tinyGan(outDir: string, nanAt = Infinity) {
    const store = new ParamStore(new Rng(3));
    const g = store.add('g/w', [1], { kind: 'normal', std: 1 });
    const d = store.add('d/w', [1], { kind: 'normal', std: 1 });
    const seen: { step: number; d: number; g: number }[] = [];
    let step = 0;
    const loop = {
      name: 'tiny',
      store,
      gVars: [g],
      dVars: [d],
      schedule: { epochs: 2, learningRate: 0.05, lrDecayEpochs: 100, beta1: 0.5, checkpointEvery: 1, keepCheckpoints: 5 },
      identity: 'tiny',
      rng: new Rng(4),
      epochBatches: () => [[0], [1], [2]],
      batch: (rows: number[]) => tf.tensor4d(rows.map((r) => r + 1), [1, 1, 1, 1]),
      fakeImages: (batch: tf.Tensor4D) => tf.tidy(() => batch.mul(g)) as tf.Tensor4D,
      discriminatorLoss: (batch: tf.Tensor4D, fake: tf.Tensor4D) => {
        step++;
        const total = fake.sub(batch.mul(d)).square().mean() as tf.Scalar;
        seen.push({ step, d: total.dataSync()[0], g: NaN });
        return { total, parts: {} };
      },
      generatorLoss: (batch: tf.Tensor4D) => {
        const total = (step >= nanAt ? batch.mul(g).log().mul(NaN) : batch.mul(g).mul(d).sub(1).square()).mean() as tf.Scalar;
        seen[seen.length - 1].g = total.dataSync()[0];
        return { total, parts: {} };
      },
      checkpointDir: path.join(outDir, 'checkpoints'),
      metrics: new MetricsLog(path.join(outDir, 'metrics.jsonl')),
      restart: true,
    };
    return { loop, seen };
  }

  it("logs each epoch's mean losses of its own steps, though each step's are read during the next", async () => {
    const out = dir();
    const { loop, seen } = tinyGan(out);
    expect(await trainGan(loop)).toEqual({ epoch: 2, step: 6 });
    const logged = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    for (const [i, epoch] of logged.entries()) {
      const steps = seen.slice(3 * i, 3 * i + 3);
      expect(epoch.d_loss).toBeCloseTo(mean(steps.map((s) => s.d)), 6);
      expect(epoch.g_loss).toBeCloseTo(mean(steps.map((s) => s.g)), 6);
    }
    expect(new Set(logged.map((l) => l.d_loss)).size).toBe(2);
    loop.store.dispose();
  });

  it('stops with a checkpoint when another epoch would overrun --minutes, and resumes from it', async () => {
    const out = dir();
    const { loop } = tinyGan(out);
    expect(await trainGan({ ...loop, minutes: 1e-9 })).toEqual({ epoch: 1, step: 3 });
    expect(await listCheckpoints(loop.checkpointDir)).toEqual([3]);
    expect(await trainGan({ ...loop, restart: false })).toEqual({ epoch: 2, step: 6 });
    // Run again, nothing left to do: it says so rather than exiting without a word.
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await trainGan({ ...loop, restart: false })).toEqual({ epoch: 2, step: 6 });
      expect(stderr.mock.calls.map(([m]) => String(m)).join('')).toMatch(/tiny: already trained for 2 epochs, as many as --epochs 2 asks; raise --epochs to train on/);
    } finally {
      stderr.mockRestore();
    }
    loop.store.dispose();
  });

  it('stops on the step that diverged, before its epoch is checkpointed', async () => {
    const out = dir();
    const { loop } = tinyGan(out, 5);
    const err = (await trainGan(loop).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('DivergedError');
    expect(err.message).toMatch(/g_loss is NaN at step 5; nothing of this run was checkpointed since; run again with a lower --learning-rate/);
    expect(await listCheckpoints(loop.checkpointDir)).toEqual([3]);
    loop.store.dispose();
  });

  it('exports and checkpoints nothing from weights gone non-finite while the losses stayed finite', async () => {
    const out = dir();
    const { loop } = tinyGan(out);
    const unused = loop.store.add('g/unused', [2], { kind: 'zeros' });
    let epochs = 0;
    const exported: number[] = [];
    const run = trainGan({
      ...loop,
      epochBatches: () => {
        if (++epochs === 2) tf.tidy(() => unused.assign(tf.tensor1d([1, Infinity])));
        return [[0], [1], [2]];
      },
      onCheckpoint: async (epoch: number) => void exported.push(epoch),
    });
    await expect(run).rejects.toThrow('training diverged: weight g/unused holds NaN or infinite values at step 6');
    expect(exported).toEqual([1]);
    expect(await listCheckpoints(loop.checkpointDir)).toEqual([3]);
    loop.store.dispose();
  });
});

describe('MetricsLog', () => {
  it('drops the lines a killed run wrote after the checkpoint it resumes from', async () => {
    const file = path.join(dir(), 'm.jsonl');
    const log = new MetricsLog(file);
    await log.reset();
    for (const step of [10, 20, 30]) log.append({ step, loss: step / 10 });
    await log.resumeAt(20);
    expect(readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l).step)).toEqual([10, 20]);
    expect(existsSync(file)).toBe(true);
  });
});
