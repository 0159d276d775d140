/**
 * Draws one sentence on the page (`t2i serve`'s, with the models it would serve) in headless
 * Chromium and saves a screenshot: how docs/page.png is made again when the shipped models change.
 * With --report, the whole of an evaluate report.html as it renders instead (docs/release-report.jpg).
 *   pnpm tsx scripts/page-screenshot.ts [--text "..."] [--out docs/page.png]
 *   pnpm tsx scripts/page-screenshot.ts --report $T2I_ARTIFACTS/evaluate/report.html --out docs/release-report.jpg
 */
import { newCommand, parseOptions, repoRoot, runCommand, UsageError } from '@t2i/core';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { startPageServer } from '../packages/t2i/src/page/server.ts';
import { chromiumMissing, openChromium } from '../packages/t2i/test/chromium.ts';

const Options = z.object({ text: z.string().min(1), out: z.string(), report: z.string().optional() });

const command = newCommand('page-screenshot', "A screenshot of the page drawing one sentence with the models `t2i serve` would serve")
  .option('--text <sentence>', 'what the flower looks like', 'this flower has petals that are yellow with a brown center')
  .option('--out <file>', 'the picture to write (PNG, or JPEG by its name), relative to the repository root', 'docs/page.png')
  .option('--report <html>', "an evaluate report.html to shoot, whole, instead of the page")
  .action(async (raw) => {
    const o = parseOptions(Options, raw, 'page-screenshot');
    if (chromiumMissing) throw new Error(chromiumMissing);
    const out = path.resolve(repoRoot, o.out);
    if (o.report && !existsSync(o.report)) throw new UsageError(`${o.report}: no such report; run evaluate first`);
    const server = o.report ? undefined : await startPageServer({ port: 0, host: '127.0.0.1' });
    const browser = await openChromium();
    try {
      const page = await browser.context.newPage();
      if (o.report) await page.goto(pathToFileURL(path.resolve(o.report)).href, { waitUntil: 'load' });
      else {
        await page.goto(server!.url);
        // The page draws its default sentence once loaded; then ours.
        const draws = (n: number) => page.waitForFunction((k) => Number(document.querySelector('#status')!.getAttribute('data-draws')) >= k && document.querySelector('#status')!.getAttribute('data-state') !== 'drawing', n, { timeout: 120_000 });
        await draws(1);
        await page.fill('#sentence', o.text);
        await page.click('#draw-button');
        await draws(2);
      }
      await page.screenshot({ path: out, fullPage: true, ...(/\.jpe?g$/.test(out) && { quality: 80 }) });
      console.log(out);
    } finally {
      await browser.close();
      await server?.close();
    }
  });

await runCommand(command);
