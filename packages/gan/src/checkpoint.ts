import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { ArtifactError, DivergedError, explainWriteError, log, prepareFolderOf, tempPathFor } from '@t2i/core';
import { tf } from '@t2i/backends';
import { toHalf } from './half.ts';
import { ParamStore } from './params.ts';
import { entryTensor, entryValues, REMAKE, type TensorEntry, type Tensors, type TensorsJson } from './tensors.ts';

/**
 * A checkpoint is a folder `step-<n>/` holding `tensors.json` (tensor names, shapes, offsets,
 * and any JSON state: epoch, RNG state, config) and `tensors.bin` (float32/int32, or float16 for
 * exports saved so, concatenated).
 * It is written to a temp folder and renamed into place, so a killed run leaves either the
 * previous checkpoint or the new one, never half of one.
 */
export interface CheckpointState {
  step: number;
  /** Model weights, by name. */
  weights: Record<string, tf.Tensor>;
  /** Optimizer slots (Adam's moments and iteration count), by name. */
  optimizer: Record<string, tf.Tensor>;
  /** Anything else a resumed run needs, as plain JSON. */
  meta: Record<string, unknown>;
}

const DIR_RE = /^step-(\d+)$/;

export const checkpointDirName = (step: number) => `step-${String(step).padStart(8, '0')}`;

/**
 * Writes named tensor groups and JSON metadata as one folder, atomically: a temp folder renamed
 * into place. Checkpoints and exported models share this format. `float16` stores float32
 * tensors at half the size (a generator to ship; never a checkpoint to resume).
 */
export async function saveTensors(folder: string, groups: Record<string, Record<string, tf.Tensor>>, meta: Record<string, unknown>, { float16 = false, finite = false } = {}): Promise<void> {
  const tensors = Object.entries(groups).flatMap(([group, named]) => Object.entries(named).map(([name, tensor]) => ({ group, name, tensor })));
  for (const { group, name, tensor } of tensors) {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') throw new Error(`${group}/${name} is ${tensor.dtype}; only float32 and int32 are stored`);
  }
  await prepareFolderOf(folder);
  const tmp = tempPathFor(folder);
  await fs.mkdir(tmp);
  try {
    // One tensor at a time: a full Stage II checkpoint (weights and Adam's moments) is 0.9 GB.
    const entries: TensorEntry[] = [];
    let offset = 0;
    const bin = await fs.open(path.join(tmp, 'tensors.bin'), 'w');
    try {
      for (const { group, name, tensor } of tensors) {
        const data = (await tensor.data()) as Float32Array | Int32Array;
        if (finite && data instanceof Float32Array && !data.every(Number.isFinite)) throw new DivergedError(`${group}/${name} holds NaN or infinite values`);
        const values = float16 && data instanceof Float32Array ? toHalf(data) : data;
        await bin.write(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
        entries.push({ group, name, shape: tensor.shape, dtype: values instanceof Uint16Array ? 'float16' : (tensor.dtype as TensorEntry['dtype']), offset, length: values.length });
        offset += values.byteLength;
      }
      await bin.sync();
    } finally {
      await bin.close();
    }
    const json = await fs.open(path.join(tmp, 'tensors.json'), 'w');
    try {
      await json.writeFile(JSON.stringify({ format: 't2i-tensors-1', tensors: entries, meta } satisfies TensorsJson, null, 1));
      await json.sync();
    } finally {
      await json.close();
    }
    // The old folder is renamed aside, not deleted, until the new one is in place: a run killed in
    // between leaves it as <folder>.previous-<pid> rather than losing both.
    const previous = `${folder}.previous-${process.pid}`;
    const replacing = existsSync(folder);
    if (replacing) await fs.rename(folder, previous);
    await fs.rename(tmp, folder);
    if (replacing) await fs.rm(previous, { recursive: true, force: true });
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true });
    throw explainWriteError(err, folder);
  }
}

/** A tensor folder from its files: Node's ReadTensors. */
export async function loadTensors(folder: string): Promise<Tensors> {
  let json: TensorsJson;
  try {
    json = JSON.parse(await fs.readFile(path.join(folder, 'tensors.json'), 'utf8'));
  } catch (err) {
    throw new ArtifactError(`${folder}/tensors.json cannot be read (${(err as Error).message}); ${REMAKE}`);
  }
  const groups: Record<string, Record<string, tf.Tensor>> = {};
  // Read tensor by tensor rather than the whole file, for the same reason as saveTensors writes so.
  const bin = await fs.open(path.join(folder, 'tensors.bin'), 'r').catch((err: Error) => {
    throw new ArtifactError(`${folder}/tensors.bin cannot be read (${err.message}); ${REMAKE}`);
  });
  try {
    for (const e of json.tensors) {
      const values = entryValues(e);
      const { bytesRead } = await bin.read(new Uint8Array(values.buffer), 0, values.byteLength, e.offset);
      if (bytesRead !== values.byteLength) throw new ArtifactError(`${folder}/tensors.bin ends inside ${e.group}/${e.name}: the file is truncated; ${REMAKE}`);
      (groups[e.group] ??= {})[e.name] = entryTensor(e, values);
    }
  } finally {
    await bin.close();
  }
  return { groups, meta: json.meta };
}

