import { tf } from '@t2i/backends';
import { repoRoot } from '@t2i/core';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { startPageServer } from '../src/page/server.ts';
import type { ServedModels } from '../src/page/served.ts';
import { loadPipeline, locateModels } from '../src/pipeline.ts';
import { chromiumMissing, openChromium } from './chromium.ts';
import { keepModelEnv, shipTinyModels, writeTinyModels } from './fixtures.ts';

/**
 * t2i serve and its page: the server against tiny models (shipped ones, and trained ones with a
 * Stage II), and the page in headless Chromium, drawing with tfjs in the browser.
 */
const root = tempDir('t2i-page-');
const shipped = path.join(root, 'models');
const nothing = path.join(root, 'nothing');
const restoreEnv = keepModelEnv();

/** Where the models come from: T2I_MODELS (shipped) and T2I_ARTIFACTS (trained). */
function useModels(models: string, artifacts: string): void {
  process.env.T2I_MODELS = models;
  process.env.T2I_ARTIFACTS = artifacts;
}

const serve = () => startPageServer({ port: 0, host: '127.0.0.1' });

beforeAll(async () => {
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  await tf.setBackend('cpu');
  await shipTinyModels(root);
  await writeTinyModels(path.join(root, 'with-stage2'), { stage2: true });
});

afterAll(() => {
  restoreEnv();
  removeDir(root);
});

