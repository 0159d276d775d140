import { gatherRows, readTable, repeatEachRow, readMetrics, requireArtifact, span, stepDir, writeFileAtomic, writeJsonAtomic } from '@t2i/core';
import { tf } from '@t2i/backends';
import { noiseRows, toBytes, writeImageGrid, writePng } from '@t2i/gan';
import { captionsFile } from 'captions';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { upscaleImages } from 'preprocess-images';
import { SIZE, type Stage } from 't2i';
import { chart, escapeHtml, PALETTE, type Series } from './charts.ts';
import type { EvaluateConfig } from './config.ts';
import type { Measurement } from './measure.ts';
import { movingAverage } from './metrics.ts';
import type { Detail } from './detail.ts';
import { FEATURE_NOTE, GENERATED_SETS, scoresArrowFile, scoresJsonFile, SET_SHAPE, writeScoresArrow, type GeneratedSet, type PerImage, type ScoresJson, type StageScores } from './scores.ts';

export const reportFile = (outDir: string) => path.join(outDir, 'report.html');
/** The report's images, beside it: report.html refers to them by relative path. */
export const reportAssetsDir = (outDir: string) => path.join(outDir, 'report');

export interface RankedImage {
  imageId: string;
  classId: number;
  caption: string;
  /** The score the picks are ranked by. */
  score: number;
  /** Relative paths of the Stage I image, the same upscaled to 256 (lanczos3), and the Stage II one. */
  low: string;
  upscaled: string;
  high?: string;
}

export interface TrainingHistory {
  stage: 'stage1' | 'stage2';
  /** metrics.jsonl records, one per epoch. */
  losses: Record<string, number>[];
  /** Fixed-noise grids of chosen epochs (relative paths). */
  grids: { epoch: number; file: string }[];
  /** The grids as one animated WebP (relative path), and the epochs it runs through. */
  animation?: { file: string; epochs: number[] };
}

/** Up to `count` of `all`, evenly spaced, the last always among them. */
export function evenlySpaced<T>(all: T[], count: number): T[] {
  const k = Math.min(count, all.length);
  return [...new Set(Array.from({ length: k }, (_, i) => all[Math.round(((i + 1) * all.length) / k) - 1]))];
}

/** Widest frame of a training animation: Stage II's full-size grids are 2,000 px across. */
const ANIMATION_WIDTH = 1040;
/** Milliseconds each epoch's grid is shown, and the last one. */
const FRAME_MS = 250;
const LAST_FRAME_MS = 2000;

/**
 * The grids in one animated WebP (sharp joins the frames; WebP at quality 80 is a quarter of a
 * GIF's size for these noisy images and encodes 25 times faster). Every frame is fitted into the
 * first one's size, in case a grid's shape changed.
 */
async function writeAnimation(file: string, grids: string[]): Promise<void> {
  const first = await sharp(grids[0]).metadata();
  const width = Math.min(first.width, ANIMATION_WIDTH);
  const height = Math.round((first.height * width) / first.width);
  const frames = await Promise.all(grids.map((g) => sharp(g).resize(width, height, { fit: 'contain', background: '#ffffff' }).png().toBuffer()));
  const delay = frames.map((_, i) => (i === frames.length - 1 ? LAST_FRAME_MS : FRAME_MS));
  await writeFileAtomic(file, await sharp(frames, { join: { animated: true } }).webp({ quality: 80, delay, loop: 0 }).toBuffer());
}

export interface ReportInput {
  scores: ScoresJson;
  /** The 8 reference captions, and their grids (rows: captions, columns: samples with shared noise): Stage I, Stage I upscaled, Stage II. */
  reference: { text: string[]; samples: number; low: string; upscaled: string; high?: string };
  /** Best and worst generated images by `rankedBy`. */
  top: RankedImage[];
  bottom: RankedImage[];
  rankedBy: string;
  stage1: PerImage;
  stage2?: PerImage;
  movingAverage: number;
  history: TrainingHistory[];
}

