import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { repoRoot, sampleDatasetDir } from '@t2i/core';
import { fetchDataset, type FetchOptions, type SourceId } from '../src/fetch-dataset.ts';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';

/**
 * fetch-dataset against a local server (no network): small archives shaped like the real ones,
 * made from the embedded sample.
 */
const IMAGES = ['image_06734', 'image_06735', 'image_06736'];
const CLASS = 'class_00001';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

/** What the server does: its files, the requests it saw, and the faults it is told to make. */
const served = new Map<string, Buffer>();
let requests: { path: string; range?: string }[] = [];
const breakOnce = new Set<string>();
const htmlFor = new Set<string>();
let ignoreRange = false;

const server = http.createServer((req, res) => {
  const url = req.url ?? '';
  requests.push({ path: url, range: req.headers.range });
  const body = served.get(url);
  if (!body) return void res.writeHead(404).end();
  if (htmlFor.has(url)) return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>quota exceeded</html>');
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (range && !ignoreRange) {
    const start = Number(range[1]);
    if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
    res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
    return void res.end(body.subarray(start));
  }
  res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/octet-stream' });
  // Half the file, then the connection drops (after a pause: what the client had received and
  // not yet written when its stream broke would be lost, and the test would not see a resume).
  if (breakOnce.delete(url)) return void res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 100));
  res.end(body);
});

let base = '';
let work = '';
let archives: Record<'images' | 'captions', Buffer>;

/** Options that fetch everything from the local server, with the test archives' sums. */
function options(dir: string, overrides: FetchOptions['sources'] = {}, extra: Partial<FetchOptions> = {}): FetchOptions {
  const url = (name: string) => `${base}/${name}`;
  const sources: FetchOptions['sources'] = {
    labels: { url: url('imagelabels.mat') }, // the official size and md5: the sample's copy is byte-exact
    setid: { url: url('setid.mat') },
    images: { url: url('102flowers.tgz'), size: archives.images.length, checksum: { algorithm: 'md5', hex: md5(archives.images) } },
    captions: { url: url('cvpr2016_flowers.tar.gz'), checksum: { algorithm: 'sha256', hex: sha256(archives.captions) } },
  };
  for (const [id, o] of Object.entries(overrides)) sources[id as SourceId] = { ...sources[id as SourceId], ...o };
  return { dir, sources, retries: 0, ...extra };
}

/** Fails unless `dir` holds the layout, byte for byte the sample's files. */
function expectLayout(dir: string): void {
  for (const f of ['imagelabels.mat', 'setid.mat', 'trainvalclasses.txt', 'testclasses.txt', 'allclasses.txt']) {
    expect(readFileSync(path.join(dir, f)).equals(readFileSync(path.join(sampleDatasetDir, f))), f).toBe(true);
  }
  for (const id of IMAGES) {
    expect(readFileSync(path.join(dir, 'jpg', `${id}.jpg`)).equals(readFileSync(path.join(sampleDatasetDir, 'jpg', `${id}.jpg`)))).toBe(true);
    expect(readFileSync(path.join(dir, 'text_c10', CLASS, `${id}.txt`), 'utf8')).toBe(readFileSync(path.join(sampleDatasetDir, 'text_c10', CLASS, `${id}.txt`), 'utf8'));
  }
  // Reed's .h5 files are left out.
  expect(readdirSync(path.join(dir, 'text_c10', CLASS)).sort()).toEqual(IMAGES.map((id) => `${id}.txt`));
}

let stderr = '';
beforeEach(() => {
  stderr = '';
  requests = [];
  // Collects what the script logs (and its progress bars) instead of printing it.
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  breakOnce.clear();
  htmlFor.clear();
  ignoreRange = false;
});

