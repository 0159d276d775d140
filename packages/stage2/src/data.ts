import { arrow as A, augmentBatch, openRecordBatchFile, UsageError, type Rng, type Split } from '@t2i/core';
import { tf } from '@t2i/backends';
import type { CaptionVectors } from 'embeddings';
import { promises as fs } from 'node:fs';
import { rowPixels } from 'preprocess-images';
import { averagedCaption, classLabels, type GanBatch, requireTwoClasses, trainingClasses } from '@t2i/gan';

/** One step of a streamed epoch: the record batches to read before it, then the rows it trains on. */
export interface StreamStep {
  read: number[];
  rows: number[];
}

export interface RowInfo {
  id: string;
  classId: number;
  split: Split;
}

/**
 * A preprocess-images artifact streamed from disk, for sets too large to hold (images-304.arrow
 * is 2.1 GiB at full scale). Only ids and classes are kept for every row; pixels are read one
 * record batch at a time with Arrow's random-access file reader, copied out for the rows `keep`
 * accepts, and dropped once a step has trained on them. Each epoch visits the record batches in a
 * fresh random order and draws batches at random from a shuffle buffer of rows, so at most about
 * `bufferRows` plus one record batch of images are ever in memory.
 */
export class ImageStream {
  /** Pixels of the rows read and not yet trained on: the only images in memory. */
  private readonly resident = new Map<number, Uint8Array>();
  /** Most rows resident at once and record batches read so far: what bounds memory, for tests and the benchmark. */
  peakResident = 0;
  batchesRead = 0;

  private constructor(
    private readonly handle: fs.FileHandle,
    private readonly reader: A.AsyncRecordBatchFileReader,
    readonly size: number,
    /** Every row of the file, in file order; a row's number is its index here. */
    readonly ids: string[],
    readonly classIds: Int16Array,
    /** The first row of each record batch. */
    private readonly starts: number[],
    /** The kept rows of each record batch. */
    private readonly kept: number[][],
  ) {}

