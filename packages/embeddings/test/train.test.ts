import { initBackend, tf } from '@t2i/backends';
import { MetricsLog } from '@t2i/gan';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { Vocabulary } from 'captions';
import { encoderDir, loadSentenceEncoder, saveEncoder } from '../src/encoder.ts';
import { buildModels } from '../src/models.ts';
import { encoderIdentity } from '../src/stage.ts';
import { learningRateAt, trainEncoders } from '../src/train.ts';
import { syntheticData, tinyConfig } from './fixtures.ts';
import type { EmbeddingsConfig } from '../src/config.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
beforeAll(async () => {
  await tf.setBackend('cpu');
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});

async function train(config: EmbeddingsConfig, dir = tempDir(), restart = true, data = syntheticData()) {
  dirs.push(dir);
  const models = buildModels(config, data.vocab.size);
  await trainEncoders(models, data, config, { checkpointDir: path.join(dir, 'checkpoints'), metrics: new MetricsLog(path.join(dir, 'metrics.jsonl')), restart });
  const weights = Object.fromEntries([...models.store.variables].map(([name, v]) => [name, Array.from(v.dataSync())]));
  return { models, data, weights, dir };
}

describe('learning rate schedule', () => {
  it('constant stays; cosine starts at the rate, halves it midway and ends at 0', () => {
    expect(learningRateAt({ learningRate: 0.01, lrSchedule: 'constant' }, 0.7)).toBe(0.01);
    const cosine = (p: number) => learningRateAt({ learningRate: 0.01, lrSchedule: 'cosine' }, p);
    expect(cosine(0)).toBeCloseTo(0.01, 12);
    expect(cosine(0.5)).toBeCloseTo(0.005, 12);
    expect(cosine(1)).toBeCloseTo(0, 12);
  });
});