/** Refuses (DivergedError) a state holding NaN or infinity: the previous checkpoints stay the newest. */
export async function saveCheckpoint(dir: string, state: CheckpointState, keep = 3): Promise<string> {
  const folder = path.join(dir, checkpointDirName(state.step));
  try {
    await saveTensors(folder, { weights: state.weights, optimizer: state.optimizer }, { step: state.step, ...state.meta }, { finite: true });
  } catch (err) {
    if (!(err instanceof DivergedError)) throw err;
    const last = (await listCheckpoints(dir)).at(-1);
    throw new DivergedError(`training diverged: ${err.message} at step ${state.step}, so it was not checkpointed (${last === undefined ? 'there is no earlier checkpoint' : `the last checkpoint, ${path.join(dir, checkpointDirName(last))}, is kept`}); run again with a lower --learning-rate to resume from it, or with --restart`);
  } finally {
    // Optimizer state may hold fresh tensors (Adam's iteration count) beside its slot variables.
    tf.dispose(Object.values(state.optimizer).filter((t) => !(t instanceof tf.Variable)));
  }
  const all = await listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) await fs.rm(path.join(dir, checkpointDirName(old)), { recursive: true, force: true });
  return folder;
}

/** Steps of the complete checkpoints in `dir`, oldest first. */
export async function listCheckpoints(dir: string): Promise<number[]> {
  if (!existsSync(dir)) return [];
  const names = await fs.readdir(dir);
  return names
    .map((n) => DIR_RE.exec(n))
    .filter((m): m is RegExpExecArray => m !== null && existsSync(path.join(dir, m[0], 'tensors.json')))
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export async function loadCheckpoint(dir: string, step?: number): Promise<CheckpointState | undefined> {
  const steps = await listCheckpoints(dir);
  const chosen = step ?? steps[steps.length - 1];
  if (chosen === undefined) return undefined;
  const { groups, meta } = await loadTensors(path.join(dir, checkpointDirName(chosen)));
  return { step: chosen, weights: groups.weights ?? {}, optimizer: groups.optimizer ?? {}, meta };
}

/**
 * Where a training run starts: the newest checkpoint in `dir` when it is of this run's config and
 * data (`identity`) and its weights fit `store`, else none. Checkpoints that are not resumed (one
 * that does not fit; all of them on `restart`) are moved aside, with the run's `outputs` that go
 * with them (metrics, grids), to `set-aside-<time>/` beside `dir`, not deleted: left in place,
 * ones of higher steps than the new run's would outlast its own in the rotation and be what a
 * killed run resumed from, and old grids would mix with the new run's.
 */
export async function checkpointToResume(dir: string, identity: string, store: ParamStore, restart: boolean, name: string, outputs: string[] = []): Promise<CheckpointState | undefined> {
  if (restart) {
    if ((await listCheckpoints(dir)).length > 0) log(`${name}: --restart: the earlier run (checkpoints, metrics, grids) is moved to ${await setAside(dir, outputs)}`);
    return undefined;
  }
  const saved = await loadCheckpoint(dir);
  if (!saved) return undefined;
  let misfit: string | undefined;
  if (saved.meta.identity !== identity) {
    const changes = identityChanges(saved.meta.identity, identity);
    misfit = `is of another config or dataset${changes ? ` (${changes})` : ''}`;
  } else {
    const mismatch = store.mismatch(saved.weights);
    misfit = mismatch && `does not fit this version's model (${mismatch})`;
  }
  if (!misfit) return saved;
  disposeCheckpoint(saved);
  log(`${name}: the checkpoint in ${dir} ${misfit}; training from scratch (the earlier run is moved to ${await setAside(dir, outputs)})`);
  return undefined;
}

/** What differs between two run identities (JSON objects), as "ngf 4 -> 8, images 180 -> 200"; empty if they are not JSON. */
function identityChanges(before: unknown, now: string): string {
  try {
    const [a, b] = [JSON.parse(String(before)), JSON.parse(now)] as Record<string, unknown>[];
    const show = (v: unknown) => (typeof v === 'string' && v.length > 16 ? `${v.slice(0, 8)}…` : JSON.stringify(v));
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    return keys.map((k) => `${k} ${show(a[k])} -> ${show(b[k])}`).join(', ');
  } catch {
    return '';
  }
}

async function setAside(dir: string, outputs: string[]): Promise<string> {
  const to = path.join(path.dirname(dir), `set-aside-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await fs.mkdir(to, { recursive: true });
  for (const p of [dir, ...outputs]) if (existsSync(p)) await fs.rename(p, path.join(to, path.basename(p)));
  return to;
}

/** Frees the tensors a loaded checkpoint holds, once they are copied into variables. */
export function disposeCheckpoint(state: CheckpointState): void {
  tf.dispose([...Object.values(state.weights), ...Object.values(state.optimizer)]);
}

