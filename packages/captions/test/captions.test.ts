import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDataset, removeDir, tempDir } from '../../../test/helpers/dataset.ts';
import { BadInputError, readTable } from '@t2i/core';
import { buildCaptions, captionsFile, parseCaptionFile, REFERENCE_CAPTIONS, referenceFile, tokenize, vocabFile, Vocabulary } from '../src/index.ts';

const dirs: string[] = [];
const track = (d: string) => (dirs.push(d), d);
afterEach(() => dirs.splice(0).forEach(removeDir));
const bytes = (s: string) => new TextEncoder().encode(s);
const tenLines = Array.from({ length: 10 }, (_, i) => `caption ${i}`).join('\n') + '\n';

describe('tokenize', () => {
  it('lower-cases and splits punctuation off words', () => {
    expect(tokenize('This flower has petals that are Yellow, white and purple.')).toEqual(['this', 'flower', 'has', 'petals', 'that', 'are', 'yellow', ',', 'white', 'and', 'purple', '.']);
    expect(tokenize("the flower's  centre")).toEqual(['the', "flower's", 'centre']);
    expect(tokenize('')).toEqual([]);
    expect(tokenize('Fleur à pétales — 花 🌸')).toEqual(['fleur', 'à', 'pétales', '—', '花', '🌸']);
  });
});

describe('Vocabulary', () => {
  it('counts words, orders them by count and maps unknown words to <unk>', () => {
    const v = Vocabulary.build(['red petals', 'red and white petals', 'red'], 1);
    expect(v.json.tokens.slice(0, 7)).toEqual(['<pad>', '<unk>', '<bos>', '<eos>', 'red', 'petals', 'and']);
    expect(v.json.counts.slice(4, 6)).toEqual([3, 2]);
    expect(Array.from(v.encode('Red zebra petals'))).toEqual([4, 1, 5]);
    expect(v.unknownWords('red zebra')).toEqual(['zebra']);
    expect(Vocabulary.build(['red petals', 'red'], 2).json.tokens).toEqual(['<pad>', '<unk>', '<bos>', '<eos>', 'red']);
  });
});

describe('parseCaptionFile', () => {
  it('accepts ten lines with LF or CRLF endings', () => {
    expect(parseCaptionFile(bytes(tenLines))).toEqual({ captions: Array.from({ length: 10 }, (_, i) => `caption ${i}`) });
    expect(parseCaptionFile(bytes(tenLines.replace(/\n/g, '\r\n')))).toHaveProperty('captions');
  });
  it('names what is wrong', () => {
    expect(parseCaptionFile(new Uint8Array([0x66, 0xff, 0xfe, 0x0a]))).toEqual({ problem: 'is not valid UTF-8' });
    expect(parseCaptionFile(bytes(''))).toEqual({ problem: 'is empty' });
    expect(parseCaptionFile(bytes('a\nb\n'))).toEqual({ problem: 'has 2 lines, expected 10 (one caption per line)' });
    expect(parseCaptionFile(bytes('a\n\nb\n'))).toEqual({ problem: 'line 2 is blank' });
  });
});

describe('buildCaptions', () => {
  it('writes ten rows per image, the reference captions and a training-only vocabulary', async () => {
    const data = track(makeDataset({ classes: [1, 26], perClass: 3 }));
    const out = track(tempDir());
    const result = await buildCaptions({ dataDir: data, outDir: out, minCount: 1, skipBad: false });
    expect(result.perSplit).toEqual({ train: 3, test: 3 });
    const table = await readTable(captionsFile(out));
    expect(table.numRows).toBe(60);
    expect(table.getChild('caption_index')!.toArray().slice(0, 10)).toEqual(Int8Array.from({ length: 10 }, (_, i) => i));
    const vocab = new Vocabulary(JSON.parse(readFileSync(vocabFile(out), 'utf8')));
    const trainText = readFileSync(path.join(data, 'text_c10/class_00026/image_06487.txt'), 'utf8').split('\n')[0];
    const row = table.toArray().find((r) => r.image_id === 'image_06487' && r.caption_index === 0)!;
    expect(row.text).toBe(trainText);
    expect(row.split).toBe('train');
    expect(Array.from(row.token_ids as Int32Array)).toEqual(Array.from(vocab.encode(trainText)));
    // test-class words that never occur in training captions must be <unk>
    const testOnly = table.toArray().filter((r) => r.split === 'test').flatMap((r) => tokenize(r.text)).filter((w) => vocab.unknownWords(w).length);
    expect(testOnly.length).toBeGreaterThan(0);
    const reference = await readTable(referenceFile(out));
    expect(reference.getChild('text')!.toArray()).toEqual([...REFERENCE_CAPTIONS]);
  });

  it('lists every bad caption file, or skips them with --skip-bad', async () => {
    const data = track(makeDataset({ classes: [1, 26], perClass: 3 }));
    writeFileSync(path.join(data, 'text_c10/class_00001/image_06734.txt'), '');
    writeFileSync(path.join(data, 'text_c10/class_00026/image_06488.txt'), 'only one line\n');
    const out = track(tempDir());
    const error = await buildCaptions({ dataDir: data, outDir: out, minCount: 1, skipBad: false }).catch((e) => e);
    expect(error).toBeInstanceOf(BadInputError);
    expect(error.message).toMatch(/text_c10\/class_00001\/image_06734.txt: is empty/);
    expect(error.message).toMatch(/text_c10\/class_00026\/image_06488.txt: has 1 line, expected 10/);
    const result = await buildCaptions({ dataDir: data, outDir: out, minCount: 1, skipBad: true });
    expect(result.images).toBe(4);
    expect(JSON.parse(readFileSync(path.join(out, 'skipped.json'), 'utf8')).count).toBe(2);
  });
});
