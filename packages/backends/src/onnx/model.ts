/**
 * Writes the few ONNX graphs the native convolution kernels run (onnx.proto's ModelProto, proto2
 * wire format): float32 tensors of fixed shapes, nodes with int and ints attributes, int64
 * initializers. Small enough to write by hand, and it spares a protobuf dependency.
 */

/** Protobuf writer: varints, and length-delimited fields built from nested writers. */
class Writer {
  private readonly bytes: number[] = [];

  private varint(value: number | bigint): void {
    // int64 fields carry negatives as 10-byte two's complement.
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  int(field: number, value: number): this {
    this.varint(field << 3);
    this.varint(value);
    return this;
  }

  raw(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.raw(field, new TextEncoder().encode(value));
  }

  message(field: number, inner: Writer): this {
    return this.raw(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

export type Attribute = number | number[];

export interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, Attribute>;
}

export interface Graph {
  /** Float32 inputs and outputs with their shapes. */
  inputs: Record<string, number[]>;
  outputs: Record<string, number[]>;
  nodes: Node[];
  /** Constant int64 tensors (Slice's starts, Reshape's shapes...), 1-D. */
  int64s?: Record<string, number[]>;
}

/** ONNX opset of the graphs; IR version 7 is the one that goes with it. */
export const OPSET = 13;

function valueInfo(name: string, shape: number[]): Writer {
  const dims = new Writer();
  for (const d of shape) dims.message(1, new Writer().int(1, d));
  const tensor = new Writer().int(1, FLOAT).message(2, dims);
  return new Writer().string(1, name).message(2, new Writer().message(1, tensor));
}

function attribute(name: string, value: Attribute): Writer {
  const a = new Writer().string(1, name);
  if (typeof value === 'number') return a.int(3, value).int(20, ATTR_INT);
  for (const v of value) a.int(8, v);
  return a.int(20, ATTR_INTS);
}

function int64Tensor(name: string, values: number[]): Writer {
  const t = new Writer().int(1, values.length).int(2, INT64);
  for (const v of values) t.int(7, v);
  return t.string(8, name);
}

/** The graph as the bytes of an ONNX model file. */
export function onnxModel(graph: Graph): Uint8Array {
  const g = new Writer();
  graph.nodes.forEach((node, i) => {
    const n = new Writer();
    for (const input of node.inputs) n.string(1, input);
    for (const output of node.outputs) n.string(2, output);
    n.string(3, `n${i}`).string(4, node.op);
    for (const [name, value] of Object.entries(node.attrs ?? {})) n.message(5, attribute(name, value));
    g.message(1, n);
  });
  g.string(2, 'g');
  for (const [name, values] of Object.entries(graph.int64s ?? {})) g.message(5, int64Tensor(name, values));
  for (const [name, shape] of Object.entries(graph.inputs)) g.message(11, valueInfo(name, shape));
  for (const [name, shape] of Object.entries(graph.outputs)) g.message(12, valueInfo(name, shape));
  return new Writer().int(1, 7).message(7, g).message(8, new Writer().string(1, '').int(2, OPSET)).finish();
}
