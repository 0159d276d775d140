/**
 * Packs what a GPU machine without Node.js needs to run bench/stage1.ts on the webgpu backend
 * into .device/kit.tar.xz (git-ignored; carry it with the device tool): this machine's node
 * binary, the benchmark bundled into one file by esbuild, the native packages the bundle leaves
 * out (webgpu's Dawn for linux-x64, sharp for the grids), Stage I's configs, and Debian's
 * libvulkan1 (the Vulkan loader Dawn opens). bench/gpu/run.sh unpacks and runs it there.
 *   pnpm --filter bench exec tsx gpu/pack.ts
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const bench = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const root = path.dirname(bench);
const out = path.join(root, '.device');
const kit = path.join(out, 'build', 'kit');
rmSync(path.join(out, 'build'), { recursive: true, force: true });
mkdirSync(path.join(kit, 'bench'), { recursive: true });

// Native addons cannot be bundled; they travel as packages beside the bundle.
const natives = ['webgpu', 'sharp'];
await build({
  entryPoints: [path.join(bench, 'stage1.ts')],
  outfile: path.join(kit, 'bench', 'stage1.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: [...natives, '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'],
  // CommonJS dependencies inside an ES module bundle still call require.
  banner: { js: "import { createRequire as __t2iRequire } from 'node:module'; const require = __t2iRequire(import.meta.url);" },
  logLevel: 'warning',
});
// The bench finds the configs at ../packages/stage1/configs from its own folder, and @t2i/core
// takes the folder holding pnpm-workspace.yaml for the repository root.
cpSync(path.join(root, 'packages', 'stage1', 'configs'), path.join(kit, 'packages', 'stage1', 'configs'), { recursive: true });
writeFileSync(path.join(kit, 'pnpm-workspace.yaml'), '# marks the kit as a t2i root for @t2i/core\n');

/** Copies the package `name` installed in the node_modules folder `modules` into the kit's, minus `skip`. */
function copyPackage(name: string, modules: string, skip: (rel: string) => boolean = () => false): string {
  const dir = realpathSync(path.join(modules, name));
  cpSync(dir, path.join(kit, 'node_modules', name), { recursive: true, dereference: true, filter: (src) => !skip(path.relative(dir, src)) });
  return dir;
}
copyPackage('webgpu', path.join(root, 'packages', 'core', 'node_modules'), (rel) => rel.startsWith('dist') && rel !== 'dist' && !rel.startsWith(path.join('dist', 'linux-x64')));
const sharp = copyPackage('sharp', path.join(bench, 'node_modules'), (rel) => rel === 'src' || rel === 'node_modules');
// pnpm puts a package's dependencies beside it.
for (const dep of ['@img/colour', 'detect-libc', 'semver', '@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']) copyPackage(dep, path.dirname(sharp));

cpSync(realpathSync(process.execPath), path.join(kit, 'node'));
execFileSync('apt-get', ['download', 'libvulkan1'], { cwd: kit, stdio: 'inherit' });

const archive = path.join(out, 'kit.tar.xz');
execFileSync('tar', ['-cf', archive, '-I', 'xz -T0 -6', '-C', path.dirname(kit), 'kit'], { stdio: 'inherit' });
rmSync(path.join(out, 'build'), { recursive: true, force: true });
console.log(`${archive}: ${(statSync(archive).size / 2 ** 20).toFixed(1)} MiB (the device tool carries at most 64 MiB with the working tree)`);