/**
 * metrics.jsonl of a GAN stage, thumbnails of up to `count` of its grids and an animation of up to
 * `frames` of them (each evenly spaced, the last always), written into `assets`.
 */
export async function trainingHistory(stage: 'stage1' | 'stage2', assets: string, count: number, frames: number): Promise<TrainingHistory | undefined> {
  const dir = stepDir(stage);
  const metrics = path.join(dir, 'metrics.jsonl');
  if (!existsSync(metrics)) return undefined;
  const losses = readMetrics(metrics);
  const gridDir = path.join(dir, 'grids');
  const all = existsSync(gridDir) ? (await fs.readdir(gridDir)).filter((n) => /^epoch-\d+\.png$/.test(n)).sort() : [];
  const epochOf = (name: string) => Number(/\d+/.exec(name)![0]);
  const rel = (file: string) => `${path.basename(assets)}/${file}`;
  const grids = [];
  for (const name of evenlySpaced(all, count)) {
    const file = `${stage}-${name}`;
    await writeFileAtomic(path.join(assets, file), await sharp(path.join(gridDir, name)).resize({ width: 320, withoutEnlargement: true }).png().toBuffer());
    grids.push({ epoch: epochOf(name), file: rel(file) });
  }
  const animated = evenlySpaced(all, frames);
  if (animated.length < 2) return { stage, losses, grids };
  const file = `${stage}-training.webp`;
  await writeAnimation(path.join(assets, file), animated.map((name) => path.join(gridDir, name)));
  return { stage, losses, grids, animation: { file: rel(file), epochs: animated.map(epochOf) } };
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
const pm = (m: { mean: number; std: number }, digits = 2) => `${m.mean.toFixed(digits)} ± ${m.std.toFixed(digits)}`;

/** Each set's column head in the scores table. */
const SET_TITLE: Record<GeneratedSet, string> = {
  stage1: 'Stage I (64x64)',
  stage1Upscaled: 'Stage I upscaled (256x256, lanczos3): the baseline',
  stage2: 'Stage II (256x256)',
};

function scoresTable(s: ScoresJson): string {
  const stages = GENERATED_SETS.map((k) => s.stages[k]);
  const measured = (v: (typeof stages)[number]): v is StageScores => !('skipped' in v);
  const cell = (f: (st: StageScores) => string) => stages.map((st) => `<td>${measured(st) ? f(st) : '<span class="skipped">not measured</span>'}</td>`).join('');
  const detail = (f: (d: Detail) => string) => cell((st) => ('notApplicable' in st.detail ? `<span class="na" title="${escapeHtml(st.detail.notApplicable)}">n/a</span>` : f(st.detail)));
  const rows: [string, string, string, string][] = [
    ['Inception Score (our classifier)', cell((st) => pm(st.inceptionScore)), pm(s.real.inceptionScoreTest), `${s.published.inceptionScore.toFixed(2)}*`],
    ['FID (our classifier features)', cell((st) => `${st.fid.value.toFixed(3)} ± ${st.fid.standardError.toFixed(3)}`), `${s.real.fidTrainVsTest.value.toFixed(3)} (train vs test classes: the floor)`, `${s.published.fid.toFixed(2)}*`],
    ['R-precision (joint encoder)', cell((st) => `${pm(st.rPrecision, 3)} <small>of ${st.rPrecision.candidates}</small>`), '', ''],
    ['Class consistency top-1', cell((st) => pct(st.classConsistency.top1)), s.classifier.testTop1 === null ? '' : `${pct(s.classifier.testTop1)} (classifier on tstid)`, ''],
    ['Class consistency top-5', cell((st) => pct(st.classConsistency.top5)), s.classifier.testTop5 === null ? '' : `${pct(s.classifier.testTop5)} (classifier on tstid)`, ''],
    ["Course score (lower is better)", cell((st) => `${st.courseScore.score.toFixed(3)} <small>= ${st.courseScore.meanCosineDistance.toFixed(3)} + 1/${st.courseScore.spread.toFixed(3)}</small>`), '', ''],
    ['Detail distance (256 px Laplacian bands; lower is better)', detail((d) => d.distance.toFixed(3)), `0 (${s.real.detail.images} real test-class images at 256)`, ''],
    ['Fine-detail ratio (two finest bands; 1 = real photos)', detail((d) => d.fineEnergyRatio.toFixed(3)), '1', ''],
  ];
  const head = stages.map((st, i) => `<th>${SET_TITLE[GENERATED_SETS[i]]}${measured(st) ? `<br><small>${escapeHtml(st.model)}; ${st.images} images</small>` : ''}</th>`).join('');
  return `<table id="scores">
<thead><tr><th>Score</th>${head}<th>Real images</th><th>StackGAN, published*<br><small>not comparable</small></th></tr></thead>
<tbody>${rows.map(([name, cells, real, anchor]) => `<tr><th scope="row">${name}</th>${cells}<td>${real}</td><td class="anchor">${anchor}</td></tr>`).join('\n')}</tbody>
</table>
<p class="note">${escapeHtml(s.note)}</p>
<p class="note">* ${escapeHtml(s.published.protocol)}</p>`;
}

function protocols(s: ScoresJson): string {
  const all = GENERATED_SETS.map((k) => s.stages[k]).filter((st): st is StageScores => !('skipped' in st));
  const measured = all[0];
  const detail = all.map((st) => st.detail).find((d): d is Detail & { protocol: string } => 'protocol' in d);
  const items: [string, string][] = [
    ['Classifier', s.classifier.protocol],
    ['Generated images', s.generated.protocol],
    ...GENERATED_SETS.flatMap((k): [string, string][] => {
      const st = s.stages[k];
      return 'skipped' in st ? [[SET_TITLE[k], `not measured: ${st.skipped}`]] : [];
    }),
    ...(measured
      ? ([
          ['Inception Score', measured.inceptionScore.protocol],
          ['FID', measured.fid.protocol],
          ['R-precision', measured.rPrecision.protocol],
          ['Class consistency', measured.classConsistency.protocol],
          ["Course score", measured.courseScore.protocol],
        ] as [string, string][])
      : []),
    ...(detail ? ([['Detail distance and fine-detail ratio', detail.protocol]] as [string, string][]) : []),
    ['Real images\' band energies', `${s.real.detail.protocol} ${s.real.detail.meanEnergy.map((e) => e.toFixed(4)).join(', ')}.`],
    ['Real test-class Inception Score', s.real.inceptionScoreTest.protocol],
    ['FID floor', s.real.fidTrainVsTest.protocol],
  ];
  return `<dl class="protocols">${items.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>`;
}

function picks(title: string, list: RankedImage[], rankedBy: string): string {
  const figure = (p: RankedImage) => `<figure class="pick">
<div><img src="${p.low}" width="128" height="128" alt="Stage I"><img src="${p.upscaled}" width="256" height="256" alt="Stage I upscaled">${p.high ? `<img src="${p.high}" width="256" height="256" alt="Stage II">` : ''}</div>
<figcaption>${escapeHtml(rankedBy)} ${p.score.toFixed(3)}; class ${p.classId}, ${escapeHtml(p.imageId)}<br><q>${escapeHtml(p.caption)}</q></figcaption></figure>`;
  return `<h3>${escapeHtml(title)}</h3><div class="picks">${list.map(figure).join('')}</div>`;
}

function stageComparison(input: ReportInput): string {
  if (!input.stage2) return '<p class="skipped">Stage II was not measured, so there is nothing to compare Stage I with.</p>';
  const s2 = input.stage2;
  const compare = (title: string, label: string, a: ArrayLike<number>, b: ArrayLike<number>, unit?: [number, number]) => {
    const order = Array.from(a, (_, i) => i).sort((i, j) => a[i] - a[j]);
    const trend = movingAverage(order.map((i) => b[i]), input.movingAverage);
    const lo = unit?.[0] ?? Math.min(...Array.from(a), ...Array.from(b));
    const hi = unit?.[1] ?? Math.max(...Array.from(a), ...Array.from(b));
    const series: Series[] = [
      { name: 'one caption + noise', points: Array.from(a, (x, i) => [x, b[i]]), color: PALETTE[0], dots: true },
      { name: `moving average (${input.movingAverage})`, points: order.map((i, k) => [a[i], trend[k]]), color: PALETTE[1] },
      { name: 'Stage II = Stage I', points: [[lo, lo], [hi, hi]], color: PALETTE[7], dashed: true },
    ];
    return chart({ title, xLabel: `Stage I: ${label}`, yLabel: `Stage II: ${label}`, series, xRange: unit, yRange: unit });
  };
  return `<p>Each dot is one caption and noise draw: its Stage I image (x) and the Stage II image refined from it (y). The red line is the moving average of y over ${input.movingAverage} neighbours in x.</p><div class="charts">${compare('Probability of the caption\'s class', 'p(true class)', input.stage1.pTrue, s2.pTrue, [0, 1])}${compare('Cosine distance to the ground-truth image (lower is better)', 'cosine distance', input.stage1.cosineDistance, s2.cosineDistance)}</div>`;
}

function lossCurves(h: TrainingHistory): string {
  const keys = [...new Set(h.losses.flatMap((r) => Object.keys(r)))].filter((k) => /^[dg]_/.test(k));
  const series = keys.map((k, i) => ({ name: k, points: h.losses.map((r) => [r.epoch, r[k]] as [number, number]), color: PALETTE[i % PALETTE.length] }));
  return chart({ title: `${h.stage} losses per epoch`, xLabel: 'epoch', yLabel: 'loss', series, width: 760 });
}

function gridStrip(h: TrainingHistory): string {
  if (h.grids.length === 0) return `<p class="skipped">${h.stage} wrote no grids.</p>`;
  return `<div class="strip">${h.grids.map((g) => `<figure><img src="${g.file}" width="320" alt="${h.stage} epoch ${g.epoch}"><figcaption>${h.stage} epoch ${g.epoch}</figcaption></figure>`).join('')}</div>`;
}

function animation(h: TrainingHistory): string {
  if (!h.animation) return '';
  const { file, epochs } = h.animation;
  return `<figure><img class="grid" src="${file}" alt="${h.stage} training, animated"><figcaption>The same grid at ${epochs.length} epochs from ${epochs[0]} to ${epochs[epochs.length - 1]}, ${FRAME_MS} ms each (the last held ${LAST_FRAME_MS / 1000} s), then again.</figcaption></figure>`;
}

const STYLE = `body{font-family:sans-serif;max-width:1200px;margin:1em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f3f3f3}.anchor{color:#888}.note{color:#555;font-size:90%}.skipped{color:#a33}
.picks,.strip,.charts{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
figure{margin:0}figcaption{font-size:85%;max-width:650px}.na{color:#888}.pick>div{display:flex;gap:4px;align-items:flex-start}.pick img{image-rendering:pixelated}
img.grid{max-width:100%;image-rendering:pixelated}dl.protocols dt{font-weight:bold;margin-top:.5em}dl.protocols dd{margin-left:1em;font-size:90%}
ol.captions li{margin:2px 0}`;

export function renderReport(input: ReportInput): string {
  const s = input.scores;
  const c = s.classifier;
  const ref = input.reference;
  const histories = input.history;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>t2i evaluation report</title><style>${STYLE}</style></head>
<body>
<h1>t2i: StackGAN on Oxford-102, evaluation</h1>
<p>Config <code>${escapeHtml(String(s.config.name))}</code>, backend ${escapeHtml(s.backend)}. ${escapeHtml(s.generated.protocol)}</p>
<p>Feature network: a flower classifier trained here on ${c.trainImages} real images of ${c.classes.length} classes (setid.mat's trnid + valid), ${c.testTop1 === null ? 'with no held-out images' : `${pct(c.testTop1)} top-1 / ${pct(c.testTop5!)} top-5 on ${c.testImages} held-out images (tstid)`}. ${escapeHtml(FEATURE_NOTE)}</p>

<h2>Scores</h2>
${scoresTable(s)}
<details><summary>How each number is measured</summary>${protocols(s)}</details>

<h2>The reference captions</h2>
<ol class="captions">${ref.text.map((t) => `<li>${escapeHtml(t)}</li>`).join('')}</ol>
<p>Rows: the captions above, in order; columns: ${ref.samples} noise draws, the same in every row.</p>
<h3>Stage I, 64x64</h3><img class="grid" src="${ref.low}" alt="reference captions at 64x64">
<h3>Stage I upscaled to 256x256 (lanczos3): the baseline</h3><img class="grid" src="${ref.upscaled}" alt="reference captions, Stage I upscaled to 256x256">
${ref.high ? `<h3>Stage II, 256x256</h3><img class="grid" src="${ref.high}" alt="reference captions at 256x256">` : `<p class="skipped">No Stage II images: ${escapeHtml('skipped' in s.stages.stage2 ? s.stages.stage2.skipped : '')}</p>`}

<h2>Best and worst generated images</h2>
<p>Ranked by ${escapeHtml(input.rankedBy)} (our classifier), among all generated images of test-class captions: Stage I (shown at 128), right of it the same image upscaled to 256 with lanczos3${input.stage2 ? ', then Stage II from the same caption and noise' : ''}.</p>
${picks('Top 3', input.top, input.rankedBy)}
${picks('Bottom 3', input.bottom, input.rankedBy)}

<h2>Stage I against Stage II, per image</h2>
${stageComparison(input)}

<h2>Training</h2>
${histories.length === 0 ? '<p class="skipped">No metrics.jsonl from stage1 or stage2.</p>' : ''}
${histories.map((h) => `<h3>${h.stage}</h3>${lossCurves(h)}<p>Fixed-noise grids over epochs (reference captions in rows, the same noise in every grid):</p>${gridStrip(h)}${animation(h)}`).join('\n')}
</body></html>
`;
}

/**
 * What evaluate writes of a measurement: scores.json, scores.arrow, and report.html with its
 * images (the reference captions' grids and the best and worst images, drawn again from their
 * caption and noise: inference is deterministic; the training history of both stages).
 */
export async function writeReport(outDir: string, m: Measurement, config: EvaluateConfig): Promise<void> {
  const { scores, items, perSet, vectors, pipeline } = m;
  await writeJsonAtomic(scoresJsonFile(outDir), scores);
  await writeScoresArrow(scoresArrowFile(outDir), items, perSet);

  const assets = reportAssetsDir(outDir);
  await fs.rm(assets, { recursive: true, force: true });
  await fs.mkdir(assets, { recursive: true });
  const rel = (name: string) => `${path.basename(assets)}/${name}`;
  // Stage I's images upscaled with lanczos3 beside Stage II's: what evaluate's baseline set scores.
  const bytes = async (images: { low: tf.Tensor4D; high?: tf.Tensor4D }) => {
    const count = images.low.shape[0];
    const low = toBytes((await images.low.data()) as Float32Array);
    const high = images.high ? toBytes((await images.high.data()) as Float32Array) : undefined;
    tf.dispose([images.low, ...(images.high ? [images.high] : [])]);
    return { low, upscaled: await upscaleImages(low, count, SIZE[1], SIZE[2]), high };
  };
  const dims = pipeline.generators().dims;

  // The reference grids: every caption with the same noise columns, so columns compare.
  const n = config.referenceSamples;
  const rows = vectors.reference.length / vectors.dim;
  const reference = await bytes(pipeline.draw(repeatEachRow(vectors.reference, vectors.dim, n), noiseRows(pipeline.noise(n, config.seed + 1), dims, span(0, rows * n).map((i) => i % n))));
  await writeImageGrid(path.join(assets, 'reference-64.png'), reference.low, rows * n, SIZE[1], { cols: n, cell: 128 });
  await writeImageGrid(path.join(assets, 'reference-256-upscaled.png'), reference.upscaled, rows * n, SIZE[2], { cols: n });
  if (reference.high) await writeImageGrid(path.join(assets, 'reference-256.png'), reference.high, rows * n, SIZE[2], { cols: n });

  // Best and worst by the classifier's probability of the caption's class, at the last stage measured.
  const last = perSet.find((p) => p.set === 'stage2') ?? perSet.find((p) => p.set === 'stage1')!;
  const order = Array.from(items, (_, i) => i).sort((a, b) => last.perImage.pTrue[b] - last.perImage.pTrue[a]);
  const chosen = [...order.slice(0, 3), ...order.slice(-3)];
  const pictures = await bytes(pipeline.draw(gatherRows(m.captions.vectors, vectors.dim, chosen.map((i) => items[i].captionRow)), noiseRows(m.noise, dims, chosen)));
  const texts = await captionTexts();
  const picks: RankedImage[] = [];
  for (const [j, i] of chosen.entries()) {
    const item = items[i];
    const low = `pick-${j + 1}-64.png`;
    const upscaled = `pick-${j + 1}-256-upscaled.png`;
    const high = `pick-${j + 1}-256.png`;
    const stride = (s: Stage) => SIZE[s] * SIZE[s] * 3;
    await writeImageGrid(path.join(assets, low), pictures.low.subarray(j * stride(1), (j + 1) * stride(1)), 1, SIZE[1], { cols: 1, cell: 128, gap: 0 });
    await writePng(path.join(assets, upscaled), pictures.upscaled.subarray(j * stride(2), (j + 1) * stride(2)), SIZE[2], SIZE[2]);
    if (pictures.high) await writePng(path.join(assets, high), pictures.high.subarray(j * stride(2), (j + 1) * stride(2)), SIZE[2], SIZE[2]);
    picks.push({ imageId: item.imageId, classId: item.classId, caption: texts.get(`${item.imageId}#${item.captionIndex}`) ?? '', score: last.perImage.pTrue[i], low: rel(low), upscaled: rel(upscaled), high: pictures.high ? rel(high) : undefined });
  }

  const history = (await Promise.all((['stage1', 'stage2'] as const).map((s) => trainingHistory(s, assets, config.gridEpochs, config.animationFrames)))).filter((h): h is TrainingHistory => h !== undefined);
  const perImage = (set: GeneratedSet): PerImage | undefined => perSet.find((p) => p.set === set)?.perImage;
  const html = renderReport({
    scores,
    reference: { text: vectors.referenceText, samples: n, low: rel('reference-64.png'), upscaled: rel('reference-256-upscaled.png'), high: reference.high ? rel('reference-256.png') : undefined },
    top: picks.slice(0, 3),
    bottom: picks.slice(3),
    rankedBy: `p(caption's class), Stage ${SET_SHAPE[last.set].stage}`,
    stage1: perImage('stage1')!,
    stage2: perImage('stage2'),
    movingAverage: config.movingAverage,
    history,
  });
  await writeFileAtomic(reportFile(outDir), html);
}

/** Every caption's original text, by "<image id>#<caption index>". */
async function captionTexts(): Promise<Map<string, string>> {
  const table = await readTable(requireArtifact(captionsFile(stepDir('captions')), 'pnpm turbo run captions'));
  const ids = table.getChild('image_id')!;
  const index = table.getChild('caption_index')!;
  const text = table.getChild('text')!;
  return new Map(Array.from({ length: table.numRows }, (_, i) => [`${ids.get(i)}#${index.get(i)}`, text.get(i) as string]));
}
