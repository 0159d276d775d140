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

/** `pnpm t2i ...` as a user types it: the root script runs t2i's command from the repository root, INIT_CWD is the user's folder. */
export function runT2i(args: string[], env: Record<string, string>, userDir: string) {
  const result = spawnSync(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'packages/t2i/src/cli.ts'), ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...env, INIT_CWD: userDir },
    encoding: 'utf8',
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}
