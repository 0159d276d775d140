/**
 * Packs what a GPU machine without Node.js or the dataset needs to run bench/stage1.ts and
 * gpu/train.ts on the webgpu backend, into .device (git-ignored; carry it with the device tool):
 *  - kit.tar.xz: this machine's node binary (stripped), both scripts bundled by esbuild, the
 *    native packages the bundles leave out (webgpu's Dawn for linux-x64, sharp for images),
 *    Stage I's configs, and Debian's libvulkan1 (the Vulkan loader Dawn opens);
 *  - data.tar.xz: the full training set in travel form (travel.ts) and the text side of the
 *    trained sentence encoder, from this checkout's data/ (run the pipeline's first three stages
 *    on the full dataset first); --keep-data reuses the one already there (it takes minutes).
 * bench/gpu/run.sh unpacks and runs it there. All of it and the working tree must stay under 64 MiB.
 *   pnpm --filter bench exec tsx gpu/pack.ts [--keep-data]
 */
import { readTable, requireArtifact, stepDir } from '@t2i/core';
import { captionsFile } from 'captions';
import { initBackend } from '@t2i/backends';
import { loadTensors, saveTensors } from '@t2i/gan';
import { encoderDir, loadCaptionVectors, loadSentenceEncoder } from 'embeddings';
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadImageSet, SOURCE_SIZE } from 'preprocess-images';
import { z } from 'zod';
import { benchFlags } from '../flags.ts';
import { writeTravelPack } from './travel.ts';

const values = benchFlags(
  'pack.ts',
  "Packs the GPU machine's kit (node, bundled bench and trainer, Dawn, sharp, libvulkan1) and the training data into .device",
  (c) => c.option('--keep-data', 'reuse the data.tar.xz already in .device (packing it takes minutes)', false),
  z.object({ keepData: z.boolean() }),
);

const bench = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const root = path.dirname(bench);
const out = path.join(root, '.device');
const kit = path.join(out, 'build', 'kit');
rmSync(path.join(out, 'build'), { recursive: true, force: true });
mkdirSync(path.join(kit, 'bench'), { recursive: true });

// Native addons cannot be bundled; they travel as packages beside the bundle.
const natives = ['webgpu', 'sharp'];
await build({
  entryPoints: { stage1: path.join(bench, 'stage1.ts'), train: path.join(bench, 'gpu', 'train.ts') },
  outdir: path.join(kit, 'bench'),
  outExtension: { '.js': '.mjs' },
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
copyPackage('webgpu', path.join(root, 'packages', 'backends', 'node_modules'), (rel) => rel.startsWith('dist') && rel !== 'dist' && !rel.startsWith(path.join('dist', 'linux-x64')));
const sharp = copyPackage('sharp', path.join(bench, 'node_modules'), (rel) => rel === 'src' || rel === 'node_modules');
// pnpm puts a package's dependencies beside it.
for (const dep of ['@img/colour', 'detect-libc', 'semver', '@img/sharp-linux-x64', '@img/sharp-libvips-linux-x64']) copyPackage(dep, path.dirname(sharp));

cpSync(realpathSync(process.execPath), path.join(kit, 'node'));
// Symbols are a tenth of node's binary and 2 MiB of the archive.
execFileSync('strip', ['--strip-all', path.join(kit, 'node')]);
execFileSync('apt-get', ['download', 'libvulkan1'], { cwd: kit, stdio: 'inherit' });

const archive = path.join(out, 'kit.tar.xz');
execFileSync('tar', ['-cf', archive, '-I', 'xz -T0 -9e', '-C', path.dirname(kit), 'kit'], { stdio: 'inherit' });
rmSync(path.join(out, 'build'), { recursive: true, force: true });
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
console.log(`${archive}: ${mib(statSync(archive).size)}`);

const data = path.join(out, 'data.tar.xz');
if (!values.keepData) {
  rmSync(data, { force: true });
  await initBackend('cpu');
  const staging = path.join(out, 'build', 'data');
  const images = await loadImageSet(SOURCE_SIZE.stage1, (split) => split === 'train');
  const captions = new Map<string, string[]>();
  const table = await readTable(requireArtifact(captionsFile(stepDir('captions')), 'pnpm turbo run captions'));
  const [ids, texts] = [table.getChild('image_id')!, table.getChild('text')!];
  for (let i = 0; i < table.numRows; i++) {
    const id = ids.get(i) as string;
    if (!captions.has(id)) captions.set(id, []);
    captions.get(id)!.push(texts.get(i) as string);
  }
  await writeTravelPack(path.join(staging, 'stage1-train.arrow'), images, captions);
  // The text side of the encoder is all that sentences need.
  const { groups, meta } = await loadTensors(encoderDir());
  await saveTensors(path.join(staging, 'encoder'), { weights: Object.fromEntries(Object.entries(groups.weights).filter(([name]) => name.startsWith('text/'))) }, meta);

  // The encoder must give there the vectors the embeddings stage wrote here.
  const stored = await loadCaptionVectors();
  const encoder = await loadSentenceEncoder(path.join(staging, 'encoder'));
  const checked = images.ids.slice(0, 32);
  const { vectors } = await encoder.encode(checked.flatMap((id) => captions.get(id)!));
  encoder.dispose();
  const want = Float32Array.from(checked.flatMap((id) => [...stored.byImage.get(id)!]));
  const worst = vectors.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
  if (worst > 1e-4) throw new Error(`pack: the encoder's vectors differ from data/embeddings' by up to ${worst}; rerun the embeddings stage`);
  // The captions' text is a quarter of the file and compresses; the AVIF images do not.
  execFileSync('tar', ['-cf', data, '-I', 'xz -T0 -9', '-C', path.dirname(staging), 'data'], { stdio: 'inherit' });
  rmSync(path.join(out, 'build'), { recursive: true, force: true });
  console.log(`${data}: ${images.ids.length} images and their captions, the text encoder: ${mib(statSync(data).size)} (its vectors match the stored ones to ${worst.toExponential(1)})`);
}
const tree = execFileSync('git', ['ls-files', '-z'], { cwd: root }).toString().split('\0').filter(Boolean).reduce((n, f) => n + statSync(path.join(root, f)).size, 0);
const carried = [archive, data].filter(existsSync).reduce((n, f) => n + statSync(f).size, 0);
console.log(`with the working tree (${mib(tree)}): ${mib(tree + carried)} of the device tool's 64 MiB`);
