/**
 * Downloads the full dataset and unpacks it into the layout the pipeline reads:
 *   pnpm t2i fetch-dataset [DIR]      (default data/raw/oxford102; --help lists the flags)
 * Oxford-102's images and label files come from the VGG page, the captions and the class split
 * from Reed et al.'s cvpr2016_flowers archive (Google Drive). Each file is downloaded to
 * DIR/downloads/<name>.part, resumed there with HTTP Range requests, checked, and only then
 * renamed; a file put there by hand under its final name is checked and used instead.
 * The t2i CLI and scripts/fetch-dataset.ts run it through fetchDatasetCommand(); fetchDataset() is the API.
 */
import {
  explainWriteError,
  formatBytes,
  fromRoot,
  intFlag,
  log,
  newCommand,
  openDataset,
  parseOptions,
  prepareFolderOf,
  readJson,
  repoRoot,
  sampleDatasetDir,
  tempPathFor,
  UsageError,
  writeFileAtomic,
  writeJsonAtomic,
} from '@t2i/core';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { $ } from 'zx';
import { z } from 'zod';

export const DEFAULT_DATASET_DIR = 'data/raw/oxford102';

export type SourceId = 'images' | 'labels' | 'setid' | 'captions';

export interface Checksum {
  algorithm: 'md5' | 'sha256';
  hex: string;
}

export interface Source {
  id: SourceId;
  /** Its name in the downloads folder. */
  file: string;
  url: string;
  /** Expected size in bytes; null: not checked. */
  size: number | null;
  checksum: Checksum | null;
  /** A page to open in a browser when the direct link fails. */
  page?: string;
  /** 'file' is copied into the dataset folder as it is; an archive is unpacked there. */
  kind: 'file' | 'archive';
}

const VGG = 'https://www.robots.ox.ac.uk/~vgg/data/flowers/102';
// Reed et al.'s cvpr2016_flowers.tar.gz on Google Drive (the flowers caption data of
// github.com/reedscot/cvpr2016, which github.com/reedscot/icml2016 links for training the text
// encoder). Its resource key is needed since Drive's 2021 security update; confirm=t skips the
// "cannot scan this file for viruses" page that Drive shows for large files.
const DRIVE_ID = '0B0ywwgffWnLLcms2WWJQRFNSWXM';
const DRIVE_KEY = '0-Av8zFbeDDvNcF1sSjDR32w';

/**
 * Where each file comes from, and what is known of it. The md5 sums are the official ones (also
 * torchvision's Flowers102); 102flowers.tgz's size is from public download scripts. Nothing is
 * published for cvpr2016_flowers.tar.gz: it is checked by unpacking it, and its sha256 is printed
 * so that it can be pinned with --captions-checksum.
 */
export const DEFAULT_SOURCES: Record<SourceId, Source> = {
  labels: { id: 'labels', file: 'imagelabels.mat', url: `${VGG}/imagelabels.mat`, size: 502, checksum: { algorithm: 'md5', hex: 'e0620be6f572b9609742df49c70aed4d' }, kind: 'file' },
  setid: { id: 'setid', file: 'setid.mat', url: `${VGG}/setid.mat`, size: 14_989, checksum: { algorithm: 'md5', hex: 'a5357ecc9cb78c4bef273ce3793fc85c' }, kind: 'file' },
  images: { id: 'images', file: '102flowers.tgz', url: `${VGG}/102flowers.tgz`, size: 344_862_509, checksum: { algorithm: 'md5', hex: '52808999861908f626f3c1f4e79d11fa' }, kind: 'archive' },
  captions: {
    id: 'captions',
    file: 'cvpr2016_flowers.tar.gz',
    url: `https://drive.usercontent.google.com/download?id=${DRIVE_ID}&resourcekey=${DRIVE_KEY}&export=download&confirm=t`,
    size: null,
    checksum: null,
    page: `https://drive.google.com/file/d/${DRIVE_ID}/view?resourcekey=${DRIVE_KEY}`,
    kind: 'archive',
  },
};

/** The small files first and Google Drive, the likeliest to refuse, last. */
const ORDER: SourceId[] = ['labels', 'setid', 'images', 'captions'];

/** Replaces a source's URL, size or checksum; null size or checksum: do not check it. */
export interface SourceOverride {
  url?: string;
  size?: number | null;
  checksum?: Checksum | null;
}