describe('t2i serve', () => {
  it('serves the page, its script, models.json and the tensor folders of the models locateModels picks, and nothing else', async () => {
    useModels(shipped, nothing);
    const server = await serve();
    try {
      const get = (p: string) => fetch(new URL(p, server.url));
      expect((await get('/')).headers.get('content-type')).toBe('text/html; charset=utf-8');
      const script = await get('/page.js');
      expect([script.status, script.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
      const served = (await (await get('/models.json')).json()) as ServedModels;
      expect(served).toMatchObject({ kind: 'shipped', stage: 1, folders: { encoder: 'models/encoder', stage1: 'models/stage1' }, shipped: { dataset: 'synthetic', stage1Epoch: 3, plannedEpochs: 10 }, note: 'no Stage II ships yet: 64x64 images only' });
      const bin = await get('/models/stage1/tensors.bin');
      expect(Buffer.from(await bin.arrayBuffer())).toEqual(readFileSync(path.join(shipped, 'stage1/tensors.bin')));
      for (const missing of ['/models/stage2/tensors.json', '/models/stage1/../manifest.json', '/models/stage1/tensors.txt', '/nothing']) expect([missing, (await get(missing)).status]).toEqual([missing, 404]);
    } finally {
      await server.close();
    }
  });

  it('names a port in use and the way out', async () => {
    useModels(shipped, nothing);
    const first = await serve();
    const port = Number(new URL(first.url).port);
    try {
      await expect(startPageServer({ port, host: '127.0.0.1' })).rejects.toThrow(`t2i serve: port ${port} on 127.0.0.1 is in use (another t2i serve, or another server); pass another port, e.g. --port ${port + 1}, or --port 0 for any free one`);
    } finally {
      await first.close();
    }
  });

  it('says what to run when there are no models at all, as locateModels does', async () => {
    useModels(nothing, nothing);
    const said = (() => {
      try {
        locateModels(2);
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(said).toMatch(/^no trained model: encoder .* missing\. Run `pnpm turbo run stage2` first\.$/);
    await expect(serve()).rejects.toThrow(said!);
  });
});

/** What the page shows of one image, read back in the page from its decoded <img>. */
interface Shown {
  /** The image's own width, and the width the page shows it at. */
  width: number;
  shown: number;
  /** Its CSS image-rendering: pixelated shows blocks, auto lets the browser smooth. */
  rendering: string;
  src: string;
  /** RGB bytes, row by row. */
  rgb: number[];
}

async function shownImages(page: Page, container: string): Promise<Shown[]> {
  return page.$$eval(`${container} img`, (imgs) =>
    Promise.all(
      (imgs as HTMLImageElement[]).map(async (img) => {
        await img.decode();
        const canvas = document.createElement('canvas');
        canvas.width = img.naturalWidth;
        canvas.height = img.naturalHeight;
        const context = canvas.getContext('2d')!;
        context.drawImage(img, 0, 0);
        const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
        const rgb = Array.from(rgba).filter((_, i) => i % 4 !== 3);
        return { width: img.naturalWidth, shown: img.width, rendering: getComputedStyle(img).imageRendering, src: img.src, rgb };
      }),
    ),
  );
}

/** Waits for the page's `draws`-th drawing, and fails with what the page says if it shows an error instead. */
async function drawn(page: Page, draws: number): Promise<void> {
  await page.waitForFunction(
    (n) => {
      const status = document.getElementById('status')!;
      return status.dataset.state === 'error' || (status.dataset.state === 'drawn' && Number(status.dataset.draws) >= n);
    },
    draws,
    { timeout: 90_000 },
  );
  if ((await page.getAttribute('#status', 'data-state')) === 'error') throw new Error(`the page says: ${await page.textContent('#status')}`);
}

async function openPage(url: string, errors: string[]): Promise<Page> {
  const { context } = browser!;
  const page = await context.newPage();
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto(url);
  // The page draws its example sentence once the models have loaded.
  await drawn(page, 1);
  return page;
}

let browser: Awaited<ReturnType<typeof openChromium>> | undefined;

describe.skipIf(chromiumMissing !== undefined)(`the page in headless Chromium${chromiumMissing ? ` (skipped: ${chromiumMissing})` : ''}`, () => {
  beforeAll(async () => {
    browser = await openChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('draws N flowers for a sentence, as the command line does; marks unknown and unread words; names the models; a seed gives the same flowers, another seed others', async () => {
    useModels(shipped, nothing);
    const server = await serve();
    const errors: string[] = [];
    try {
      const page = await openPage(server.url, errors);
      await page.fill('#sentence', 'this flower has red zorblax petals');
      await page.fill('#seed', '5');
      await page.click('#draw-button');
      await drawn(page, 2);
      const first = await shownImages(page, '#low');
      expect(first.map((s) => s.width)).toEqual(Array(8).fill(64));
      // Not blank: each image has more than one colour value.
      for (const s of first) expect(new Set(s.rgb).size).toBeGreaterThan(1);
      expect(await page.$$eval('#reading mark.unknown', (marks) => marks.map((m) => m.textContent))).toEqual(['zorblax']);
      expect(await page.textContent('#models')).toMatch(/^Models: shipped in .*models\/ \(synthetic; Stage I epoch 3 of 10 planned; no pipeline has trained models under data\/ yet\)\.$/);
      // No Stage II ships: the 256x256 row is Stage I's very images shown at 256 and smoothed (not blocks), and the page says so.
      const enlarged = await shownImages(page, '#high');
      expect(enlarged.map((s) => [s.width, s.shown, s.rendering])).toEqual(Array(8).fill([64, 256, 'auto']));
      expect(enlarged.map((s) => s.src)).toEqual(first.map((s) => s.src));
      expect(await page.textContent('#high-title')).toBe('256x256 (Stage I upscaled)');
      expect(await page.isVisible('#high-note')).toBe(true);
      expect(await page.textContent('#high-note')).toMatch(/^No Stage II ships yet: these are the 64x64 images enlarged/);
      if (process.env.T2I_PAGE_SCREENSHOT) await page.screenshot({ path: path.resolve(repoRoot, process.env.T2I_PAGE_SCREENSHOT), fullPage: true });

      // The command line's pipeline draws the same flowers (up to the backends' rounding).
      const pipeline = await loadPipeline({ stage: 1, source: locateModels(1).source });
      const cli = await pipeline.generate('this flower has red zorblax petals', { n: 8, seed: 5 });
      pipeline.dispose();
      const shownLow = first.flatMap((s) => s.rgb);
      expect(Math.max(...shownLow.map((v, i) => Math.abs(v - cli.low[i])))).toBeLessThanOrEqual(2);

      // Another seed (Enter in the sentence draws too), then the first one again.
      await page.fill('#seed', '6');
      await page.press('#sentence', 'Enter');
      await drawn(page, 3);
      const other = await shownImages(page, '#low');
      expect(other.map((s) => s.src)).not.toEqual(first.map((s) => s.src));
      await page.fill('#seed', '5');
      await page.click('#draw-button');
      await drawn(page, 4);
      expect((await shownImages(page, '#low')).map((s) => s.src)).toEqual(first.map((s) => s.src));

      // A new seed is drawn at once and shown.
      await page.click('#new-seed');
      await drawn(page, 5);
      expect(await page.inputValue('#seed')).toMatch(/^\d+$/);
      expect(await page.textContent('#status')).toContain(`seed ${await page.inputValue('#seed')},`);

      // Words past the encoder's 32 are struck through and said; N follows the images field.
      await page.fill('#sentence', Array.from({ length: 35 }, () => 'red').join(' '));
      await page.fill('#count', '3');
      await page.click('#draw-button');
      await drawn(page, 6);
      expect(await page.$$eval('#reading s.ignored', (s) => s.length)).toBe(3);
      expect(await page.textContent('#reading')).toContain('The encoder reads 32 words: the last 3 are not read.');
      expect(await page.$$eval('#low img', (imgs) => imgs.length)).toBe(3);
      expect(errors).toEqual([]);
    } finally {
      await server.close();
    }
  }, 240_000);

  it('draws Stage II at 256x256 where the trained models have one, and names them with their epochs', async () => {
    useModels(shipped, path.join(root, 'with-stage2'));
    const server = await serve();
    const errors: string[] = [];
    try {
      const page = await openPage(server.url, errors);
      expect(await page.textContent('#models')).toMatch(/^Models: trained under .*with-stage2\/ \(Stage I epoch 3, Stage II epoch 2\)\.$/);
      expect(await page.textContent('#high-title')).toBe('256x256 (Stage II)');
      expect(await page.isVisible('#high-note')).toBe(false);
      const high = await shownImages(page, '#high');
      expect(high.map((s) => s.width)).toEqual(Array(8).fill(256));
      for (const s of high) expect(new Set(s.rgb).size).toBeGreaterThan(1);
      expect(errors).toEqual([]);
    } finally {
      await server.close();
    }
  }, 240_000);
});
