import { ArtifactError, repoRoot, writeJsonAtomic } from '@t2i/core';
import { tf } from '@t2i/backends';
import { loadTensors, saveTensors } from '@t2i/gan';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

/** The models that ship in the repository, so that `t2i generate` works right after install. */
export const shippedDir = () => process.env.T2I_MODELS ?? path.join(repoRoot, 'models');

/** What models/manifest.json says: how each model was trained, and the size and sha256 of every file. */
export const ShippedManifest = z.object({
  description: z.string(),
  dataset: z.string(),
  /** The sentence encoder's training (its id is a digest of its weights and vocabulary). */
  encoder: z.object({ dir: z.string(), id: z.string(), config: z.unknown(), epochs: z.number(), trainingSeconds: z.number() }),
  stage1: z.object({ dir: z.string(), config: z.unknown(), epoch: z.number(), plannedEpochs: z.number(), trainingSeconds: z.number() }),
  stage2: z.object({ dir: z.string(), config: z.unknown(), epoch: z.number(), trainingSeconds: z.number() }).optional(),
  /** evaluate's scores of these models, with their protocol; null until they are measured. */
  scores: z.unknown().nullable(),
  files: z.record(z.string(), z.object({ bytes: z.number().int(), sha256: z.string() })),
});
export type ShippedManifest = z.infer<typeof ShippedManifest>;

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Every file of a folder, as paths relative to `root`. */
function filesUnder(root: string, dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(root, path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

const MAX_FILE_BYTES = 10e6;
const MAX_TOTAL_BYTES = 25e6;

const RESTORE = 'restore it with `git checkout -- models/`';

/**
 * The shipped manifest, once every file it lists is there with its size and sha256; a missing,
 * truncated or altered file is named with the way to restore it. Undefined where nothing ships.
 */
export function verifyShipped(dir = shippedDir()): ShippedManifest | undefined {
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(file)) return undefined;
  let manifest: ShippedManifest;
  try {
    manifest = ShippedManifest.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new ArtifactError(`${file} is damaged (${(err as Error).message.split('\n')[0]}); ${RESTORE}`);
  }
  for (const [name, want] of Object.entries(manifest.files)) {
    const f = path.join(dir, name);
    if (!existsSync(f)) throw new ArtifactError(`${f} is missing; ${RESTORE}`);
    const bytes = statSync(f).size;
    if (bytes !== want.bytes) throw new ArtifactError(`${f} is damaged: ${bytes} bytes where the manifest says ${want.bytes}; ${RESTORE}`);
    const sum = sha256(f);
    if (sum !== want.sha256) throw new ArtifactError(`${f} is damaged: sha256 ${sum.slice(0, 12)}… where the manifest says ${want.sha256.slice(0, 12)}…; ${RESTORE}`);
  }
  return manifest;
}

/** A tensor folder rewritten in float16. */
async function shipTensors(from: string, to: string): Promise<void> {
  const { groups, meta } = await loadTensors(from);
  try {
    await saveTensors(to, { weights: groups.weights }, meta, { float16: true, finite: true });
  } finally {
    tf.dispose(Object.values(groups).flatMap((g) => Object.values(g)));
  }
}

export interface ShipSources {
  /** The trained encoder folder (embeddings' encoder/), Stage I's and (optionally) Stage II's exported generator folders. */
  encoder: string;
  stage1: string;
  stage2?: string;
  /** What the manifest says besides the files: dataset, trainings, scores. */
  about: Omit<ShippedManifest, 'files' | 'encoder' | 'stage1' | 'stage2'> & {
    encoder: Omit<ShippedManifest['encoder'], 'dir'>;
    stage1: Omit<ShippedManifest['stage1'], 'dir'>;
    stage2?: Omit<NonNullable<ShippedManifest['stage2']>, 'dir'>;
  };
}

/** The part of evaluate's scores.json that decides whether a Stage II is worth shipping. */
const StageScores = z.object({
  epoch: z.number().optional(),
  stage1Epoch: z.number().optional(),
  fid: z.object({ value: z.number() }),
  rPrecision: z.object({ mean: z.number() }),
  detail: z.object({ distance: z.number() }).partial(),
});
const Scores = z.object({ stages: z.object({ stage1: StageScores, stage1Upscaled: StageScores.optional(), stage2: StageScores.optional() }) });
const Difference = z.object({ difference: z.number(), standardError: z.number() });
/** evaluate's image-by-image comparison, where the scores have one: said beside the verdict, which it does not change. */
const Paired = z.object({ paired: z.object({ stage2VsStage1: z.object({ rPrecision: Difference }), stage2VsStage1Upscaled: z.object({ fid: Difference }) }) });

/** `stale`: the scores are of another model than the one to ship, so they decide nothing. */
type Verdict = { ship: boolean; reason: string; stale?: true };

/** Ships when every check passes; the reason names them all when it does, the failed ones when not. */
function judge(checks: { ok: boolean; say: string }[], passed: string, failed: string): Verdict {
  const ship = checks.every((c) => c.ok);
  return { ship, reason: ship ? `${passed}: ${checks.map((c) => c.say).join(', ')}` : `${failed}: ${checks.filter((c) => !c.ok).map((c) => c.say).join(', ')}` };
}

/**
 * Scores of another model than the one to ship decide nothing: the first check whose scored value
 * differs from the generator's, as a stale verdict (a value the scores do not record is not held against them).
 */
function staleness(checks: { scored?: number; generator: number; say: string }[]): Verdict | undefined {
  const differs = checks.find((c) => c.scored !== undefined && c.scored !== c.generator);
  return differs && { ship: false, stale: true, reason: `the run's scores are ${differs.say}; run evaluate on it again` };
}

/**
 * Whether a Stage II earns its place beside Stage I: it must beat Stage I upscaled with lanczos3
 * (what generate writes at 256 without it) on FID and on the 256 px detail distance, with an
 * R-precision no lower than Stage I's. The reason names the figures either way. `generator`, the
 * Stage II to ship (its epoch, and its frozen Stage I's): scores of another say nothing about it.
 */
export function stage2Verdict(scores: unknown, generator?: { epoch: number; stage1Epoch: number }): Verdict {
  const parsed = Scores.safeParse(scores);
  const { stage1, stage1Upscaled: up, stage2 } = parsed.success ? parsed.data.stages : ({} as Partial<z.infer<typeof Scores>['stages']>);
  if (!stage1 || !up || !stage2 || stage2.detail.distance === undefined || up.detail.distance === undefined) {
    return { ship: false, reason: 'the scores hold no Stage II and Stage I upscaled rows to compare; run evaluate with both models' };
  }
  const stale = generator && staleness([
    { scored: stage2.epoch, generator: generator.epoch, say: `of Stage II at epoch ${stage2.epoch}, its generator is at epoch ${generator.epoch}` },
    { scored: stage2.stage1Epoch, generator: generator.stage1Epoch, say: `of a Stage II trained on Stage I epoch ${stage2.stage1Epoch}, its generator on epoch ${generator.stage1Epoch}` },
  ]);
  if (stale) return stale;
  const f = (x: number) => x.toFixed(3);
  const { ship, reason } = judge([
    { ok: stage2.fid.value < up.fid.value, say: `FID ${f(stage2.fid.value)} against the upscale's ${f(up.fid.value)}` },
    { ok: stage2.detail.distance < up.detail.distance, say: `detail distance ${f(stage2.detail.distance)} against ${f(up.detail.distance)}` },
    { ok: stage2.rPrecision.mean >= stage1.rPrecision.mean, say: `R-precision ${f(stage2.rPrecision.mean)} against Stage I's ${f(stage1.rPrecision.mean)}` },
  ], 'Stage II beats Stage I upscaled', 'Stage II does not beat Stage I upscaled');
  const paired = Paired.safeParse(scores);
  if (!paired.success) return { ship, reason };
  const d = ({ difference, standardError }: z.infer<typeof Difference>) => `${difference >= 0 ? '+' : ''}${f(difference)} ± ${f(standardError)}`;
  const { stage2VsStage1: vs1, stage2VsStage1Upscaled: vsUp } = paired.data.paired;
  return { ship, reason: `${reason} (image by image: FID ${d(vsUp.fid)} against the upscale, R-precision ${d(vs1.rPrecision)} against Stage I)` };
}

/** The part of evaluate's scores.json that says how good a Stage I is, read against its classifier's floor. */
const Stage1Scores = z.object({
  stages: z.object({ stage1: z.object({ epoch: z.number().optional(), fid: z.object({ value: z.number() }), classConsistency: z.object({ top1: z.number(), top5: z.number() }) }) }),
  real: z.object({ fidTrainVsTest: z.object({ value: z.number() }) }),
});

/**
 * Whether a newly trained Stage I may replace the shipped one: its FID no further from its floor
 * (each evaluate trains its own classifier, so FIDs compare as multiples of their floor) and its
 * class top-1 and top-5 no lower. Nothing shipped, or shipped without scores: it ships. `epoch`,
 * the generator's to ship: scores of another epoch of it say nothing about it.
 */
export function stage1Verdict(candidate: unknown, shipped: unknown, epoch?: number): Verdict {
  if (shipped === null || shipped === undefined) return { ship: true, reason: 'nothing scored ships now' };
  const now = Stage1Scores.safeParse(shipped);
  if (!now.success) return { ship: true, reason: "the shipped models' scores hold no Stage I row to compare with" };
  const next = Stage1Scores.safeParse(candidate);
  if (!next.success) return { ship: false, reason: 'the run has no Stage I scores to compare with the shipped ones; run evaluate on it first' };
  const scored = next.data.stages.stage1.epoch;
  const stale = epoch !== undefined && staleness([{ scored, generator: epoch, say: `of Stage I at epoch ${scored}, its generator is at epoch ${epoch}` }]);
  if (stale) return stale;
  const read = (s: z.infer<typeof Stage1Scores>) => ({ ratio: s.stages.stage1.fid.value / s.real.fidTrainVsTest.value, ...s.stages.stage1.classConsistency });
  const [a, b] = [read(next.data), read(now.data)];
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return judge([
    { ok: a.ratio <= b.ratio, say: `FID ${a.ratio.toFixed(3)}x its floor against ${b.ratio.toFixed(3)}x` },
    { ok: a.top1 >= b.top1, say: `class top-1 ${pct(a.top1)} against ${pct(b.top1)}` },
    { ok: a.top5 >= b.top5, say: `class top-5 ${pct(a.top5)} against ${pct(b.top5)}` },
  ], 'Stage I is no worse than the shipped one', 'Stage I scores worse than the shipped one');
}

/**
 * Writes models/: the sentence encoder, the Stage I generator and, when given, the Stage II
 * generator in float16, and the manifest with every file's sha256. The encoder's image side goes
 * too, though drawing reads only its text side: evaluate's R-precision
 * ranks with it, so the shipped models stay measurable after the run that trained them is gone.
 * A Stage II shipped before and not given now is removed.
 */
export async function shipModels(sources: ShipSources, dir = shippedDir()): Promise<ShippedManifest> {
  if (Boolean(sources.stage2) !== Boolean(sources.about.stage2)) throw new Error('shipModels: a Stage II folder needs its manifest entry, and the other way round');
  await shipTensors(sources.encoder, path.join(dir, 'encoder'));
  await shipTensors(sources.stage1, path.join(dir, 'stage1'));
  rmSync(path.join(dir, 'stage2'), { recursive: true, force: true });
  if (sources.stage2) await shipTensors(sources.stage2, path.join(dir, 'stage2'));
  const folders = sources.stage2 ? ['encoder', 'stage1', 'stage2'] : ['encoder', 'stage1'];
  const names = folders.flatMap((f) => filesUnder(dir, f)).filter((f) => !path.basename(f).startsWith('.'));
  const files = Object.fromEntries(names.sort().map((f) => [f, { bytes: statSync(path.join(dir, f)).size, sha256: sha256(path.join(dir, f)) }]));
  // What a clone carries for every user: each model small enough to review and fetch.
  const tooLarge = Object.entries(files).filter(([, f]) => f.bytes > MAX_FILE_BYTES);
  if (tooLarge.length) throw new ArtifactError(`models to ship must be under 10 MB each: ${tooLarge.map(([n, f]) => `${n} ${(f.bytes / 1e6).toFixed(1)} MB`).join(', ')}`);
  const total = Object.values(files).reduce((n, f) => n + f.bytes, 0);
  if (total > MAX_TOTAL_BYTES) throw new ArtifactError(`models to ship must be under 25 MB together: ${(total / 1e6).toFixed(1)} MB`);
  const { stage2, ...about } = sources.about;
  const manifest: ShippedManifest = {
    ...about,
    encoder: { dir: 'encoder', ...about.encoder },
    stage1: { dir: 'stage1', ...about.stage1 },
    ...(stage2 && { stage2: { dir: 'stage2', ...stage2 } }),
    files,
  };
  await writeJsonAtomic(path.join(dir, 'manifest.json'), manifest);
  return manifest;
}