export interface FetchOptions {
  /** Dataset folder, relative to the repository root (default data/raw/oxford102). */
  dir?: string;
  /** Where the downloads go (default DIR/downloads). */
  downloads?: string;
  sources?: Partial<Record<SourceId, SourceOverride>>;
  /** Resumes after a dropped connection within one run (default 2). */
  retries?: number;
  /** Seconds without a byte before a download counts as dropped (default 60). */
  idleTimeout?: number;
}

export interface FetchResult {
  dir: string;
  /** The files downloaded by this run (none when everything was in place). */
  downloaded: string[];
  images: number;
  captionClasses: number;
}

/**
 * An expected failure with its fix; a UsageError to core's runMain, which prints it as one
 * message without a stack.
 */
export class FetchError extends UsageError {}

/** A dropped or stalled connection: the .part file is kept for resuming. */
class Interrupted extends Error {}

export const envName = (id: SourceId, what: 'URL' | 'SIZE' | 'CHECKSUM') => `T2I_FETCH_${id.toUpperCase()}_${what}`;

const STAMP = '.fetch-dataset.json';

/** What an unpacked archive was, and what it made: a later run trusts these instead of the archive. */
interface StampEntry {
  size: number;
  md5: string;
  sha256: string;
  outputs: string[];
  at: string;
}
type Stamp = Record<string, StampEntry>;

export async function fetchDataset(options: FetchOptions = {}): Promise<FetchResult> {
  const dir = fromRoot(options.dir ?? DEFAULT_DATASET_DIR);
  if (dir === sampleDatasetDir) throw new FetchError(`${dir} is the embedded sample; fetch the full dataset into another folder, e.g. ${DEFAULT_DATASET_DIR}`);
  const downloads = options.downloads ? fromRoot(options.downloads) : path.join(dir, 'downloads');
  try {
    await fs.mkdir(downloads, { recursive: true });
  } catch (err) {
    throw explainWriteError(err, downloads);
  }
  const sources = ORDER.map((id) => withOverride(DEFAULT_SOURCES[id], options.sources?.[id]));
  const stampFile = path.join(dir, STAMP);
  const stamp: Stamp = existsSync(stampFile) ? readJson<Stamp>(stampFile) : {};
  const downloaded: string[] = [];
  const failures: string[] = [];

  for (const source of sources) {
    try {
      if (await inPlace(source, dir, stamp)) continue;
      const got = await obtain(source, downloads, options);
      if (got.downloaded) downloaded.push(source.file);
      if (source.kind === 'file') {
        await writeFileAtomic(path.join(dir, source.file), await fs.readFile(got.file));
      } else {
        const outputs = source.id === 'images' ? await unpackImages(got.file, dir) : await unpackCaptions(got.file, dir);
        stamp[source.file] = { ...got.sums, outputs, at: new Date().toISOString() };
        await writeJsonAtomic(stampFile, stamp);
        log(`${source.file}: unpacked into ${outputs.map((o) => path.join(rel(dir), o)).join(', ')}`);
      }
    } catch (err) {
      // The other files are still worth fetching: report every failure at the end.
      if (!(err instanceof FetchError)) throw err;
      failures.push(err.message);
    }
  }
  if (failures.length === 1) throw new FetchError(failures[0]);
  if (failures.length > 1) throw new FetchError(`${failures.length} of ${sources.length} files failed:\n${failures.join('\n')}`);

  // The same check every stage makes on its --data folder.
  await openDataset(dir);
  const images = (await fs.readdir(path.join(dir, 'jpg'))).filter((n) => /^image_\d{5}\.jpg$/.test(n)).length;
  const captionClasses = (await fs.readdir(path.join(dir, 'text_c10'))).filter((n) => /^class_\d{5}$/.test(n)).length;
  const what = downloaded.length ? `downloaded ${downloaded.join(', ')}` : 'everything was in place and verified; nothing downloaded';
  log(`${rel(dir)}: ready (images in jpg/: ${images}, class folders in text_c10/: ${captionClasses}); ${what}.`);
  log(`Use it with --data ${rel(dir)} or T2I_DATA=${rel(dir)}. The archives stay in ${rel(downloads)}; delete them to free the space, the dataset does not need them.`);
  return { dir, downloaded, images, captionClasses };
}

