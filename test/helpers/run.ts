import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from '@t2i/core';

/** Runs a stage's CLI as a user would, through tsx, and returns its exit code and output. */
export function runCli(pkg: string, args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'packages', pkg, 'src/cli.ts'), ...args], {
    cwd: path.join(repoRoot, 'packages', pkg),
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
