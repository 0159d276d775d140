import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ArtifactError } from './errors.ts';

/** A sibling temp name: same filesystem, so the final rename is atomic. */
export function tempPathFor(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Makes the folder `file` is written to, and removes the temp files and folders (tempPathFor's)
 * there whose process no longer runs: what a killed run left half-written, up to gigabytes for the
 * full dataset's images, is gone by the next write there.
 */
export async function prepareFolderOf(file: string): Promise<void> {
  const dir = path.dirname(file);
  await fs.mkdir(dir, { recursive: true });
  const names = await fs.readdir(dir);
  for (const name of names) {
    const pid = /^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$/.exec(name)?.[1];
    if (pid !== undefined && !isRunning(Number(pid))) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const UNWRITABLE: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the file system is read-only',
};

/** A write that failed for want of space or permission, as an error naming the file and the fix; any other error as it is. */
export function explainWriteError(err: unknown, file: string): unknown {
  const why = UNWRITABLE[(err as NodeJS.ErrnoException)?.code ?? ''];
  if (!why) return err;
  return new ArtifactError(`${file}: cannot be written (${why}); the previous version, if there was one, is as it was. Free some space or fix the permissions of ${path.dirname(file)}, then run again.`);
}

/** One file of several that change together: written to its temp name by close(), renamed into place by commit(). */
export interface StagedWrite {
  close(): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** A whole file's contents as a StagedWrite. */
export function stagedFile(file: string, data: string | Uint8Array): StagedWrite {
  const tmp = tempPathFor(file);
  const abort = () => fs.rm(tmp, { force: true }).catch(() => undefined);
  const fail = async (err: unknown) => {
    await abort();
    throw explainWriteError(err, file);
  };
  return {
    close: async () => {
      try {
        await prepareFolderOf(file);
        const handle = await fs.open(tmp, 'w');
        try {
          await handle.writeFile(data);
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (err) {
        await fail(err);
      }
    },
    commit: () => fs.rename(tmp, file).catch(fail),
    abort,
  };
}

/**
 * Files that must agree with each other (captions.arrow and vocab.json; images-76 and -304):
 * every one is written out to its temp name before any is renamed into place, so that a full disk
 * while writing one leaves all of them as they were rather than some new beside some old.
 */
export async function commitTogether(writes: StagedWrite[]): Promise<void> {
  try {
    for (const w of writes) await w.close();
  } catch (err) {
    await Promise.allSettled(writes.map((w) => w.abort()));
    throw err;
  }
  for (const w of writes) await w.commit();
}

/** Writes the whole file or nothing: a killed run or a full disk leaves the old artifact as it was. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await commitTogether([stagedFile(file, data)]);
}

export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

/**
 * After a command has written `written` into `dir`, removes the files there that look like its
 * output (`pattern`) but are not this run's: a second run with fewer images would otherwise leave
 * a first run's image-7.png beside its own.
 */
export async function removeEarlierOutputs(dir: string, written: string[], pattern: RegExp): Promise<void> {
  const keep = new Set(written.map((f) => path.basename(f)));
  for (const name of await fs.readdir(dir)) if (pattern.test(name) && !keep.has(name)) await fs.rm(path.join(dir, name), { force: true });
}
