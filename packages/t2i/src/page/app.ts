/**
 * The page's script (bundled by bundle.ts for the browser): reads models.json, fetches the models'
 * tensor folders, and draws a sentence's flowers with TextToImagePipeline, the command line's own
 * pipeline, on tfjs's browser backend (webgl, else cpu). Nothing is computed on the server.
 */
import { tf } from '@t2i/backends';
import { fetchTensors } from '@t2i/gan';
import { tokenize } from 'captions';
import { SIZE, TextToImagePipeline, type Pictures } from '../text-to-image.ts';
import { describeServed, type ServedModels } from './served.ts';

/** As the command line's --seed takes them (seedFlag). */
const MAX_SEED = 2 ** 32 - 1;
const MAX_IMAGES = 64;

const byId = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}: the page and app.ts disagree`);
  return el as T;
};

const ui = {
  form: byId<HTMLFormElement>('draw'),
  sentence: byId<HTMLInputElement>('sentence'),
  seed: byId<HTMLInputElement>('seed'),
  newSeed: byId<HTMLButtonElement>('new-seed'),
  count: byId<HTMLInputElement>('count'),
  draw: byId<HTMLButtonElement>('draw-button'),
  models: byId('models'),
  status: byId('status'),
  reading: byId('reading'),
  low: byId('low'),
  high: byId('high'),
  highTitle: byId('high-title'),
  highNote: byId('high-note'),
  backend: byId('backend'),
};

type State = 'loading' | 'ready' | 'drawing' | 'drawn' | 'error';

/** The status line; its data-state (and data-draws, counting finished draws) is what the browser test waits on. */
function setStatus(state: State, text: string): void {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
}

function fail(err: unknown): void {
  setStatus('error', err instanceof Error ? err.message : String(err));
  busy = false;
  ui.draw.disabled = !pipeline;
}

async function servedModels(): Promise<ServedModels> {
  const response = await fetch('models.json');
  if (!response.ok) throw new Error(`models.json cannot be fetched (HTTP ${response.status}): open the page from pnpm t2i serve`);
  return (await response.json()) as ServedModels;
}

/** A whole number in [min, max] from an input, or an error that names the field. */
function wholeNumber(input: HTMLInputElement, name: string, min: number, max: number): number {
  const n = Number(input.value.trim());
  if (input.value.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number from ${min} to ${max}; it is "${input.value}"`);
  return n;
}

/** Square RGB images as <img> elements (PNG data URLs), each in a figure captioned with its number. */
function showImages(container: HTMLElement, pixels: Uint8Array, n: number, size: number, seed: number): void {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = size;
  const context = canvas.getContext('2d')!;
  const figures = Array.from({ length: n }, (_, i) => {
    const rgba = new ImageData(size, size);
    const rgb = pixels.subarray(i * size * size * 3, (i + 1) * size * size * 3);
    for (let p = 0; p < size * size; p++) {
      rgba.data[4 * p] = rgb[3 * p];
      rgba.data[4 * p + 1] = rgb[3 * p + 1];
      rgba.data[4 * p + 2] = rgb[3 * p + 2];
      rgba.data[4 * p + 3] = 255;
    }
    context.putImageData(rgba, 0, 0);
    const figure = document.createElement('figure');
    const img = document.createElement('img');
    img.src = canvas.toDataURL('image/png');
    img.alt = `flower ${i + 1} of seed ${seed}, ${size}x${size}`;
    const caption = document.createElement('figcaption');
    caption.textContent = `#${i + 1}`;
    figure.append(img, caption);
    return figure;
  });
  container.replaceChildren(...figures);
}

