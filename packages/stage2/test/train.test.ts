import { tf } from '@t2i/backends';
import { checkpointDirName, generatorDir, loadGenerator } from '@t2i/gan';
import { cpSync, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { buildGenerator, buildStage1, exportGenerator as exportStage1, type Stage1Config } from 'stage1';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import type { Stage2Config } from '../src/config.ts';
import { openStage2Data } from '../src/data.ts';
import { otherStage1, type LoadedStage1 } from '../src/exported.ts';
import { buildStage2, loadStage2Generator, trainStage2 } from '../src/train.ts';
import { tinyStage1 } from '../../stage1/test/fixtures.ts';
import { syntheticVectors, tinyStage2, writeImagesFile } from './fixtures.ts';

const dirs: string[] = [];
const values = (vars: Map<string, tf.Variable>) => Object.fromEntries([...vars].map(([n, v]) => [n, Array.from(v.dataSync())]));
let imagesFile: string;
let ids: string[];
let stage1: LoadedStage1;
const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

beforeAll(async () => {
  await tf.setBackend('cpu');
  const dir = tempDir();
  dirs.push(dir);
  imagesFile = path.join(dir, 'images-304.arrow');
  // 3 images of 3 classes in record batches of 2, streamed through a shuffle buffer of 2 rows:
  // one step of 2 per epoch. The cpu backend's conv filter gradient is a slow loop, and at 256x256
  // each step takes seconds even this narrow.
  ids = (await writeImagesFile(imagesFile, { rows: 3, classes: 3, size: 304, batchRows: 2 })).ids;
  // A Stage I as training finds it: exported by stage1, loaded back.
  const config = tinyStage1({ epochs: 1 });
  const models = buildStage1(config, 6);
  await exportStage1(path.join(dir, 'stage1'), models, config, { textDim: 6 }, 1);
  models.store.dispose();
  stage1 = await loadGenerator(generatorDir(path.join(dir, 'stage1')), 'pnpm --filter stage1 train', (s, c: Stage1Config, textDim) => buildGenerator(s, c, textDim));
});
afterAll(() => {
  stage1.store.dispose();
  dirs.forEach(removeDir);
});

async function train(config: Stage2Config, outDir = tempDir(), restart = true) {
  dirs.push(outDir);
  const data = await openStage2Data(imagesFile, syntheticVectors(ids));
  const models = buildStage2(config, 6);
  const initial = values(models.store.variables);
  const before = tf.memory().numTensors;
  await trainStage2(models, stage1, data, config, { outDir, restart, backend: 'cpu' });
  const leaked = tf.memory().numTensors - before;
  await data.stream.close();
  const weights = values(models.store.variables);
  models.store.dispose();
  return { initial, weights, outDir, leaked };
}

const config = (epochs: number) => tinyStage2({ ndf: 1, shuffleRows: 2, epochs });

/** The generator's trainable weights (batch norm's moving averages aside) that a run left as they were. */
const unmovedGeneratorWeights = (run: Awaited<ReturnType<typeof train>>) =>
  Object.keys(run.weights).filter((n) => /^(g|ca)\//.test(n) && !n.includes('moving') && run.weights[n].every((v, i) => v === run.initial[n][i]));

describe('Stage II training', () => {
  let straight: Awaited<ReturnType<typeof train>>;

  // Half a minute alone; allowed three beside a training run on the same two cores.
  it('trains Stage II only: the frozen Stage I keeps every weight, and no tensor is left behind', async () => {
    const frozen = values(stage1.store.variables);
    const run = (straight = await train(config(2)));
    expect(run.leaked).toBe(0);
    expect(values(stage1.store.variables)).toEqual(frozen);
    const moved = Object.keys(run.weights).filter((n) => run.weights[n].some((v, i) => v !== run.initial[n][i]));
    expect(moved).toContain('g/up256/conv/w');
    expect(moved).toContain('ca/fc/w');
    expect(moved).toContain('d/logit/conv/w');
    // Checkpoints and the export hold Stage II's weights alone.
    const exported = JSON.parse(readFileSync(path.join(run.outDir, 'generator', 'tensors.json'), 'utf8')) as { tensors: { name: string }[]; meta: { stage1: { epoch: number } } };
    expect(exported.tensors.every((t) => /^(g|ca)\//.test(t.name))).toBe(true);
    expect(exported.meta.stage1.epoch).toBe(1);
    // Loaded back, it knows its own Stage I from another.
    const loaded = await loadStage2Generator(path.join(run.outDir, 'generator'));
    expect(otherStage1(loaded, stage1)).toBeUndefined();
    expect(otherStage1(loaded, { ...stage1, epoch: 7 })).toMatch(/trained on another Stage I \(epoch 1, config test\) than data\/stage1 holds \(epoch 7, config test\)/);
    loaded.store.dispose();
  }, 180_000);

  // From the 2-epoch run of the test above, as if it had been killed before its last checkpoint.
  it('resumes from a checkpoint exactly as if it had never stopped', async () => {
    const half = tempDir();
    cpSync(straight.outDir, half, { recursive: true });
    rmSync(path.join(half, 'checkpoints', checkpointDirName(2)), { recursive: true });
    stderr.mockClear();
    const resumed = await train(config(2), half, false);
    // A fresh start would reach the same weights (same seeds): check that it did resume.
    expect(stderr.mock.calls.map(([m]) => String(m)).join('')).toMatch(/stage2: resuming after epoch 1 \(step 1\)/);
    for (const [name, v] of Object.entries(straight.weights)) {
      const diff = Math.max(...v.map((x, i) => Math.abs(x - resumed.weights[name][i])));
      expect(diff, name).toBeLessThan(1e-6);
    }
    const metrics = readFileSync(path.join(half, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.epoch)).toEqual([1, 2]);
    expect(metrics.map((m) => m.lr)).toEqual([0.001, 0.0005]);
    for (const key of ['d_loss', 'd_real', 'd_wrong', 'd_fake', 'g_loss', 'g_adversarial', 'g_kl']) expect(Number.isFinite(metrics[0][key])).toBe(true);
    for (const f of ['grids/epoch-0001.png', 'grids/epoch-0002.png', 'grid-latest.png', 'generator/tensors.json', 'manifest.json']) expect(existsSync(path.join(half, f))).toBe(true);
  }, 180_000);

  // Drawing is not training: a run may take the projection up, or drop it, at any checkpoint.
  it('the projection when drawing trains exactly as without it: a run resumes with it, reaches the same weights, and its export says it', async () => {
    const half = tempDir();
    cpSync(straight.outDir, half, { recursive: true });
    rmSync(path.join(half, 'checkpoints', checkpointDirName(2)), { recursive: true });
    stderr.mockClear();
    const projected = await train({ ...config(2), projectWhenDrawing: true }, half, false);
    expect(stderr.mock.calls.map(([m]) => String(m)).join('')).toMatch(/stage2: resuming after epoch 1 \(step 1\)/);
    for (const [name, v] of Object.entries(straight.weights)) expect(projected.weights[name], name).toEqual(v);
    const exported = JSON.parse(readFileSync(path.join(half, 'generator', 'tensors.json'), 'utf8')) as { meta: { config: Stage2Config } };
    expect(exported.meta.config.projectWhenDrawing).toBe(true);
  }, 180_000);

  it('a finished run resumed with the projection switched trains nothing and rewrites its export with the switch, weights unchanged', async () => {
    const done = tempDir();
    cpSync(straight.outDir, done, { recursive: true });
    const exportedConfig = () => (JSON.parse(readFileSync(path.join(done, 'generator', 'tensors.json'), 'utf8')) as { meta: { config: Stage2Config } }).meta.config;
    const before = await loadStage2Generator(path.join(done, 'generator'));
    const weightsBefore = values(before.store.variables);
    before.store.dispose();
    expect(exportedConfig().projectWhenDrawing).toBeUndefined();
    stderr.mockClear();
    await train({ ...config(2), projectWhenDrawing: true }, done, false);
    expect(stderr.mock.calls.map(([m]) => String(m)).join('')).toMatch(/already trained for 2 epochs[\s\S]*now projects its image onto Stage I's when drawing/);
    expect(exportedConfig().projectWhenDrawing).toBe(true);
    const after = await loadStage2Generator(path.join(done, 'generator'));
    expect(values(after.store.variables)).toEqual(weightsBefore);
    after.store.dispose();
    // And back: switched off again, the export says so.
    await train(config(2), done, false);
    expect(exportedConfig().projectWhenDrawing).toBeUndefined();
  }, 180_000);

  // The input skip starts the last conv at zero, so no gradient reaches the layers before it at
  // the first step: two steps must move every generator weight all the same.
  it('with every departure on (input skip, consistency, upsampler), two steps move every generator weight and log both terms', async () => {
    const run = await train(tinyStage2({ ndf: 1, shuffleRows: 2, epochs: 2, inputSkip: true, consistencyWeight: 1, upsamplerWeight: 1 }));
    expect(run.leaked).toBe(0);
    expect(unmovedGeneratorWeights(run)).toEqual([]);
    const metrics = readFileSync(path.join(run.outDir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    for (const key of ['g_consistency', 'g_upsampler']) expect(Number.isFinite(metrics[1][key]), key).toBe(true);
  }, 180_000);

  it("with a weight average, exports the generator's average where every reader looks and its trained weights beside it", async () => {
    const run = await train(tinyStage2({ ndf: 1, shuffleRows: 2, epochs: 2, inputSkip: true, weightAverage: 0.5 }));
    expect(run.leaked).toBe(0);
    const read = async (dir: string) => {
      const loaded = await loadStage2Generator(generatorDir(dir));
      const weights = values(loaded.store.variables);
      loaded.store.dispose();
      return weights;
    };
    const config = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')).config;
    expect([config(run.outDir).weightAverage, config(path.join(run.outDir, 'trained')).weightAverage]).toEqual([0.5, undefined]);
    const average = await read(run.outDir);
    const trained = await read(path.join(run.outDir, 'trained'));
    // The trained export is the run's last generator; the average differs from it, being part the first step's.
    for (const [name, w] of Object.entries(trained)) expect(w, name).toEqual(run.weights[name]);
    expect(Object.keys(average).filter((n) => average[n].some((v, i) => v !== trained[n][i])).length).toBeGreaterThan(0);
    expect(Object.keys(average).some((n) => n.startsWith('d/'))).toBe(false);
  }, 180_000);

  it('detail only: two steps move every generator weight through the block-mean-free correction', async () => {
    const run = await train(tinyStage2({ ndf: 1, shuffleRows: 2, epochs: 2, detailOnly: true }));
    expect(run.leaked).toBe(0);
    expect(unmovedGeneratorWeights(run)).toEqual([]);
  }, 180_000);
});