describe('training the encoders', () => {
  it('is deterministic for a seed, and resuming from a checkpoint equals training straight through', async () => {
    const straight = await train(tinyConfig({ epochs: 2 }));
    const again = await train(tinyConfig({ epochs: 2 }));
    expect(again.weights).toEqual(straight.weights);

    const half = await train(tinyConfig({ epochs: 1 }));
    const resumed = await train(tinyConfig({ epochs: 2 }), half.dir, false);
    expect(resumed.weights).toEqual(straight.weights);
    // So their vectors keep one name: a model trained on them resumes, where one more epoch renames them.
    const id = (run: Awaited<ReturnType<typeof train>>) => encoderIdentity(run.models.store.variables, run.data.vocab.json);
    expect([await id(again), await id(resumed)]).toEqual([await id(straight), await id(straight)]);
    expect(await id(half)).not.toBe(await id(straight));
    const lines = readFileSync(path.join(half.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.epoch)).toEqual([1, 2]);
    [straight, again, half, resumed].forEach((r) => r.models.store.dispose());
  });

  it('with weight averaging: trains along the same path, ends on the average rather than the last weights, and resumes as it would run straight through', async () => {
    const plain = await train(tinyConfig({ epochs: 2 }));
    const straight = await train(tinyConfig({ epochs: 2, weightAverage: 0.9 }));
    const losses = (run: Awaited<ReturnType<typeof train>>) => readFileSync(path.join(run.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).loss);
    expect(losses(straight)).toEqual(losses(plain));
    for (const name of Object.keys(plain.weights)) expect(straight.weights[name], name).not.toEqual(plain.weights[name]);

    const half = await train(tinyConfig({ epochs: 1, weightAverage: 0.9 }));
    const resumed = await train(tinyConfig({ epochs: 2, weightAverage: 0.9 }), half.dir, false);
    expect(resumed.weights).toEqual(straight.weights);
    [plain, straight, half, resumed].forEach((r) => r.models.store.dispose());
  });

  it('does not resume a checkpoint of another vocabulary of the same size (one word replaced shifts the ids)', async () => {
    const half = await train(tinyConfig({ epochs: 1 }));
    const data = syntheticData();
    const tokens = data.vocab.json.tokens.map((t) => (t === 'pointed' ? 'pointy' : t));
    const stderr = vi.mocked(process.stderr.write);
    stderr.mockClear();
    const again = await train(tinyConfig({ epochs: 2 }), half.dir, false, { ...data, vocab: new Vocabulary({ ...data.vocab.json, tokens }) });
    expect(stderr.mock.calls.map(([m]) => String(m)).join('')).toMatch(/embeddings: the checkpoint in .* is of another config or dataset \(vocab \w{8}… -> \w{8}…\); training from scratch/);
    [half, again].forEach((r) => r.models.store.dispose());
  });

  it('gives the same numbers on the cpu and wasm backends for the same seed', async () => {
    const cpu = await train(tinyConfig({ epochs: 1 }));
    cpu.models.store.dispose();
    await initBackend('wasm');
    try {
      const wasm = await train(tinyConfig({ epochs: 1 }));
      wasm.models.store.dispose();
      for (const [name, values] of Object.entries(cpu.weights)) {
        const diff = Math.max(...values.map((v, i) => Math.abs(v - wasm.weights[name][i])));
        expect(diff, name).toBeLessThan(1e-4);
      }
    } finally {
      await tf.setBackend('cpu');
    }
  });

  it('seq2seq trains the autoencoder, then an image encoder on its frozen space', async () => {
    const before = tf.memory().numTensors;
    const run = await train(tinyConfig({ encoder: 'seq2seq', epochs: 1, imageEpochs: 1 }));
    const lines = readFileSync(path.join(run.dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.phase)).toEqual(['autoencoder', 'image']);
    for (const l of lines) expect(Number.isFinite(l.loss)).toBe(true);
    run.models.store.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('cnn-gru: training moves every weight of the GRU and the map after it', async () => {
    const config = tinyConfig({ textEncoder: 'cnn-gru' });
    const data = syntheticData();
    const initial = buildModels(config, data.vocab.size);
    const before = Object.fromEntries([...initial.store.variables].map(([name, v]) => [name, Array.from(v.dataSync())]));
    initial.store.dispose();
    const run = await train(config, tempDir(), true, data);
    const moved = Object.entries(run.weights).filter(([name]) => /^text\/(gru|out)/.test(name));
    expect(moved.map(([name]) => name).sort()).toEqual(['text/gru/b', 'text/gru/wh', 'text/gru/wx', 'text/out', 'text/outBias']);
    for (const [name, w] of moved) expect(w, name).not.toEqual(before[name]);
    run.models.store.dispose();
  });

  it.each(['cnn', 'cnn-gru'] as const)('%s: encodes any sentence after training; unknown words are reported, never fatal', async (textEncoder) => {
    const run = await train(tinyConfig({ textEncoder }));
    await saveEncoder(encoderDir(run.dir), run.models, tinyConfig({ textEncoder }), run.data.vocab, 'test-encoder');
    const encoder = await loadSentenceEncoder(encoderDir(run.dir));
    const long = `${'red petals '.repeat(tinyConfig().maxTokens / 2)}and a zebra`;
    const { vectors, unknownWords, ignoredWords } = await encoder.encode(['this flower has red petals', 'a zebra flower', '???', '', long]);
    expect(vectors.length).toBe(5 * 8);
    expect(unknownWords[1]).toEqual(['a', 'zebra']);
    // Past maxTokens: not read, so not unknown either, and said to be ignored.
    expect(unknownWords[4]).toEqual([]);
    expect(ignoredWords[4]).toEqual(['and', 'a', 'zebra']);
    expect(ignoredWords.slice(0, 4)).toEqual([[], [], [], []]);
    for (let i = 0; i < 5; i++) {
      const v = vectors.subarray(i * 8, i * 8 + 8);
      expect(Math.hypot(...v)).toBeCloseTo(1, 4);
    }
    encoder.dispose();
    run.models.store.dispose();
  });
});
