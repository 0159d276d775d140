import { repoRoot, UsageError } from '@t2i/core';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { locateModels, modelArtifacts, type ModelSource } from '../pipeline.ts';
import type { ModelFolders } from '../text-to-image.ts';
import { buildPageBundle, pageDir } from './bundle.ts';
import type { ServedModels } from './served.ts';

/** A folder as the person who started the server knows it: relative to the repository when inside it. */
function shown(dir: string): string {
  const relative = path.relative(repoRoot, dir);
  return relative === '' ? '.' : relative.startsWith('..') || path.isAbsolute(relative) ? dir : relative;
}

/**
 * The models the page draws with: those locateModels picks (trained under data/, else shipped in
 * models/), up to the highest stage there is, so a trained Stage I without its Stage II still
 * serves. Fails as locateModels does when there are none.
 */
export function locateServedModels(): { source: ModelSource; served: ServedModels } {
  const a = modelArtifacts();
  const trainedStage1 = existsSync(a.encoder.file) && existsSync(a.stage1.file);
  const { source, stage, note } = locateModels(trainedStage1 && !existsSync(a.stage2.file) ? 1 : 2);
  const folders: ModelFolders = { encoder: 'models/encoder', stage1: 'models/stage1', ...(stage === 2 && { stage2: 'models/stage2' }) };
  const m = source.manifest;
  const served: ServedModels = {
    kind: source.kind,
    where: shown(source.kind === 'trained' ? path.dirname(path.dirname(source.stage1)) : path.dirname(source.stage1)),
    stage,
    folders,
    ...(m && { shipped: { dataset: m.dataset, stage1Epoch: m.stage1.epoch, plannedEpochs: m.stage1.plannedEpochs } }),
    ...(stage === 1 && { note: note ?? 'no Stage II trained yet' }),
  };
  return { source, served };
}

export interface PageServer {
  /** Where the page is, e.g. http://127.0.0.1:5173/ */
  url: string;
  served: ServedModels;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = { '.json': 'application/json', '.bin': 'application/octet-stream' };

const MODEL_FILE = /^\/models\/(encoder|stage1|stage2)\/(tensors\.json|tensors\.bin)$/;

/** Why listen failed, said as what to do. */
function listenError(err: NodeJS.ErrnoException, port: number, host: string): Error {
  if (err.code === 'EADDRINUSE') return new UsageError(`t2i serve: port ${port} on ${host} is in use (another t2i serve, or another server); pass another port, e.g. --port ${port + 1}, or --port 0 for any free one`);
  if (err.code === 'EACCES') return new UsageError(`t2i serve: port ${port} needs more privileges than this user has; pass --port 1024 or higher`);
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') return new UsageError(`t2i serve: --host ${host} is not an address of this machine; pass --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)`);
  return err;
}

/**
 * Serves the page (index.html), its script (page.js, bundled now from app.ts), models.json and the
 * models' tensor folders, as static files: the page computes everything itself. `port` 0 takes any
 * free port.
 */
export async function startPageServer({ port, host }: { port: number; host: string }): Promise<PageServer> {
  // The models first: a clone without any hears what to run before anything else happens.
  const { source, served } = locateServedModels();
  const folders: Record<string, string | undefined> = { encoder: source.encoder, stage1: source.stage1, stage2: served.stage === 2 ? source.stage2 : undefined };
  const html = readFileSync(path.join(pageDir, 'index.html'));
  const script = await buildPageBundle();
  const modelsJson = JSON.stringify(served, null, 1);

  const server = http.createServer((req, res) => {
    const send = (status: number, type: string, body: string | Uint8Array) => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain', 'only GET and HEAD\n');
    const pathname = new URL(req.url ?? '/', 'http://page').pathname;
    if (pathname === '/' || pathname === '/index.html') return send(200, 'text/html; charset=utf-8', html);
    if (pathname === '/page.js') return send(200, 'text/javascript; charset=utf-8', script);
    if (pathname === '/models.json') return send(200, 'application/json', modelsJson);
    if (pathname === '/favicon.ico') return send(204, 'text/plain', '');
    const m = MODEL_FILE.exec(pathname);
    const folder = m && folders[m[1]];
    if (!m || !folder) return send(404, 'text/plain', `${pathname}: no such file here\n`);
    const file = path.join(folder, m[2]);
    // A model retrained while the server runs is replaced whole (a folder renamed into place): its files may be gone for a moment.
    if (!existsSync(file)) return send(404, 'text/plain', `${file} is gone (retrained since the server started?); restart pnpm t2i serve\n`);
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)], 'content-length': statSync(file).size, 'cache-control': 'no-cache' });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file)
      .on('error', () => res.destroy())
      .pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: NodeJS.ErrnoException) => {
    throw listenError(err, port, host);
  });
  const actual = (server.address() as AddressInfo).port;
  // Any-interface addresses are not ones a browser opens; this machine's is.
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actual}/`,
    served,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