/** The sentence as the encoder read it: unknown words marked (read as <unk>), words past its length struck through. */
function showReading(sentence: string, p: Pictures, maxWords: number | undefined): void {
  const words = tokenize(sentence);
  const readCount = words.length - p.ignoredWords.length;
  const unknown = new Set(p.unknownWords);
  const line = document.createElement('span');
  line.append('Read as: ');
  words.forEach((word, i) => {
    if (i > 0) line.append(' ');
    if (i >= readCount) {
      const s = document.createElement('s');
      s.className = 'ignored';
      s.title = `past the encoder's ${maxWords} words: not read`;
      s.textContent = word;
      line.append(s);
    } else if (unknown.has(word)) {
      const mark = document.createElement('mark');
      mark.className = 'unknown';
      mark.title = 'not in the vocabulary: read as <unk>';
      mark.textContent = word;
      line.append(mark);
    } else line.append(word);
  });
  const notes: string[] = [];
  if (p.unknownWords.length) notes.push(`Unknown words (not in the vocabulary, read as <unk>): ${[...unknown].join(', ')}.`);
  if (p.ignoredWords.length) notes.push(`The encoder reads ${maxWords} words: the last ${p.ignoredWords.length} are not read.`);
  const children: (Node | string)[] = [line];
  for (const note of notes) children.push(document.createElement('br'), note);
  ui.reading.replaceChildren(...children);
}

let pipeline: TextToImagePipeline | undefined;
let busy = false;

async function draw(): Promise<void> {
  if (!pipeline || busy) return;
  const sentence = ui.sentence.value;
  if (!sentence.trim()) throw new Error('The sentence is empty; say what the flower looks like, e.g. "this flower has petals that are blue and white"');
  const seed = wholeNumber(ui.seed, 'The seed', 0, MAX_SEED);
  const n = wholeNumber(ui.count, 'Images', 1, MAX_IMAGES);
  busy = true;
  ui.draw.disabled = true;
  setStatus('drawing', `Drawing ${n} flowers…`);
  // One frame for the status to show: the generator then holds the thread (on the cpu backend).
  await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
  const started = performance.now();
  const p = await pipeline.generate(sentence, { n, seed });
  showReading(sentence, p, pipeline.maxWords);
  showImages(ui.low, p.low, n, SIZE[1], seed);
  // Without Stage II the 64 px images are shown at 256 and the browser smooths them, as generate's lanczos3 does, rather than as blocks.
  if (p.high) showImages(ui.high, p.high, n, SIZE[2], seed);
  else showImages(ui.high, p.low, n, SIZE[1], seed);
  ui.status.dataset.draws = String(Number(ui.status.dataset.draws ?? 0) + 1);
  setStatus('drawn', `${n} flowers for seed ${seed}, drawn in ${Math.round(performance.now() - started)} ms.`);
  busy = false;
  ui.draw.disabled = false;
}

async function start(): Promise<void> {
  const served = await servedModels();
  // The backend first: the models' tensors are made on it.
  await tf.ready();
  ui.backend.textContent = `${tf.getBackend()} backend`;
  pipeline = await TextToImagePipeline.read(served.folders, fetchTensors, { stage: served.stage });
  const warning = pipeline.warning ? ` ${pipeline.warning}.` : '';
  ui.models.textContent = `Models: ${describeServed(served, { stage1: pipeline.stage1.epoch, stage2: pipeline.stage2?.epoch })}.${warning}`;
  if (pipeline.stage2) ui.highTitle.textContent = '256x256 (Stage II)';
  else {
    ui.highTitle.textContent = '256x256 (Stage I upscaled)';
    ui.highNote.hidden = false;
    ui.highNote.textContent = `${served.kind === 'shipped' ? 'No Stage II ships yet' : 'No Stage II model trained yet'}: these are the 64x64 images enlarged by the browser's smoothing (t2i generate uses lanczos3), not drawn at 256x256. pnpm turbo run stage2 trains one.`;
  }
  setStatus('ready', 'Ready.');
  ui.draw.disabled = false;
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    draw().catch(fail);
  });
  ui.newSeed.addEventListener('click', () => {
    ui.seed.value = String(crypto.getRandomValues(new Uint32Array(1))[0]);
    draw().catch(fail);
  });
  await draw();
}

start().catch(fail);
