/**
 * Draws one sentence on the page (`t2i serve`'s, with the models it would serve) in headless
 * Chromium and saves a screenshot: how docs/page.png is made again when the shipped models change.
 *   pnpm tsx scripts/page-screenshot.ts [--text "..."] [--out docs/page.png]
 */
import { newCommand, parseOptions, repoRoot, runCommand } from '@t2i/core';
import path from 'node:path';
import { z } from 'zod';
import { startPageServer } from '../packages/t2i/src/page/server.ts';
import { chromiumMissing, openChromium } from '../packages/t2i/test/chromium.ts';

const Options = z.object({ text: z.string().min(1), out: z.string() });

const command = newCommand('page-screenshot', "A screenshot of the page drawing one sentence with the models `t2i serve` would serve")
  .option('--text <sentence>', 'what the flower looks like', 'this flower has petals that are yellow with a brown center')
  .option('--out <file>', 'the PNG to write, relative to the repository root', 'docs/page.png')
  .action(async (raw) => {
    const o = parseOptions(Options, raw, 'page-screenshot');
    if (chromiumMissing) throw new Error(chromiumMissing);
    const server = await startPageServer({ port: 0, host: '127.0.0.1' });
    const browser = await openChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(server.url);
      // The page draws its default sentence once loaded; then ours.
      const draws = (n: number) => page.waitForFunction((k) => Number(document.querySelector('#status')!.getAttribute('data-draws')) >= k && document.querySelector('#status')!.getAttribute('data-state') !== 'drawing', n, { timeout: 120_000 });
      await draws(1);
      await page.fill('#sentence', o.text);
      await page.click('#draw-button');
      await draws(2);
      await page.screenshot({ path: path.resolve(repoRoot, o.out), fullPage: true });
      console.log(path.resolve(repoRoot, o.out));
    } finally {
      await browser.close();
      await server.close();
    }
  });

await runCommand(command);
