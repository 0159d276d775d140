import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.ts';
import { fromRoot, repoRoot } from './paths.ts';

/** The named configs of a workspace package (`tiny`, `full`): packages/<name>/configs. */
export const configsDir = (pkg: string) => path.join(repoRoot, 'packages', pkg, 'configs');

/**
 * A step's config: a plain JSON file (a name from the package's configs/ folder, or a path),
 * then any flags given on top, validated once with the step's schema into a typed object.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, pkg: string, nameOrPath: string, overrides: Record<string, unknown> = {}): z.infer<S> & { name: string } {
  const dir = configsDir(pkg);
  const file = existsSync(path.join(dir, `${nameOrPath}.json`)) ? path.join(dir, `${nameOrPath}.json`) : fromRoot(nameOrPath);
  if (!existsSync(file)) {
    const known = existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -5)) : [];
    throw new UsageError(`config "${nameOrPath}": no such file; use one of ${known.join(', ')} or a path to a JSON file`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  delete raw.$comment;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  const result = schema.strict().safeParse({ ...raw, ...defined });
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new UsageError(`${file} (with flags ${JSON.stringify(defined)}): invalid config\n${lines.join('\n')}`);
  }
  return { ...(result.data as z.infer<S>), name: path.basename(file, '.json') };
}
