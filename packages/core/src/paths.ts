import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArtifactError } from './errors.ts';

function findRepoRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(path.join(dir, 'pnpm-workspace.yaml'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`t2i: no pnpm-workspace.yaml above ${from}; run t2i from inside its repository`);
    dir = parent;
  }
}

/** Steps run with their package as cwd (pnpm, turbo), yet all artifacts live under one root data/. */
export const repoRoot = findRepoRoot(path.dirname(fileURLToPath(import.meta.url)));

/** The embedded sample: a slice of the real dataset in its official layout, committed with the repo. */
export const sampleDatasetDir = path.join(repoRoot, 'data', 'sample');

/**
 * Relative paths in flags and environment variables are taken from the repository root: pnpm and
 * turbo run each step inside its own package folder, so the caller's cwd is not the step's.
 */
export function fromRoot(p: string): string {
  return path.resolve(repoRoot, p);
}

/** A step's output folder: --out (from the repository root, as pnpm runs each step in its package folder), else data/<step>. */
export function stepOutDir(step: string, out?: string): string {
  return out ? fromRoot(out) : stepDir(step);
}

/** Where steps write; T2I_ARTIFACTS moves it (the tests use a temporary folder). */
export function artifactsDir(): string {
  return fromRoot(process.env.T2I_ARTIFACTS ?? 'data');
}

export function stepDir(step: string): string {
  return path.join(artifactsDir(), step);
}

/** The raw dataset: --data wins over T2I_DATA, which wins over the embedded sample. */
export function resolveDatasetDir(flag?: string): string {
  return fromRoot(flag ?? process.env.T2I_DATA ?? sampleDatasetDir);
}

/** An upstream JSON artifact, failing with its name rather than a bare SyntaxError when it is damaged. */
export function readJson<T>(file: string): T {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    throw new ArtifactError(`${file} cannot be read as JSON (${(err as Error).message}): it is damaged; delete it and run the step that writes it again`);
  }
}

/** A training step's metrics.jsonl: one record per line, blank lines skipped. */
export function readMetrics<T = Record<string, number>>(file: string): T[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

/** What a metrics.jsonl of per-epoch records adds up to: training seconds, and the last epoch and step. */
export function trainingSpan(file: string): { seconds: number; epoch: number; step: number } {
  const records = readMetrics<{ seconds: number; epoch: number; step: number }>(file);
  const last = records.at(-1);
  return { seconds: records.reduce((n, r) => n + r.seconds, 0), epoch: last?.epoch ?? 0, step: last?.step ?? 0 };
}

/** Fails with the command that makes a missing upstream artifact, instead of a bare ENOENT. */
export function requireArtifact(file: string, makeWith: string): string {
  if (!existsSync(file)) throw new ArtifactError(`${file}: missing. It is made by \`${makeWith}\`; run that first.`);
  return file;
}
