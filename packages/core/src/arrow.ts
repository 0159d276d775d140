import * as A from 'apache-arrow';
import { createWriteStream, promises as fs } from 'node:fs';
import { finished } from 'node:stream/promises';
import { explainWriteError, prepareFolderOf, tempPathFor } from './atomic.ts';
import { ArtifactError } from './errors.ts';

export { A as arrow };

export function utf8Column(values: string[]): A.Data<A.Utf8> {
  return A.vectorFromArray(values, new A.Utf8()).data[0];
}

export function int16Column(values: Int16Array): A.Data<A.Int16> {
  return A.makeData({ type: new A.Int16(), length: values.length, nullCount: 0, data: values });
}

export function int32Column(values: Int32Array): A.Data<A.Int32> {
  return A.makeData({ type: new A.Int32(), length: values.length, nullCount: 0, data: values });
}

const dictionaries = new Map<string, A.Vector<A.Utf8>>();

/**
 * Low-cardinality strings (a split name) as a dictionary column. Every batch shares one
 * dictionary vector: the IPC file format allows no replacement dictionaries, and arrow's writer
 * tells a repeat from a replacement by identity.
 */
export function dictionaryColumn(values: string[], dictionary: string[]): A.Data<A.Dictionary<A.Utf8, A.Int8>> {
  const key = dictionary.join('\u0000');
  let vector = dictionaries.get(key);
  if (!vector) dictionaries.set(key, (vector = A.vectorFromArray(dictionary, new A.Utf8())));
  const indices = Int8Array.from(values, (v) => {
    const i = dictionary.indexOf(v);
    if (i < 0) throw new RangeError(`"${v}" is not one of ${dictionary.join(', ')}`);
    return i;
  });
  return A.makeData({ type: new A.Dictionary(new A.Utf8(), new A.Int8()), length: values.length, nullCount: 0, data: indices, dictionary: vector });
}

export function fixedListType<T extends A.Uint8 | A.Float32>(child: T, size: number): A.FixedSizeList<T> {
  return new A.FixedSizeList(size, new A.Field('item', child, false));
}

/** Rows of `size` values each, from one flat typed array (pixels, embedding vectors). */
export function fixedListColumn(values: Uint8Array, size: number): A.Data<A.FixedSizeList<A.Uint8>>;
export function fixedListColumn(values: Float32Array, size: number): A.Data<A.FixedSizeList<A.Float32>>;
export function fixedListColumn(values: Uint8Array | Float32Array, size: number): A.Data {
  if (values.length % size !== 0) throw new RangeError(`${values.length} values do not split into rows of ${size}`);
  const child = values instanceof Uint8Array ? new A.Uint8() : new A.Float32();
  const childData = A.makeData({ type: child, length: values.length, nullCount: 0, data: values } as never);
  return A.makeData({ type: fixedListType(child, size), length: values.length / size, nullCount: 0, child: childData } as never);
}

/** Variable-length int32 lists (token ids). */
export function int32ListColumn(rows: ArrayLike<number>[]): A.Data<A.List<A.Int32>> {
  return A.vectorFromArray(rows.map((r) => Array.from(r)), new A.List(new A.Field('item', new A.Int32(), false))).data[0];
}

export function makeBatch(schema: A.Schema, columns: A.Data[]): A.RecordBatch {
  const length = columns[0]?.length ?? 0;
  for (const [i, c] of columns.entries()) {
    if (c.length !== length) throw new RangeError(`column ${schema.fields[i].name} has ${c.length} rows, expected ${length}`);
  }
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length, nullCount: 0, children: columns }));
}

/**
 * An Arrow IPC file written batch by batch to a temp name and renamed into place by commit(),
 * so readers never see a half-written artifact and the data never has to fit in memory at once.
 */
export class ArrowFileSink {
  private constructor(
    readonly file: string,
    private readonly tmp: string,
    private readonly writer: A.RecordBatchFileWriter,
    private readonly done: Promise<void>,
  ) {}

  rows = 0;
  private closed = false;

  static async open(file: string): Promise<ArrowFileSink> {
    await prepareFolderOf(file);
    const tmp = tempPathFor(file);
    const writer = new A.RecordBatchFileWriter();
    const out = createWriteStream(tmp);
    const done = finished(writer.toNodeStream().pipe(out));
    done.catch(() => undefined);
    return new ArrowFileSink(file, tmp, writer, done);
  }

  write(batch: A.RecordBatch): void {
    this.writer.write(batch);
    this.rows += batch.numRows;
  }

  /** Finishes the temp file, where a full disk shows; commit() then renames it into place. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.writer.close();
      await this.done;
      this.closed = true;
    } catch (err) {
      await this.fail(err);
    }
  }

  async commit(): Promise<void> {
    await this.close();
    await fs.rename(this.tmp, this.file).catch((err: unknown) => this.fail(err));
  }

  private async fail(err: unknown): Promise<never> {
    await fs.rm(this.tmp, { force: true });
    throw explainWriteError(err, this.file);
  }

  async abort(): Promise<void> {
    // Closing, not writer.abort(): arrow's abort rejects a promise nobody can catch.
    await Promise.resolve(this.writer.close()).catch(() => undefined);
    await this.done.catch(() => undefined);
    await fs.rm(this.tmp, { force: true });
  }
}

/** Streams an Arrow IPC file one record batch at a time: the file is never read whole. */
export async function* readBatches(file: string): AsyncGenerator<A.RecordBatch> {
  const handle = await fs.open(file, 'r');
  try {
    const reader = await A.RecordBatchReader.from(handle);
    for await (const batch of reader) yield batch;
  } finally {
    await handle.close();
  }
}

/**
 * An Arrow IPC file opened for random access, one record batch at a time (readRecordBatch(i)), for
 * files too big to read whole. The caller closes `handle` when done with `reader`.
 */
export async function openRecordBatchFile(file: string): Promise<{ handle: fs.FileHandle; reader: A.AsyncRecordBatchFileReader }> {
  const handle = await fs.open(file, 'r');
  try {
    const reader = await A.RecordBatchReader.from(handle);
    if (!reader.isFile() || !reader.isAsync()) throw new ArtifactError(`${file}: not an Arrow IPC file (random-access format)`);
    await reader.open();
    return { handle, reader: reader as A.AsyncRecordBatchFileReader };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Small artifacts (captions, vectors) as one table. */
export async function readTable(file: string): Promise<A.Table> {
  const bytes = await fs.readFile(file);
  try {
    return A.tableFromIPC(bytes);
  } catch (err) {
    throw new ArtifactError(`${file} is not a readable Arrow file (${(err as Error).message}): it is damaged; delete it and run the step that writes it again`);
  }
}