function withOverride(source: Source, override: SourceOverride = {}): Source {
  return {
    ...source,
    url: override.url ?? source.url,
    // null is an answer here (do not check), so only undefined keeps the default.
    size: override.size === undefined ? source.size : override.size,
    checksum: override.checksum === undefined ? source.checksum : override.checksum,
  };
}

/** A path as the user would type it: from the repository root when inside it. */
function rel(p: string): string {
  const r = path.relative(repoRoot, p);
  return r && !r.startsWith('..') && !path.isAbsolute(r) ? r : p;
}

/** True when the dataset folder already holds what this source gives, checked. */
async function inPlace(source: Source, dir: string, stamp: Stamp): Promise<boolean> {
  if (source.kind === 'file') {
    const file = path.join(dir, source.file);
    if (!existsSync(file)) return false;
    const problem = mismatch(source, await measure(file));
    if (problem) {
      log(`${file}: ${problem}; replacing it with a fresh copy`);
      return false;
    }
    log(`${source.file}: in place (${checked(source)})`);
    return true;
  }
  const entry = stamp[source.file];
  if (!entry || mismatch(source, entry)) return false;
  if (!entry.outputs.every((o) => existsSync(path.join(dir, o)))) return false;
  const sum = source.checksum ? `its ${source.checksum.algorithm} verified` : 'no checksum to verify';
  log(`${source.file}: unpacked already into ${entry.outputs.join(', ')} on ${entry.at.slice(0, 10)} (${sum})`);
  return true;
}

const checked = (source: Source) => (source.checksum ? `${source.checksum.algorithm} verified` : source.size !== null ? 'size verified' : 'no checksum known');

interface Sums {
  size: number;
  md5: string;
  sha256: string;
}

