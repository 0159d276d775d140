import {
  arrow as A,
  ArrowFileSink,
  commitTogether,
  datasetRelative,
  dictionaryColumn,
  handleProblems,
  int16Column,
  int32ListColumn,
  log,
  makeBatch,
  mapOrdered,
  progressBar,
  listCaptionFiles,
  openDataset,
  SPLITS,
  stagedFile,
  utf8Column,
  writeJsonAtomic,
  writeSkippedReport,
  type ImageEntry,
  type Problem,
} from '@t2i/core';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { REFERENCE_CAPTIONS } from './reference.ts';
import { Vocabulary } from './vocab.ts';

export const CAPTIONS_PER_IMAGE = 10;
const BATCH_ROWS = 8192;

export interface CaptionsOptions {
  dataDir: string;
  outDir: string;
  /** Words seen fewer times in training captions map to <unk>. */
  minCount: number;
  skipBad: boolean;
}

export const captionsFile = (outDir: string) => path.join(outDir, 'captions.arrow');
export const referenceFile = (outDir: string) => path.join(outDir, 'reference.arrow');
export const vocabFile = (outDir: string) => path.join(outDir, 'vocab.json');

const tokenIdsField = () => new A.Field('token_ids', new A.List(new A.Field('item', new A.Int32(), false)), false);

export function captionsSchema(dataDir: string): A.Schema {
  return new A.Schema(
    [
      new A.Field('image_id', new A.Utf8(), false),
      new A.Field('class_id', new A.Int16(), false),
      new A.Field('split', new A.Dictionary(new A.Utf8(), new A.Int8()), false),
      new A.Field('caption_index', new A.Int8(), false),
      new A.Field('text', new A.Utf8(), false),
      tokenIdsField(),
    ],
    new Map([
      ['t2i.stage', 'captions'],
      ['t2i.dataset', dataDir],
      ['t2i.tokens', 'ids into vocab.json; lower-cased, punctuation split off'],
    ]),
  );
}

export function referenceSchema(): A.Schema {
  return new A.Schema([new A.Field('caption_index', new A.Int8(), false), new A.Field('text', new A.Utf8(), false), tokenIdsField()], new Map([['t2i.stage', 'captions']]));
}

/**
 * Reads one caption file strictly: UTF-8, exactly ten non-blank lines. Returns the captions or
 * what is wrong with the file.
 */
export function parseCaptionFile(bytes: Uint8Array): { captions: string[] } | { problem: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { problem: 'is not valid UTF-8' };
  }
  if (text.trim() === '') return { problem: 'is empty' };
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank >= 0) return { problem: `line ${blank + 1} is blank` };
  if (lines.length !== CAPTIONS_PER_IMAGE) return { problem: `has ${lines.length} line${lines.length === 1 ? '' : 's'}, expected ${CAPTIONS_PER_IMAGE} (one caption per line)` };
  return { captions: lines.map((l) => l.trim()) };
}

interface ImageCaptions {
  image: ImageEntry;
  captions: string[];
}

export interface CaptionsResult {
  images: number;
  captions: number;
  perSplit: Record<string, number>;
  vocabSize: number;
  skipped: Problem[];
  unknownInReference: string[];
}

export async function buildCaptions(options: CaptionsOptions): Promise<CaptionsResult> {
  const dataset = await openDataset(options.dataDir);
  const listed = await listCaptionFiles(dataset);
  const problems: Problem[] = [...listed.problems];
  const parsed: ImageCaptions[] = [];
  const bar = progressBar('captions', listed.files.length, 'files');
  const read = async (image: ImageEntry) => ({ image, result: parseCaptionFile(await fs.readFile(image.file)) });
  for await (const { image, result } of mapOrdered(listed.files, 16, read)) {
    bar.tick();
    if ('problem' in result) {
      problems.push({
        file: datasetRelative(dataset, image.file),
        problem: result.problem,
        fix: `write ${CAPTIONS_PER_IMAGE} UTF-8 captions, one per line, or remove it together with jpg/${image.id}.jpg`,
        imageId: image.id,
      });
    } else parsed.push({ image, captions: result.captions });
  }
  bar.stop();
  await handleProblems('captions', options.outDir, problems, options.skipBad);

  const vocab = Vocabulary.build(
    parsed.filter((p) => p.image.split === 'train').flatMap((p) => p.captions),
    options.minCount,
  );
  const rows = parsed.flatMap(({ image, captions }) => captions.map((text, index) => ({ image, index, text })));
  const schema = captionsSchema(dataset.root);
  const sinks: ArrowFileSink[] = [];
  try {
    const captionsSink = await ArrowFileSink.open(captionsFile(options.outDir));
    sinks.push(captionsSink);
    for (let start = 0; start < rows.length; start += BATCH_ROWS) {
      const chunk = rows.slice(start, start + BATCH_ROWS);
      captionsSink.write(
        makeBatch(schema, [
          utf8Column(chunk.map((r) => r.image.id)),
          int16Column(Int16Array.from(chunk, (r) => r.image.classId)),
          dictionaryColumn(chunk.map((r) => r.image.split), SPLITS),
          A.makeData({ type: new A.Int8(), length: chunk.length, nullCount: 0, data: Int8Array.from(chunk, (r) => r.index) }),
          utf8Column(chunk.map((r) => r.text)),
          int32ListColumn(chunk.map((r) => vocab.encode(r.text))),
        ]),
      );
    }
    const referenceSink = await ArrowFileSink.open(referenceFile(options.outDir));
    sinks.push(referenceSink);
    referenceSink.write(
      makeBatch(referenceSchema(), [
        A.makeData({ type: new A.Int8(), length: REFERENCE_CAPTIONS.length, nullCount: 0, data: Int8Array.from(REFERENCE_CAPTIONS, (_, i) => i) }),
        utf8Column([...REFERENCE_CAPTIONS]),
        int32ListColumn(REFERENCE_CAPTIONS.map((c) => vocab.encode(c))),
      ]),
    );
  } catch (err) {
    await Promise.all(sinks.map((s) => s.abort()));
    throw err;
  }
  await commitTogether([...sinks, stagedFile(vocabFile(options.outDir), JSON.stringify(vocab.json, null, 2) + '\n')]);
  await writeSkippedReport(options.outDir, problems);

  const perSplit = { train: 0, test: 0 } as Record<string, number>;
  for (const p of parsed) perSplit[p.image.split]++;
  const unknownInReference = [...new Set(REFERENCE_CAPTIONS.flatMap((c) => vocab.unknownWords(c)))];
  const result: CaptionsResult = { images: parsed.length, captions: rows.length, perSplit, vocabSize: vocab.size, skipped: problems, unknownInReference };
  await writeJsonAtomic(path.join(options.outDir, 'manifest.json'), {
    stage: 'captions',
    dataset: dataset.root,
    images: result.images,
    captions: result.captions,
    perSplit,
    vocabSize: vocab.size,
    minCount: options.minCount,
    unknownInReference,
    skipped: problems.length,
    bytes: Object.fromEntries([captionsFile, referenceFile, vocabFile].map((f) => [path.basename(f(options.outDir)), statSync(f(options.outDir)).size])),
  });
  log(
    `captions: ${result.captions} captions of ${result.images} images (train ${perSplit.train}, test ${perSplit.test}); ` +
      `vocabulary ${vocab.size} tokens from training classes` +
      (unknownInReference.length ? `; reference words unknown to it: ${unknownInReference.join(', ')}` : ''),
  );
  return result;
}
