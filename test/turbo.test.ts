import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@t2i/core';
import { makeDataset, removeDir } from './helpers/dataset.ts';

/** The hash turbo gives each task, from a dry run (nothing executes, nothing is written). */
function taskHashes(dataDir: string, names = ['preprocess-images', 'captions']): Record<string, string> {
  const run = spawnSync(path.join(repoRoot, 'node_modules/.bin/turbo'), ['run', ...names, '--dry=json'], {
    cwd: repoRoot,
    env: { ...process.env, T2I_DATA: dataDir, TURBO_TELEMETRY_DISABLED: '1' },
    encoding: 'utf8',
  });
  expect(run.status, run.stderr).toBe(0);
  const tasks: { taskId: string; hash: string }[] = JSON.parse(run.stdout).tasks;
  return Object.fromEntries(tasks.map((t) => [t.taskId.split('#')[0], t.hash]));
}

/**
 * Turbo keys each stage on the dataset files that stage reads. Datasets under data/raw/ (and the
 * embedded sample) are hashed file by file; this copies a small one there.
 */
describe('turbo inputs', () => {
  const data = makeDataset({ classes: [1, 26], perClass: 2, dir: path.join(repoRoot, 'data/raw', `turbo-test-${process.pid}`) });
  const elsewhere = makeDataset({ classes: [1, 26], perClass: 2, dir: path.join(repoRoot, 'data/raw', `turbo-test-${process.pid}-b`) });
  afterAll(() => [data, elsewhere].forEach(removeDir));

  it('reruns captions alone after a caption edit, preprocess-images alone after an image edit, both for another T2I_DATA', () => {
    const before = taskHashes(data);
    expect(taskHashes(data)).toEqual(before);

    appendFileSync(path.join(data, 'text_c10/class_00001/image_06734.txt'), ' ');
    const captionEdit = taskHashes(data);
    expect(captionEdit.captions).not.toBe(before.captions);
    expect(captionEdit['preprocess-images']).toBe(before['preprocess-images']);

    writeFileSync(path.join(data, 'jpg/image_06734.jpg'), 'changed');
    const imageEdit = taskHashes(data);
    expect(imageEdit['preprocess-images']).not.toBe(captionEdit['preprocess-images']);

    const moved = taskHashes(elsewhere);
    expect(moved['preprocess-images']).not.toBe(imageEdit['preprocess-images']);
    expect(moved.captions).not.toBe(imageEdit.captions);
  });
});

describe('direct runs and turbo', () => {
  // The stamp turbo.json reads: the repository's own data/, whatever T2I_ARTIFACTS says.
  const stamp = path.join(repoRoot, 'data', '.direct-runs', 'stage1.json');
  const saved = existsSync(stamp) ? readFileSync(stamp) : undefined;
  afterAll(() => (saved ? writeFileSync(stamp, saved) : rmSync(stamp, { force: true })));

  it("reruns a stage that was run directly, and those after it, rather than restoring its cached outputs", () => {
    const all = ['preprocess-images', 'captions', 'embeddings', 'stage1', 'stage2', 'evaluate'];
    const before = taskHashes(path.join(repoRoot, 'data', 'sample'), ['evaluate']);
    expect(Object.keys(before).sort()).toEqual([...all].sort());
    mkdirSync(path.dirname(stamp), { recursive: true });
    writeFileSync(stamp, JSON.stringify({ stage: 'stage1', args: ['train', '--epochs', '3'], at: new Date().toISOString() }));
    const after = taskHashes(path.join(repoRoot, 'data', 'sample'), ['evaluate']);
    expect(all.filter((t) => after[t] !== before[t])).toEqual(['stage1', 'stage2', 'evaluate']);
  });
});

/** Each package's workspace dependencies, direct and through others: the packages its code can reach. */
function workspaceClosure(): Map<string, { folder: string; reaches: Set<string> }> {
  const packages = new Map<string, { folder: string; deps: string[] }>();
  for (const folder of readdirSync(path.join(repoRoot, 'packages'))) {
    const json = JSON.parse(readFileSync(path.join(repoRoot, 'packages', folder, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };
    packages.set(json.name, { folder, deps: Object.entries(json.dependencies ?? {}).flatMap(([name, v]) => (v.startsWith('workspace:') ? [name] : [])) });
  }
  const reach = (name: string, seen = new Set<string>()): Set<string> => {
    for (const d of packages.get(name)!.deps) if (!seen.has(d)) reach(d, seen.add(d));
    return seen;
  };
  return new Map([...packages].map(([name, p]) => [name, { folder: p.folder, reaches: new Set([...reach(name)].map((d) => packages.get(d)!.folder)) }]));
}

describe('code inputs', () => {
  it("lists as each task's inputs the sources of every package it imports, and no other", () => {
    const tasks: Record<string, { inputs: string[] }> = JSON.parse(readFileSync(path.join(repoRoot, 'turbo.json'), 'utf8')).tasks;
    const closure = workspaceClosure();
    for (const [task, { inputs }] of Object.entries(tasks)) {
      const pkg = task.split('#')[0];
      const listed = inputs.flatMap((i) => /^\$TURBO_ROOT\$\/packages\/([^/]+)\/src\/\*\*$/.exec(i)?.[1] ?? []);
      expect(new Set(listed), task).toEqual(closure.get(pkg)!.reaches);
    }
  });

  it('reruns the training steps after a kernel edit, and not preprocess-images or captions', () => {
    const all = ['preprocess-images', 'captions', 'embeddings', 'stage1', 'stage2', 'evaluate'];
    const sample = path.join(repoRoot, 'data', 'sample');
    // A new file in the webgpu kernels' folder: an edit that no tracked file has to undergo.
    const kernel = path.join(repoRoot, 'packages/backends/src/webgpu', `turbo-test-${process.pid}.ts`);
    const before = taskHashes(sample, ['evaluate']);
    try {
      writeFileSync(kernel, 'export {};\n');
      const after = taskHashes(sample, ['evaluate']);
      expect(all.filter((t) => after[t] !== before[t])).toEqual(['embeddings', 'stage1', 'stage2', 'evaluate']);
    } finally {
      rmSync(kernel, { force: true });
    }
  });
});
