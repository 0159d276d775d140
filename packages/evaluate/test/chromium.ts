import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';

/** Debian's chromium package; .ci/run installs it. */
export const CHROMIUM = '/usr/bin/chromium';

export interface PageCheck {
  images: number;
  /** src of every image that did not load (naturalWidth 0). */
  broken: string[];
  scoresTable: boolean;
  scoreRows: number;
  charts: number;
}

/** Runs in the page once everything has loaded, and leaves its findings in the DOM for --dump-dom. */
const CHECK = `<script>
addEventListener('load', () => {
  const images = [...document.images];
  const table = document.querySelector('table#scores');
  const result = {
    images: images.length,
    broken: images.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => i.getAttribute('src')),
    scoresTable: table !== null,
    scoreRows: table ? table.querySelectorAll('tbody tr').length : 0,
    charts: document.querySelectorAll('svg').length,
  };
  const pre = document.createElement('pre');
  pre.id = 't2i-check';
  pre.textContent = JSON.stringify(result);
  document.body.append(pre);
});
</script>`;

/**
 * The same findings from the HTML text, where no browser is installed: every image's file is
 * there and sharp decodes it (a browser would also catch an image the HTML names wrongly in other
 * ways, which is why CI installs Chromium).
 */
export async function checkPageFiles(htmlFile: string): Promise<PageCheck> {
  const html = readFileSync(htmlFile, 'utf8');
  const sources = [...html.matchAll(/<img\b[^>]*\bsrc="([^"]*)"/g)].map((m) => m[1]);
  const broken: string[] = [];
  for (const src of sources) {
    const file = path.join(path.dirname(htmlFile), src);
    const decodes = existsSync(file) && (await sharp(file).metadata().then((m) => (m.width ?? 0) > 0, () => false));
    if (!decodes) broken.push(src);
  }
  const table = /<table id="scores">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html);
  return { images: sources.length, broken, scoresTable: table !== null, scoreRows: table ? (table[1].match(/<tr>/g) ?? []).length : 0, charts: (html.match(/<svg\b/g) ?? []).length };
}

let warned = false;

/**
 * Loads an HTML file in headless Chromium, without network or sandbox (root in CI), and reports
 * on its images and scores table. A copy with the check script sits beside the page, so that
 * relative image paths resolve as they do for the page itself. Without Chromium (a fresh machine;
 * .ci/run installs it), the page's files are checked instead.
 */
export async function checkPage(htmlFile: string): Promise<PageCheck> {
  if (!existsSync(CHROMIUM)) {
    if (!warned) console.warn(`${CHROMIUM} is not installed: report pages are checked from their HTML and files alone (apt-get install -y chromium for the browser check)`);
    warned = true;
    return checkPageFiles(htmlFile);
  }
  const copy = path.join(path.dirname(htmlFile), `.check-${process.pid}.html`);
  const profile = mkdtempSync(path.join(os.tmpdir(), 't2i-chromium-'));
  writeFileSync(copy, readFileSync(htmlFile, 'utf8').replace('</body>', `${CHECK}</body>`));
  try {
    const run = spawnSync(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        `--user-data-dir=${profile}`,
        '--virtual-time-budget=10000',
        '--dump-dom',
        pathToFileURL(copy).href,
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const m = /<pre id="t2i-check">([^<]*)<\/pre>/.exec(run.stdout ?? '');
    if (!m) throw new Error(`chromium left no check result (exit ${run.status}): ${(run.stderr ?? '').slice(-2000)}`);
    return JSON.parse(m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&')) as PageCheck;
  } finally {
    rmSync(copy, { force: true });
    rmSync(profile, { recursive: true, force: true });
  }
}
