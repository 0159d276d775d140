/**
 * tfjs asks each dispatch's pipeline for its bind group layout, and Dawn's Node binding makes a new
 * object at each call, a cost in every recorded step (docs/webgpu.md). A pipeline's layouts never
 * change, so each is asked for once and kept while its pipeline lives.
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
