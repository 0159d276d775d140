import os from 'node:os';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BACKENDS,
  explainAbort,
  initBackend,
  stockWebgpuKernels,
  tf,
  type BackendLoader,
  type BackendName,
} from '../src/index.ts';
import { memoiseBindGroupLayouts } from '../src/webgpu/dawn-layouts.ts';
import { isDawnPoll, pollDawnByTimer } from '../src/webgpu/dawn-polling.ts';

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

  it('hands the loader --conv, else T2I_CONV, else nothing (native where it loads), logs where convolutions run, and names a bad T2I_CONV', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const asked: (string | undefined)[] = [];
    const wasm: BackendLoader = async ({ conv }) => {
      asked.push(conv);
      return { threads: 2, conv: `convolutions on ${conv ?? 'native'}` };
    };
    try {
      vi.stubEnv('T2I_CONV', 'wasm');
      expect((await initBackend({ backend: 'wasm', conv: 'native' }, loaders({ wasm }))).conv).toBe('convolutions on native');
      expect((await initBackend('wasm', loaders({ wasm }))).conv).toBe('convolutions on wasm');
      vi.stubEnv('T2I_CONV', undefined);
      await initBackend('wasm', loaders({ wasm }));
      vi.stubEnv('T2I_CONV', 'gpu');
      await expect(initBackend('wasm', loaders({ wasm }))).rejects.toThrow(/T2I_CONV is "gpu"; give native or wasm/);
    } finally {
      vi.unstubAllEnvs();
    }
    const logged = stderr.mock.calls.map((c) => String(c[0])).join('');
    stderr.mockRestore();
    expect(asked).toEqual(['native', 'wasm', undefined]);
    expect(logged).toMatch(/backend: wasm, 2 threads, convolutions on wasm\n/);
  });

  it('really loads cpu', async () => {
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    expect((await initBackend('cpu')).name).toBe('cpu');
    stderr.mockRestore();
    expect(tf.getBackend()).toBe('cpu');
  });
});

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

describe('the wasm heap', () => {
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
});
