/**
 * Dawn's Node binding (the `webgpu` package) learns that GPU work is done by polling: while a
 * promise of its is pending (a buffer read, every training step), each poll asks the global
 * setImmediate for the next, with a new native function each time, which spins a core and leaves
 * garbage whose collection lands in the next step's recording (docs/webgpu.md). Here its polls go
 * through a timer instead, at most one a millisecond: a read waits up to 1 ms longer, and the core
 * and the heap are left alone.
 */
const throttled = Symbol('t2i.dawnPollByTimer');

type Immediate = (callback: (...args: unknown[]) => void, ...args: unknown[]) => unknown;

/** Dawn's poll: an anonymous native function of no arguments (promise resolvers take one, bound functions have names). */
export function isDawnPoll(callback: unknown): boolean {
  return typeof callback === 'function' && callback.name === '' && callback.length === 0 && Function.prototype.toString.call(callback).includes('[native code]');
}

/** Wraps `host.setImmediate` once; everything but Dawn's polls still goes straight through. */
export function pollDawnByTimer(host: { setImmediate: Immediate; setTimeout: (callback: (...args: unknown[]) => void, ms: number, ...args: unknown[]) => unknown } = globalThis as never): void {
  const immediate = host.setImmediate as Immediate & { [throttled]?: true };
  if (immediate[throttled]) return;
  const wrapped: Immediate = (callback, ...args) => (isDawnPoll(callback) ? host.setTimeout(callback, 1, ...args) : immediate(callback, ...args));
  host.setImmediate = Object.assign(wrapped, { [throttled]: true as const });
}