/** Size and both sums in one read. */
async function measure(file: string): Promise<Sums> {
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file)) {
    md5.update(chunk);
    sha256.update(chunk);
    size += (chunk as Buffer).length;
  }
  return { size, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

/** What is wrong with a file of these sums, or undefined when it is as expected. */
function mismatch(source: Source, sums: Sums): string | undefined {
  if (source.size !== null && sums.size !== source.size) return `${sums.size} bytes, expected ${source.size}`;
  const want = source.checksum;
  if (want && sums[want.algorithm] !== want.hex) return `${want.algorithm} ${sums[want.algorithm]}, expected ${want.hex}`;
  return undefined;
}

const overrideHint = (source: Source, final: string) =>
  `Pass another URL with --${source.id}-url (or $${envName(source.id, 'URL')}), or download the file yourself${source.page ? ` from ${source.page}` : ''} and put it at ${final}: the next run verifies and uses it.`;

/** The source's file in the downloads folder, checked: the one already there, else downloaded. */
async function obtain(source: Source, downloads: string, options: FetchOptions): Promise<{ file: string; sums: Sums; downloaded: boolean }> {
  const final = path.join(downloads, source.file);
  const part = `${final}.part`;
  const downloaded = !existsSync(final);
  if (downloaded) await download(source, final, part, options);
  const candidate = downloaded ? part : final;
  const sums = await measure(candidate);
  const problem = mismatch(source, sums);
  if (problem) {
    // Set aside, not deleted (it may be the user's own copy), and never under its final name.
    await fs.rename(candidate, `${final}.rejected`);
    const pin = source.checksum ? ` If the file changed upstream and you trust it, pass --${source.id}-checksum ${source.checksum.algorithm}:${sums[source.checksum.algorithm]}.` : '';
    throw new FetchError(`${final}: ${problem}; it is damaged or not the expected file, moved to ${final}.rejected. Run again to download it anew.${pin}`);
  }
  if (downloaded) await fs.rename(part, final);
  log(`${source.file}: ${downloaded ? 'downloaded' : `found in ${rel(downloads)}`}, ${checked(source)}`);
  if (!source.checksum) log(`${source.file}: sha256 ${sums.sha256} (pin it with --${source.id}-checksum sha256:${sums.sha256})`);
  return { file: final, sums, downloaded };
}

/** Downloads into `part`, resuming what is there, and retrying a dropped connection `retries` times. */
async function download(source: Source, final: string, part: string, options: FetchOptions): Promise<void> {
  const retries = options.retries ?? 2;
  for (let attempt = 0; ; attempt++) {
    try {
      await downloadOnce(source, final, part, options.idleTimeout ?? 60);
      return;
    } catch (err) {
      if (!(err instanceof Interrupted)) throw err;
      const have = existsSync(part) ? (await fs.stat(part)).size : 0;
      const where = `${err.message} after ${formatBytes(have)}${source.size ? ` of ${formatBytes(source.size)}` : ''}`;
      if (attempt >= retries) throw new FetchError(`${source.file}: ${source.url}: ${where}. The partial download is kept in ${part}: run again to resume it.`);
      const wait = 2 ** attempt;
      log(`${source.file}: ${where}; resuming in ${wait} s (retry ${attempt + 1} of ${retries})`);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
  }
}

/** Why a fetch failed, from undici's cause (ECONNREFUSED, ENOTFOUND...) where it gives one. */
function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

async function downloadOnce(source: Source, final: string, part: string, idleSeconds: number): Promise<void> {
  let have = existsSync(part) ? (await fs.stat(part)).size : 0;
  // A .part of the expected size is whole (the run was killed before the rename); a longer one
  // cannot be a prefix of the file.
  if (have === source.size) return;
  if (source.size !== null && have > source.size) have = 0;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new Interrupted(`no data for ${idleSeconds} s`)), idleSeconds * 1000);
  };
  arm();
  try {
    let response: Response;
    try {
      response = await fetch(source.url, { headers: have > 0 ? { range: `bytes=${have}-` } : {}, signal: controller.signal });
    } catch (err) {
      if (controller.signal.aborted) throw controller.signal.reason;
      throw new FetchError(`${source.file}: cannot reach ${source.url} (${reason(err)}). ${overrideHint(source, final)}`);
    }
    // Each refusal below leaves the body unread: cancel it so the connection is let go.
    const refuse = async (err: Error): Promise<never> => {
      await response.body?.cancel().catch(() => undefined);
      throw err;
    };
    const range = /^bytes (?:(\d+)-\d+|\*)\/(\d+)$/.exec(response.headers.get('content-range') ?? '');
    if (response.status === 416 && have > 0) {
      // Killed between the last byte and the rename: the .part is already whole.
      if (range && Number(range[2]) === have) return void (await response.body?.cancel().catch(() => undefined));
      await fs.rm(part, { force: true });
      return refuse(new Interrupted('the server refused to resume the partial download, so it was deleted'));
    }
    if (!response.ok) return refuse(new FetchError(`${source.file}: ${source.url} answered HTTP ${response.status} ${response.statusText}. ${overrideHint(source, final)}`));
    if (/^text\/html/i.test(response.headers.get('content-type') ?? '')) {
      const why = source.page ? " (Google Drive's page for a virus-scan warning, a sign-in or a used-up download quota)" : '';
      return refuse(new FetchError(`${source.file}: ${source.url} answered with a web page instead of the file${why}. ${overrideHint(source, final)}`));
    }
    const resumed = response.status === 206 && range !== null && Number(range[1]) === have;
    if (have > 0 && !resumed) log(`${source.file}: the server did not resume from byte ${have}; starting over`);
    const start = resumed ? have : 0;
    const length = response.headers.get('content-length');
    const total = resumed ? Number(range![2]) : length !== null ? Number(length) : null;
    // Refused before any byte is written: a server offering another size has another file.
    if (total !== null && source.size !== null && total !== source.size) {
      return refuse(new FetchError(`${source.file}: ${source.url} offers ${total} bytes, expected ${source.size}. If the file changed upstream, pass --${source.id}-size ${total} (and its checksum), or none to skip the check.`));
    }
    if (!response.body) throw new Interrupted('the server sent no body');

    const bar = byteBar(source.file, total, start);
    let done = start;
    const count = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        done += chunk.length;
        bar.update(done);
        arm();
        callback(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), count, createWriteStream(part, { flags: resumed ? 'a' : 'w' }));
    } catch (err) {
      if (controller.signal.aborted) throw controller.signal.reason;
      const written = explainWriteError(err, part);
      if (written !== err) throw written;
      throw new Interrupted(`the connection broke (${reason(err)})`);
    } finally {
      bar.stop();
    }
    if (total !== null && done < total) throw new Interrupted('the connection closed early');
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes, rate and ETA on stderr; a plain line every few seconds where stderr is no terminal. */
function byteBar(file: string, total: number | null, start: number) {
  const format = total ? `${file} [{bar}] {percentage}% {done}/{size} | {speed} | ETA {eta_formatted}` : `${file} {done} | {speed}`;
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, noTTYOutput: true, notTTYSchedule: 5000, etaBuffer: 200, hideCursor: false },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  const payload = (done: number) => ({
    done: formatBytes(done),
    size: total ? formatBytes(total) : '',
    speed: `${formatBytes((done - start) / Math.max((performance.now() - started) / 1000, 1e-3))}/s`,
  });
  bar.start(total ?? 0, start, payload(start));
  return { update: (done: number) => bar.update(done, payload(done)), stop: () => bar.stop() };
}