beforeAll(async () => {
  work = tempDir('t2i-fetch-');
  // 102flowers.tgz holds jpg/; Reed's archive cvpr2016_flowers/ with text_c10/ and the class files.
  const img = path.join(work, 'src-images');
  const cap = path.join(work, 'src-captions', 'cvpr2016_flowers');
  mkdirSync(path.join(img, 'jpg'), { recursive: true });
  mkdirSync(path.join(cap, 'text_c10', CLASS), { recursive: true });
  for (const id of IMAGES) {
    cpSync(path.join(sampleDatasetDir, 'jpg', `${id}.jpg`), path.join(img, 'jpg', `${id}.jpg`));
    cpSync(path.join(sampleDatasetDir, 'text_c10', CLASS, `${id}.txt`), path.join(cap, 'text_c10', CLASS, `${id}.txt`));
    writeFileSync(path.join(cap, 'text_c10', CLASS, `${id}.h5`), 'char-CNN input, not read');
  }
  for (const f of ['trainvalclasses.txt', 'testclasses.txt', 'allclasses.txt']) cpSync(path.join(sampleDatasetDir, f), path.join(cap, f));
  execFileSync('tar', ['-czf', path.join(work, '102flowers.tgz'), '-C', img, 'jpg']);
  execFileSync('tar', ['-czf', path.join(work, 'cvpr2016_flowers.tar.gz'), '-C', path.dirname(cap), 'cvpr2016_flowers']);
  archives = { images: readFileSync(path.join(work, '102flowers.tgz')), captions: readFileSync(path.join(work, 'cvpr2016_flowers.tar.gz')) };
  served.set('/102flowers.tgz', archives.images);
  served.set('/cvpr2016_flowers.tar.gz', archives.captions);
  for (const f of ['imagelabels.mat', 'setid.mat']) served.set(`/${f}`, readFileSync(path.join(sampleDatasetDir, f)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  removeDir(work);
});

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe('fetch-dataset', () => {
  it('fetches and unpacks everything into the layout, and a second run only verifies', async () => {
    const dir = path.join(work, 'full');
    const first = await fetchDataset(options(dir));
    expect(first.downloaded.sort()).toEqual(['102flowers.tgz', 'cvpr2016_flowers.tar.gz', 'imagelabels.mat', 'setid.mat']);
    expect(first).toMatchObject({ images: 3, captionClasses: 1 });
    expectLayout(dir);
    expect(readdirSync(path.join(dir, 'downloads')).filter((f) => f.endsWith('.part'))).toEqual([]);
    expect(stderr).toMatch(/ETA/);

    requests = [];
    stderr = '';
    const second = await fetchDataset(options(dir));
    expect(second.downloaded).toEqual([]);
    expect(requests).toEqual([]);
    expect(stderr).toMatch(/imagelabels\.mat: in place \(md5 verified\)/);
    expect(stderr).toMatch(/102flowers\.tgz: unpacked already into jpg/);
    expect(stderr).toMatch(/nothing downloaded/);
    expectLayout(dir);
  });

  it('resumes a download broken mid-file with a Range request on the next run', async () => {
    const dir = path.join(work, 'resume');
    breakOnce.add('/102flowers.tgz');
    const failed = fetchDataset(options(dir));
    await expect(failed).rejects.toThrow(/102flowers\.tgz: .*the connection broke.*run again to resume/);
    const part = path.join(dir, 'downloads', '102flowers.tgz.part');
    const kept = statSync(part).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(archives.images.length);
    expect(existsSync(path.join(dir, 'downloads', '102flowers.tgz'))).toBe(false);

    requests = [];
    const second = await fetchDataset(options(dir));
    expect(second.downloaded).toEqual(['102flowers.tgz']);
    expect(requests).toEqual([{ path: '/102flowers.tgz', range: `bytes=${kept}-` }]);
    expectLayout(dir);
  });

  it('resumes within one run, and starts over cleanly where the server ignores Range', async () => {
    const dir = path.join(work, 'retry');
    breakOnce.add('/cvpr2016_flowers.tar.gz');
    ignoreRange = true;
    await fetchDataset(options(dir, {}, { retries: 1 }));
    expect(requests.filter((r) => r.path === '/cvpr2016_flowers.tar.gz').map((r) => Boolean(r.range))).toEqual([false, true]);
    expect(stderr).toMatch(/did not resume from byte \d+; starting over/);
    expectLayout(dir);
  });

  it('refuses a file whose checksum is wrong, naming both sums, and keeps it off its final name', async () => {
    const dir = path.join(work, 'bad-sum');
    const wrong = '0'.repeat(64);
    const result = fetchDataset(options(dir, { images: { size: null, checksum: { algorithm: 'sha256', hex: wrong } } }));
    const final = path.join(dir, 'downloads', '102flowers.tgz');
    await expect(result).rejects.toThrow(`${final}: sha256 ${sha256(archives.images)}, expected ${wrong}`);
    expect(existsSync(final)).toBe(false);
    expect(existsSync(`${final}.part`)).toBe(false);
    expect(existsSync(`${final}.rejected`)).toBe(true);
    expect(existsSync(path.join(dir, 'jpg'))).toBe(false);
  });

  it('says which URL failed and how to get past it, exits 1 without a stack, and uses a file put in by hand', async () => {
    const dir = path.join(work, 'unreachable');
    const dead = `http://127.0.0.1:${await closedPort()}/imagelabels.mat`;
    // As a user runs it: through tsx, in a child that does not block this process's server.
    const run = await promisify(execFile)(path.join(repoRoot, 'node_modules/.bin/tsx'), [path.join(repoRoot, 'scripts/fetch-dataset.ts'), dir, '--retries', '0'], {
      env: { ...process.env, ...Object.fromEntries(Object.entries(options(dir).sources!).map(([id, s]) => [`T2I_FETCH_${id.toUpperCase()}_URL`, s.url])), T2I_FETCH_LABELS_URL: dead, T2I_FETCH_IMAGES_SIZE: 'none', T2I_FETCH_IMAGES_CHECKSUM: 'none' },
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(run.code).toBe(1);
    const downloads = path.join(dir, 'downloads');
    expect(run.stderr).toContain(`imagelabels.mat: cannot reach ${dead} (ECONNREFUSED). Pass another URL with --labels-url (or $T2I_FETCH_LABELS_URL)`);
    expect(run.stderr).toContain(`put it at ${path.join(downloads, 'imagelabels.mat')}: the next run verifies and uses it`);
    expect(run.stderr).not.toMatch(/^\s+at /m);
    // The others came through.
    expect(existsSync(path.join(dir, 'jpg', `${IMAGES[0]}.jpg`))).toBe(true);

    cpSync(path.join(sampleDatasetDir, 'imagelabels.mat'), path.join(downloads, 'imagelabels.mat'));
    requests = [];
    const result = await fetchDataset(options(dir, { labels: { url: dead } }));
    expect(result.downloaded).toEqual([]);
    expect(stderr).toMatch(/imagelabels\.mat: found in .*downloads, md5 verified/);
    expectLayout(dir);
  });

  it("explains Google Drive's web page in place of the archive", async () => {
    const dir = path.join(work, 'html');
    htmlFor.add('/cvpr2016_flowers.tar.gz');
    await expect(fetchDataset(options(dir))).rejects.toThrow(/cvpr2016_flowers\.tar\.gz: .* answered with a web page instead of the file.*--captions-url/);
    expect(readdirSync(path.join(dir, 'downloads')).filter((f) => f.startsWith('cvpr2016'))).toEqual([]);
  });
});
