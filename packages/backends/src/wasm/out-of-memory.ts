import { explainErrorsWith } from '@t2i/core';
import { wasmHeapBytes } from '../backend.ts';

/**
 * When the wasm backend's heap (4 GiB at most) cannot grow, its C++ aborts ("Aborted()") and the
 * next touch of the dead module traps ("memory access out of bounds"): say what that means and what
 * to change. `heapBytes` is the wasm heap's size when that is the backend.
 */
export function explainAbort(err: unknown, heapBytes?: number): unknown {
  if (!(err instanceof Error)) return err;
  const aborted = /^Aborted\(/.test(err.message) || (err instanceof WebAssembly.RuntimeError && heapBytes !== undefined && heapBytes > 3.5 * 2 ** 30);
  if (!aborted) return err;
  const heap = heapBytes === undefined ? '' : ` (its heap had grown to ${(heapBytes / 2 ** 30).toFixed(2)} GiB)`;
  return new Error(
    `the wasm backend ran out of memory${heap}: its heap stops at 4 GiB, and this process cannot go on. ` +
      'Lower --batch-size or the widths (--ngf, --ndf), or train on a GPU backend. The last checkpoint is kept.',
    { cause: err },
  );
}

// A command that crashes on wasm's trap says why, whichever command it is.
explainErrorsWith((err) => (err instanceof WebAssembly.RuntimeError ? explainAbort(err, wasmHeapBytes()) : err));