/**
 * Unpacks into a temp folder beside the dataset (same file system, so the moves are renames),
 * leaving out Reed's .h5 and .t7 files, which the pipeline does not read.
 */
async function untar(archive: string, dir: string, name: string): Promise<string> {
  const tmp = tempPathFor(path.join(dir, name));
  await prepareFolderOf(path.join(dir, name));
  await fs.mkdir(tmp);
  try {
    // zx quotes each interpolated argument: the patterns reach tar unexpanded by the shell.
    await $({ quiet: true })`tar ${['--exclude=*.h5', '--exclude=*.t7']} -xzf ${archive} -C ${tmp}`;
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    const stderr = String((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0];
    if (/No space left/i.test(stderr)) throw explainWriteError({ code: 'ENOSPC' }, dir);
    throw new FetchError(`${archive}: tar cannot unpack it (${stderr}). Delete it and run again to download it anew.`);
  }
  return tmp;
}

/** Puts `from` at `to`, replacing what is there with one rename each. */
async function replace(from: string, to: string): Promise<void> {
  const old = tempPathFor(to);
  if (existsSync(to)) await fs.rename(to, old);
  await fs.rename(from, to);
  await fs.rm(old, { recursive: true, force: true });
}

/** 102flowers.tgz holds jpg/image_00001.jpg ...: jpg/ goes into the dataset folder. */
async function unpackImages(archive: string, dir: string): Promise<string[]> {
  const tmp = await untar(archive, dir, 'jpg');
  try {
    const jpg = path.join(tmp, 'jpg');
    const images = existsSync(jpg) ? (await fs.readdir(jpg)).filter((n) => /^image_\d{5}\.jpg$/.test(n)).length : 0;
    if (images === 0) throw new FetchError(`${archive}: holds no jpg/image_NNNNN.jpg; it is not Oxford-102's 102flowers.tgz. Delete it, check --images-url, and run again.`);
    await replace(jpg, path.join(dir, 'jpg'));
    return ['jpg'];
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

const CLASS_FILES = ['trainvalclasses.txt', 'testclasses.txt'];

/**
 * Reed's archive unpacks as cvpr2016_flowers/text_c10/class_00001/... with the class split files
 * beside text_c10/: those (and allclasses.txt, which make-sample keeps) go into the dataset folder.
 */
async function unpackCaptions(archive: string, dir: string): Promise<string[]> {
  const tmp = await untar(archive, dir, 'text_c10');
  try {
    const tops = (await fs.readdir(tmp, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => path.join(tmp, d.name));
    const root = [tmp, ...tops].find((d) => existsSync(path.join(d, 'text_c10')));
    if (!root) throw new FetchError(`${archive}: holds no text_c10/ folder; it is not Reed et al.'s cvpr2016_flowers archive. Delete it, check --captions-url, and run again.`);
    const missing = CLASS_FILES.filter((f) => !existsSync(path.join(root, f)));
    if (missing.length) throw new FetchError(`${archive}: has no ${missing.join(' or ')} beside text_c10/; it is not Reed et al.'s cvpr2016_flowers archive. Delete it, check --captions-url, and run again.`);
    const files = [...CLASS_FILES, ...(existsSync(path.join(root, 'allclasses.txt')) ? ['allclasses.txt'] : [])];
    await replace(path.join(root, 'text_c10'), path.join(dir, 'text_c10'));
    for (const f of files) await fs.rename(path.join(root, f), path.join(dir, f));
    return ['text_c10', ...files];
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

// --- The command line -----------------------------------------------------------------------

const sizeFlag = z.preprocess((v) => (v === 'none' ? null : v), intFlag(1).nullable()).optional();
const checksumFlag = z
  .string()
  .regex(/^none$|^(md5:)?[0-9a-f]{32}$|^(sha256:)?[0-9a-f]{64}$/i, 'expected md5:<32 hex digits>, sha256:<64 hex digits> or none')
  .transform((s): Checksum | null => {
    if (s === 'none') return null;
    const hex = s.replace(/^\w+:/, '').toLowerCase();
    return { algorithm: hex.length === 32 ? 'md5' : 'sha256', hex };
  })
  .optional();
const urlFlag = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' }).optional();

const Flags = z.object({
  imagesUrl: urlFlag,
  imagesSize: sizeFlag,
  imagesChecksum: checksumFlag,
  labelsUrl: urlFlag,
  labelsSize: sizeFlag,
  labelsChecksum: checksumFlag,
  setidUrl: urlFlag,
  setidSize: sizeFlag,
  setidChecksum: checksumFlag,
  captionsUrl: urlFlag,
  captionsSize: sizeFlag,
  captionsChecksum: checksumFlag,
  downloads: z.string().optional(),
  retries: intFlag(0),
  idleTimeout: intFlag(1),
});

/** The fetch-dataset command, for the t2i CLI and scripts/fetch-dataset.ts. */
export function fetchDatasetCommand(): Command {
  const command = newCommand(
    'fetch-dataset',
    'Download Oxford-102 (images, imagelabels.mat, setid.mat; VGG) and Reed et al.\'s captions (text_c10/ and the class split; cvpr2016_flowers, Google Drive), check them, and unpack them into DIR in the layout the pipeline reads. Resumes a partial download; a second run only checks.',
  ).argument('[dir]', `dataset folder, relative to the repository root (default: ${DEFAULT_DATASET_DIR})`);
  for (const id of ORDER) {
    const source = DEFAULT_SOURCES[id];
    command
      .option(`--${id}-url <url>`, `where ${source.file} comes from ($${envName(id, 'URL')}; default ${source.url})`)
      .option(`--${id}-size <bytes|none>`, `expected size of ${source.file} ($${envName(id, 'SIZE')}; default ${source.size ?? 'none'})`)
      .option(`--${id}-checksum <md5:hex|sha256:hex|none>`, `expected checksum of ${source.file} ($${envName(id, 'CHECKSUM')}; default ${source.checksum ? `${source.checksum.algorithm}:${source.checksum.hex}` : 'none'})`);
  }
  return command
    .option('--downloads <dir>', 'where the archives are downloaded and kept, relative to the repository root (default: DIR/downloads)')
    .option('--retries <n>', 'resume a dropped download this many times before giving up', '2')
    .option('--idle-timeout <seconds>', 'a download that sends nothing for this long counts as dropped', '60')
    .addHelpText(
      'after',
      [
        '',
        'A source that cannot be reached: give another URL, or put the file by hand into the downloads',
        'folder under its name (102flowers.tgz, imagelabels.mat, setid.mat, cvpr2016_flowers.tar.gz);',
        'the next run checks it and uses it. Exit code 0 when the dataset is complete, else 1 and why.',
      ].join('\n'),
    )
    .action(async (dir: string | undefined, raw: Record<string, string | undefined>) => {
      // Flags win over the environment, which wins over the defaults.
      const merged: Record<string, string | undefined> = { ...raw };
      for (const id of ORDER) {
        for (const what of ['URL', 'SIZE', 'CHECKSUM'] as const) {
          const key = `${id}${what[0]}${what.slice(1).toLowerCase()}`;
          merged[key] ??= process.env[envName(id, what)];
        }
      }
      const flags = parseOptions(Flags, merged, 'fetch-dataset');
      const sources: Partial<Record<SourceId, SourceOverride>> = {};
      for (const id of ORDER) sources[id] = { url: flags[`${id}Url` as const], size: flags[`${id}Size` as const], checksum: flags[`${id}Checksum` as const] };
      await fetchDataset({ dir, downloads: flags.downloads, sources, retries: flags.retries, idleTimeout: flags.idleTimeout });
    });
}
