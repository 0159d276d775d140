/**
 * tfjs asks each dispatch's pipeline for its bind group layout (pipeline.getBindGroupLayout(0)),
 * and Dawn's Node binding answers with a new object each time: 4.7 µs a call through lavapipe,
 * 2.6 ms of the 65 it takes to record a Stage I step (issue 7). A pipeline's layouts never change,
 * so each is asked for once and kept while its pipeline lives.
 */
const memoised = Symbol('t2i.memoisedBindGroupLayouts');

type Pipeline = { getBindGroupLayout(index: number): unknown };

export function memoiseBindGroupLayouts(proto: Pipeline & { [memoised]?: true }): void {
  if (proto[memoised]) return;
  const original = proto.getBindGroupLayout;
  const layouts = new WeakMap<object, unknown[]>();
  proto.getBindGroupLayout = function (this: Pipeline, index: number) {
    let known = layouts.get(this);
    if (!known) layouts.set(this, (known = []));
    return (known[index] ??= original.call(this, index));
  };
  proto[memoised] = true;
}
