import { Rng } from '@t2i/core';
import { writePng } from '@t2i/gan';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { evenlySpaced, renderReport, trainingHistory, type ReportInput } from '../src/report.ts';
import { DETAIL_BANDS } from '../src/detail.ts';
import { FEATURE_NOTE, PROTOCOL, PUBLISHED, scoreStage, type Reference, type ScoresJson } from '../src/scores.ts';
import { checkPage, checkPageFiles } from './chromium.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 't2i-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function image(name: string, size: number, seed: number): Promise<string> {
  const rng = new Rng(seed);
  await writePng(path.join(dir, 'report', name), Uint8Array.from({ length: size * size * 3 }, () => rng.int(256)), size, size);
  return `report/${name}`;
}

/**
 * trainingHistory of a stage1 folder under `root` holding `epochs` random grids and their metrics,
 * with its thumbnails and animation written to `root`/report, as the report's assets.
 */
async function historyOf(root: string, epochs: number, count: number, frames: number) {
  const previous = process.env.T2I_ARTIFACTS;
  process.env.T2I_ARTIFACTS = path.join(root, 'artifacts');
  try {
    for (let epoch = 1; epoch <= epochs; epoch++) {
      const rng = new Rng(epoch);
      await writePng(path.join(root, 'artifacts', 'stage1', 'grids', `epoch-${String(epoch).padStart(4, '0')}.png`), Uint8Array.from({ length: 40 * 40 * 3 }, () => rng.int(256)), 40, 40);
    }
    writeFileSync(path.join(root, 'artifacts', 'stage1', 'metrics.jsonl'), Array.from({ length: epochs }, (_, i) => JSON.stringify({ epoch: i + 1, d_loss: 1 / (i + 1) })).join('\n'));
    mkdirSync(path.join(root, 'report'), { recursive: true });
    return (await trainingHistory('stage1', path.join(root, 'report'), count, frames))!;
  } finally {
    if (previous === undefined) delete process.env.T2I_ARTIFACTS;
    else process.env.T2I_ARTIFACTS = previous;
  }
}

/** A report of made-up scores and images, in the shape the evaluate stage writes. */
async function syntheticReport(withStage2: boolean): Promise<ReportInput> {
  const rng = new Rng(5);
  const n = 20;
  const classes = 3;
  const probs = () => {
    const p = Float32Array.from({ length: n * classes }, () => rng.next());
    for (let i = 0; i < n; i++) {
      const sum = p[i * classes] + p[i * classes + 1] + p[i * classes + 2];
      for (let c = 0; c < classes; c++) p[i * classes + c] /= sum;
    }
    return p;
  };
  const normal = (count: number) => Float32Array.from({ length: count }, () => rng.normal());
  const ref: Reference = {
    classes,
    featureDim: 4,
    labels: Int32Array.from({ length: n }, (_, i) => i % classes),
    truthFeatures: normal(n * 4),
    realTest: normal(30 * 4),
    captions: normal(n * 2),
    captionDim: 2,
    candidates: Array.from({ length: n }, (_, i) => [i, (i + 1) % n, (i + 2) % n]),
    candidatesNote: '',
    splits: 2,
    realBands: Float32Array.from({ length: 30 * DETAIL_BANDS }, () => 0.02 + 0.01 * rng.next()),
  };
  const bands = () => Float32Array.from({ length: n * DETAIL_BANDS }, () => 0.01 * rng.next());
  const s1 = scoreStage({ set: 'stage1', epoch: 3, model: 'complex G, complex D, ngf 8; config test, epoch 3 of 3', probs: probs(), features: normal(n * 4), joint: normal(n * 2) }, ref);
  const up = scoreStage({ set: 'stage1Upscaled', epoch: 3, model: 'complex G, complex D, ngf 8; config test, epoch 3 of 3; upscaled 64 -> 256 (lanczos3)', probs: probs(), features: normal(n * 4), joint: normal(n * 2), bands: bands() }, ref);
  const s2 = scoreStage({ set: 'stage2', epoch: 2, model: '4 residual blocks; config test, epoch 2 of 2', probs: probs(), features: normal(n * 4), joint: normal(n * 2), bands: bands() }, ref);
  const scores: ScoresJson = {
    note: FEATURE_NOTE,
    config: { name: 'test' },
    backend: 'cpu',
    classifier: { classes: [1, 5, 26], trainImages: 6, testImages: 4, testTop1: 0.5, testTop5: 1, epochs: 1, seconds: 1, protocol: 'a test classifier' },
    generated: { protocol: 'made up', testImages: 10, captionsPerImage: 2, samplesPerCaption: 1, images: n },
    stages: { stage1: s1.scores, stage1Upscaled: up.scores, stage2: withStage2 ? s2.scores : { skipped: 'no Stage II in this test' } },
    real: { inceptionScoreTest: { mean: 1.5, std: 0.1, protocol: 'made up' }, fidTrainVsTest: { value: 12, protocol: PROTOCOL.fidFloor }, detail: { images: 30, meanEnergy: [0.025, 0.025, 0.025, 0.025], protocol: PROTOCOL.realDetail(30) } },
    published: PUBLISHED,
  };
  const pick = async (k: number) => ({
    imageId: `image_0000${k}`,
    classId: 1,
    caption: `a <b>flower</b> & "${k}"`,
    score: 0.5,
    low: await image(`pick-${k}-64.png`, 64, k),
    upscaled: await image(`pick-${k}-256-upscaled.png`, 256, k),
    high: withStage2 ? await image(`pick-${k}-256.png`, 256, k) : undefined,
  });
  return {
    scores,
    reference: { text: ['red petals', 'blue petals'], samples: 2, low: await image('reference-64.png', 64, 10), upscaled: await image('reference-256-upscaled.png', 256, 12), high: withStage2 ? await image('reference-256.png', 256, 11) : undefined },
    top: await Promise.all([1, 2, 3].map(pick)),
    bottom: await Promise.all([4, 5, 6].map(pick)),
    rankedBy: 'p(true class)',
    stage1: s1.perImage,
    stage2: withStage2 ? s2.perImage : undefined,
    movingAverage: 5,
    history: [
      {
        stage: 'stage1',
        losses: [1, 2, 3].map((epoch) => ({ step: epoch * 10, epoch, d_loss: 1.4 - 0.1 * epoch, g_loss: 0.8 + 0.2 * epoch })),
        grids: [{ epoch: 3, file: await image('stage1-epoch-0003.png', 64, 12) }],
        animation: (await historyOf(dir, 3, 1, 3)).animation,
      },
    ],
  };
}

