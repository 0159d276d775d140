import { build, type Message } from 'esbuild';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** This folder: index.html and app.ts, the page's script. */
export const pageDir = path.dirname(fileURLToPath(import.meta.url));

const ENTRY = path.join(pageDir, 'app.ts');

const where = (m: Message) => (m.location ? `${m.location.file}:${m.location.line}: ` : '');

/**
 * app.ts and what it imports, as one ES module for the browser (about a second). esbuild resolves
 * the workspace packages through their "browser" condition (each package's src/browser.ts), so a
 * Node built-in reached from the page fails here, naming the file that imports it.
 */
export async function buildPageBundle(): Promise<Uint8Array> {
  try {
    const result = await build({ entryPoints: [ENTRY], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', minify: true, write: false, logLevel: 'silent', legalComments: 'none' });
    return result.outputFiles[0].contents;
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors ?? [];
    if (errors.length === 0) throw err;
    const lines = errors.slice(0, 5).map((m) => `  ${where(m)}${m.text}`);
    throw new Error(
      `the page's script (${path.relative(process.cwd(), ENTRY)}) does not build for the browser:\n${lines.join('\n')}\n` +
        `A module it imports reaches Node (fs, path, sharp, ...)? The page may import only what each package's src/browser.ts exports.`,
      { cause: err },
    );
  }
}
