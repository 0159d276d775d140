import { ArtifactError } from '@t2i/core';
import { tf } from '@t2i/backends';
import { fromHalf } from './half.ts';

/** One tensor of a folder's tensors.json: where its values lie in tensors.bin. */
export interface TensorEntry {
  group: string;
  name: string;
  shape: number[];
  /** As stored: float16 is read back as float32. */
  dtype: 'float32' | 'int32' | 'float16';
  /** In bytes, into tensors.bin. */
  offset: number;
  /** In values. */
  length: number;
}

/** What tensors.json holds. */
export interface TensorsJson {
  format: string;
  tensors: TensorEntry[];
  meta: Record<string, unknown>;
}

/** A tensor folder as read: its named tensor groups (the caller disposes them) and its JSON metadata. */
export interface Tensors {
  groups: Record<string, Record<string, tf.Tensor>>;
  meta: Record<string, unknown>;
}

/**
 * Reads one tensor folder (tensors.json + tensors.bin) wherever it lies: from files under Node
 * (loadTensors), over HTTP in a browser (fetchTensors). The model code takes one, so the command
 * line and the page build, load and run the same models.
 */
export type ReadTensors = (folder: string) => Promise<Tensors>;

/** What to do about a damaged tensor folder, whether it holds a checkpoint or an exported model. */
export const REMAKE = 'delete this folder and make it again (a checkpoint: training then resumes from the one before)';

/** An empty array of the type an entry is stored as, for its bytes to be read into. */
export function entryValues(e: TensorEntry): Float32Array | Int32Array | Uint16Array {
  return e.dtype === 'int32' ? new Int32Array(e.length) : e.dtype === 'float16' ? new Uint16Array(e.length) : new Float32Array(e.length);
}

/** The tensor of an entry's values as stored (float16 widened to float32). */
export function entryTensor(e: TensorEntry, values: Float32Array | Int32Array | Uint16Array): tf.Tensor {
  return values instanceof Uint16Array ? tf.tensor(fromHalf(values), e.shape, 'float32') : tf.tensor(values, e.shape, e.dtype as 'float32' | 'int32');
}

/** A whole folder from the text of its tensors.json and the bytes of its tensors.bin; `folder` names it in errors. */
export function decodeTensors(folder: string, jsonText: string, bin: Uint8Array): Tensors {
  let json: TensorsJson;
  try {
    json = JSON.parse(jsonText);
  } catch (err) {
    throw new ArtifactError(`${folder}/tensors.json cannot be read (${(err as Error).message}); ${REMAKE}`);
  }
  const groups: Tensors['groups'] = {};
  for (const e of json.tensors) {
    const values = entryValues(e);
    if (e.offset + values.byteLength > bin.byteLength) throw new ArtifactError(`${folder}/tensors.bin ends inside ${e.group}/${e.name}: the file is truncated; ${REMAKE}`);
    // Copied, not viewed: an entry's offset need not be aligned to its type's size.
    new Uint8Array(values.buffer).set(bin.subarray(e.offset, e.offset + values.byteLength));
    (groups[e.group] ??= {})[e.name] = entryTensor(e, values);
  }
  return { groups, meta: json.meta };
}

/** A tensor folder over HTTP (`url`: the folder's address, absolute or relative to the page): the browser's ReadTensors. */
export async function fetchTensors(url: string): Promise<Tensors> {
  const get = async (file: string) => {
    const response = await fetch(`${url}/${file}`).catch((err: Error) => {
      throw new ArtifactError(`${url}/${file} cannot be fetched (${err.message}): is the server (pnpm t2i serve) still running?`);
    });
    if (!response.ok) throw new ArtifactError(`${url}/${file} cannot be fetched (HTTP ${response.status} ${response.statusText}): the server has no such model; restart pnpm t2i serve`);
    return response;
  };
  const [json, bin] = await Promise.all([get('tensors.json'), get('tensors.bin')]);
  return decodeTensors(url, await json.text(), new Uint8Array(await bin.arrayBuffer()));
}