describe('training history', () => {
  it('takes evenly spaced epochs, the last always', () => {
    expect(evenlySpaced([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 3)).toEqual([3, 7, 10]);
    expect(evenlySpaced([1, 2], 5)).toEqual([1, 2]);
    expect(evenlySpaced([1, 2, 3], 1)).toEqual([3]);
  });

  it('thumbnails some grids and animates more of them, one frame an epoch, the last held longest', async () => {
    const root = mkdtempSync(path.join(dir, 'history-'));
    const history = await historyOf(root, 6, 2, 3);
    expect(history.losses).toHaveLength(6);
    expect(history.grids.map((g) => g.epoch)).toEqual([3, 6]);
    expect(history.animation!.epochs).toEqual([2, 4, 6]);
    const meta = await sharp(path.join(root, history.animation!.file), { animated: true }).metadata();
    expect([meta.format, meta.pages, meta.width, meta.pageHeight]).toEqual(['webp', 3, 40, 40]);
    expect(meta.delay).toEqual([250, 250, 2000]);
    expect((await historyOf(root, 6, 2, 1)).animation).toBeUndefined();
  });
});

describe('report page', () => {
  it('loads in headless Chromium with every image and the scores table', async () => {
    const file = path.join(dir, 'report.html');
    const html = renderReport(await syntheticReport(true));
    expect(html).not.toContain('<b>flower</b>');
    expect(html).toContain('complex G, complex D, ngf 8; config test, epoch 3 of 3');
    // The baseline's column stands between Stage I's and Stage II's.
    const head = /<thead>([\s\S]*?)<\/thead>/.exec(html)![1];
    expect(head.indexOf('Stage I (64x64)')).toBeLessThan(head.indexOf('Stage I upscaled'));
    expect(head.indexOf('Stage I upscaled')).toBeLessThan(head.indexOf('Stage II (256x256)'));
    // The detail score reads 256 images alone: n/a for Stage I, numbers for the two others.
    const detailCells = [.../<th scope="row">Detail distance[^<]*<\/th>(.*?)<\/tr>/.exec(html)![1].matchAll(/<td>(.*?)<\/td>/g)].map((m) => m[1]);
    expect(detailCells[0]).toMatch(/>n\/a</);
    expect(detailCells.slice(1, 3).every((c) => /^\d+\.\d{3}$/.test(c))).toBe(true);
    writeFileSync(file, html);
    const check = await checkPage(file);
    // Where no browser is installed, the check from the HTML and files finds the same.
    expect(await checkPageFiles(file)).toEqual(check);
    expect(check.broken).toEqual([]);
    // 3 reference grids (64, upscaled, Stage II), 6 picks at three sizes, 1 training grid and its animation.
    expect(check.images).toBe(23);
    expect(check.scoresTable).toBe(true);
    expect(check.scoreRows).toBe(8);
    // Two Stage I / Stage II charts and one loss chart.
    expect(check.charts).toBe(3);
  });

  it('says when Stage II was not measured, and the check catches a missing image', async () => {
    const file = path.join(dir, 'report-stage1.html');
    const input = await syntheticReport(false);
    const html = renderReport({ ...input, top: [{ ...input.top[0], low: 'report/no-such.png' }, ...input.top.slice(1)] });
    expect(html).toContain('no Stage II in this test');
    expect(html).toMatch(/not measured/);
    // Without a Stage II the baseline is still scored and shown: it is what generate writes at 256 then.
    expect(html).toContain('report/pick-1-256-upscaled.png');
    expect(html).not.toContain('report/pick-1-256.png');
    writeFileSync(file, html);
    const check = await checkPage(file);
    expect(await checkPageFiles(file)).toEqual(check);
    expect(check.broken).toEqual(['report/no-such.png']);
    expect(check.scoresTable).toBe(true);
  });
});
