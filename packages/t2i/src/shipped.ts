import { ArtifactError, repoRoot, writeJsonAtomic } from '@t2i/core';
import { tf } from '@t2i/backends';
import { loadTensors, saveTensors } from '@t2i/gan';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
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

/** A tensor folder rewritten in float16, keeping only the weights `keep` selects. */
async function shipTensors(from: string, to: string, keep: (name: string) => boolean): Promise<void> {
  const { groups, meta } = await loadTensors(from);
  const weights = Object.fromEntries(Object.entries(groups.weights).filter(([name]) => keep(name)));
  try {
    await saveTensors(to, { weights }, meta, { float16: true, finite: true });
  } finally {
    tf.dispose(Object.values(groups).flatMap((g) => Object.values(g)));
  }
}

export interface ShipSources {
  /** The trained encoder folder (embeddings' encoder/) and Stage I's exported generator folder. */
  encoder: string;
  stage1: string;
  /** What the manifest says besides the files: dataset, trainings, scores. */
  about: Omit<ShippedManifest, 'files' | 'encoder' | 'stage1' | 'stage2'> & {
    encoder: Omit<ShippedManifest['encoder'], 'dir'>;
    stage1: Omit<ShippedManifest['stage1'], 'dir'>;
  };
}

/**
 * Writes models/: the encoder's text side and the Stage I generator in float16 (the image side of
 * the encoder is only for training and measuring), and the manifest with every file's sha256.
 */
export async function shipModels(sources: ShipSources, dir = shippedDir()): Promise<ShippedManifest> {
  await shipTensors(sources.encoder, path.join(dir, 'encoder'), (name) => name.startsWith('text/'));
  await shipTensors(sources.stage1, path.join(dir, 'stage1'), () => true);
  const names = [...filesUnder(dir, 'encoder'), ...filesUnder(dir, 'stage1')].filter((f) => !path.basename(f).startsWith('.'));
  const files = Object.fromEntries(names.sort().map((f) => [f, { bytes: statSync(path.join(dir, f)).size, sha256: sha256(path.join(dir, f)) }]));
  // What a clone carries for every user: each model small enough to review and fetch.
  const tooLarge = Object.entries(files).filter(([, f]) => f.bytes > MAX_FILE_BYTES);
  if (tooLarge.length) throw new ArtifactError(`models to ship must be under 10 MB each: ${tooLarge.map(([n, f]) => `${n} ${(f.bytes / 1e6).toFixed(1)} MB`).join(', ')}`);
  const total = Object.values(files).reduce((n, f) => n + f.bytes, 0);
  if (total > MAX_TOTAL_BYTES) throw new ArtifactError(`models to ship must be under 25 MB together: ${(total / 1e6).toFixed(1)} MB`);
  const manifest: ShippedManifest = {
    ...sources.about,
    encoder: { dir: 'encoder', ...sources.about.encoder },
    stage1: { dir: 'stage1', ...sources.about.stage1 },
    files,
  };
  await writeJsonAtomic(path.join(dir, 'manifest.json'), manifest);
  return manifest;
}