  /**
   * Opens the file and reads every row's id, class and split: one pass over the file, since Arrow
   * IPC reads whole record batches, keeping none of their pixels.
   */
  static async open(file: string, keep: (row: RowInfo) => boolean): Promise<ImageStream> {
    const { handle, reader } = await openRecordBatchFile(file);
    try {
      const ids: string[] = [];
      const classIds: number[] = [];
      const starts: number[] = [];
      const kept: number[][] = [];
      for (let b = 0; b < reader.numRecordBatches; b++) {
        const batch = (await reader.readRecordBatch(b))!;
        const idCol = batch.getChild('image_id')!;
        const classCol = batch.getChild('class_id')!;
        const splitCol = batch.getChild('split')!;
        const rows: number[] = [];
        starts.push(ids.length);
        for (let i = 0; i < batch.numRows; i++) {
          const row = { id: idCol.get(i) as string, classId: classCol.get(i) as number, split: splitCol.get(i) as Split };
          if (keep(row)) rows.push(ids.length);
          ids.push(row.id);
          classIds.push(row.classId);
        }
        kept.push(rows);
      }
      return new ImageStream(handle, reader, Number(reader.schema.metadata.get('t2i.height')), ids, Int16Array.from(classIds), starts, kept);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** The rows `keep` accepted. */
  get rows(): number[] {
    return this.kept.flat();
  }

  get recordBatches(): number {
    return this.kept.length;
  }

  /**
   * Plans one epoch: record batches in a random order fill a buffer of at least `bufferRows`
   * rows, from which each step draws `batchSize` at random; rows short of a last full batch are
   * left out. Rows still held from the previous epoch are dropped.
   */
  startEpoch(rng: Rng, batchSize: number, bufferRows: number): StreamStep[] {
    this.resident.clear();
    const order = rng.shuffle(Array.from({ length: this.kept.length }, (_, b) => b)).filter((b) => this.kept[b].length > 0);
    const steps: StreamStep[] = [];
    let buffer: number[] = [];
    let next = 0;
    for (;;) {
      const read: number[] = [];
      while (buffer.length < Math.max(bufferRows, batchSize) && next < order.length) {
        read.push(order[next]);
        buffer.push(...this.kept[order[next++]]);
      }
      // Near an epoch's end the buffer only shrinks; once it holds a single class, no step can
      // have mismatched ("wrong") pairs, so the epoch ends there.
      if (buffer.length < batchSize || new Set(buffer.map((r) => this.classIds[r])).size < 2) return steps;
      const picks = new Set(rng.sample(buffer.length, batchSize));
      steps.push({ read, rows: [...picks].map((i) => buffer[i]) });
      buffer = buffer.filter((_, i) => !picks.has(i));
    }
  }

  /** Reads the step's record batches, keeping the pixels of their kept rows. */
  async load(step: StreamStep): Promise<void> {
    const stride = this.size * this.size * 3;
    for (const b of step.read) {
      const batch = (await this.reader.readRecordBatch(b))!;
      this.batchesRead++;
      const pixels = batch.getChild('pixels')!;
      for (const row of this.kept[b]) this.resident.set(row, rowPixels(pixels, row - this.starts[b], stride));
    }
    this.peakResident = Math.max(this.peakResident, this.resident.size);
  }

  /** The rows in memory now, in the order they were read. */
  get residentRows(): number[] {
    return [...this.resident.keys()];
  }

  /** Resident rows' pixels, [rows, size, size, 3] uint8. */
  pixels(rows: readonly number[]): Uint8Array {
    const stride = this.size * this.size * 3;
    const out = new Uint8Array(rows.length * stride);
    rows.forEach((r, i) => {
      const p = this.resident.get(r);
      if (!p) throw new Error(`row ${r} (${this.ids[r]}) is not in memory: load its step first`);
      out.set(p, i * stride);
    });
    return out;
  }

  /** Drops rows a step has trained on. */
  release(rows: readonly number[]): void {
    for (const r of rows) this.resident.delete(r);
  }

  async close(): Promise<void> {
    this.resident.clear();
    await this.handle.close();
  }
}

/**
 * Stage II's training data: the training-class rows of images-304.arrow that have caption
 * vectors, streamed, with every caption's vector in memory (small beside the images).
 */
export interface Stage2Data {
  stream: ImageStream;
  vectors: CaptionVectors;
  /** The training classes' dataset ids, ascending: a class's label is its index here. */
  classes: number[];
}

export async function openStage2Data(imagesFile: string, vectors: CaptionVectors): Promise<Stage2Data> {
  const stream = await ImageStream.open(imagesFile, (row) => row.split === 'train' && vectors.byImage.has(row.id));
  try {
    requireTwoClasses(stream.rows.map((r) => stream.classIds[r]));
  } catch (err) {
    await stream.close();
    throw err;
  }
  return { stream, vectors, classes: trainingClasses(stream.rows.map((r) => stream.classIds[r])) };
}

/**
 * One streamed step's batch: random crops and flips of its rows in [-1, 1], each with the mean of
 * k of its captions' vectors, and for each a wrong image of another class from the rows in memory.
 */
export async function streamedBatch(data: Stage2Data, step: StreamStep, crop: number, captionsPerExample: number, rng: Rng): Promise<GanBatch> {
  const { stream, vectors } = data;
  await stream.load(step);
  const pool = stream.residentRows;
  const wrongRows = step.rows.map((r) => {
    const others = pool.filter((w) => stream.classIds[w] !== stream.classIds[r]);
    if (others.length === 0) throw new UsageError(`stage2: every image in the shuffle buffer is of class ${stream.classIds[r]}, so there is no wrong image for it; raise --shuffle-rows`);
    return others[rng.int(others.length)];
  });
  const text = new Float32Array(step.rows.length * vectors.dim);
  step.rows.forEach((r, i) => text.set(averagedCaption(vectors.byImage.get(stream.ids[r])!, vectors.dim, captionsPerExample, rng), i * vectors.dim));
  const images = (rows: number[]) =>
    tf.tensor4d(augmentBatch({ pixels: stream.pixels(rows), count: rows.length, size: stream.size }, { crop, mode: 'random', flip: true }, rng), [rows.length, crop, crop, 3]);
  const batch = {
    real: images(step.rows),
    wrong: images(wrongRows),
    text: tf.tensor2d(text, [step.rows.length, vectors.dim]),
    labels: classLabels(data.classes, step.rows.map((r) => stream.classIds[r])),
  };
  stream.release(step.rows);
  return batch;
}
