import { inflateSync } from 'node:zlib';

/**
 * A minimal reader for MATLAB 5 .mat files, enough for the dataset's imagelabels.mat: it returns
 * every numeric matrix, by name, as a flat Float64Array in MATLAB's column-major order.
 * Compressed elements (as scipy and MATLAB write them) are inflated.
 */
const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15 } as const;

interface Element {
  type: number;
  data: Buffer;
  next: number;
}

function readElement(buf: Buffer, offset: number, little: boolean): Element {
  const u32 = (o: number) => (little ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const first = u32(offset);
  // Small data element: size and type share the first 4 bytes, data follows in the next 4.
  if (first >>> 16 !== 0) {
    const size = first >>> 16;
    return { type: first & 0xffff, data: buf.subarray(offset + 4, offset + 4 + size), next: offset + 8 };
  }
  const size = u32(offset + 4);
  const start = offset + 8;
  // Compressed elements are not padded to 8 bytes; all others are.
  const padding = first === MI.COMPRESSED ? 0 : (8 - (size % 8)) % 8;
  return { type: first, data: buf.subarray(start, start + size), next: start + size + padding };
}

function numbers(el: Element, little: boolean): Float64Array {
  const { data } = el;
  const read: Record<number, [number, (o: number) => number]> = {
    [MI.INT8]: [1, (o) => data.readInt8(o)],
    [MI.UINT8]: [1, (o) => data.readUInt8(o)],
    [MI.INT16]: [2, (o) => (little ? data.readInt16LE(o) : data.readInt16BE(o))],
    [MI.UINT16]: [2, (o) => (little ? data.readUInt16LE(o) : data.readUInt16BE(o))],
    [MI.INT32]: [4, (o) => (little ? data.readInt32LE(o) : data.readInt32BE(o))],
    [MI.UINT32]: [4, (o) => (little ? data.readUInt32LE(o) : data.readUInt32BE(o))],
    [MI.SINGLE]: [4, (o) => (little ? data.readFloatLE(o) : data.readFloatBE(o))],
    [MI.DOUBLE]: [8, (o) => (little ? data.readDoubleLE(o) : data.readDoubleBE(o))],
  };
  const reader = read[el.type];
  if (!reader) throw new Error(`unsupported numeric type ${el.type}`);
  const [width, get] = reader;
  return Float64Array.from({ length: data.length / width }, (_, i) => get(i * width));
}

function parseMatrix(body: Buffer, little: boolean, out: Map<string, Float64Array>): void {
  const flags = readElement(body, 0, little);
  const dims = readElement(body, flags.next, little);
  const name = readElement(body, dims.next, little);
  const arrayClass = (little ? flags.data.readUInt32LE(0) : flags.data.readUInt32BE(0)) & 0xff;
  // Classes 6..15 are the numeric ones (double .. uint64); cells, structs and chars are skipped.
  if (arrayClass < 6 || arrayClass > 15) return;
  const real = readElement(body, name.next, little);
  out.set(name.data.toString('latin1'), numbers(real, little));
}

export function readMat5(file: Buffer): Map<string, Float64Array> {
  if (file.length < 128 || !file.subarray(0, 6).toString('latin1').startsWith('MATLAB')) {
    throw new Error('is not a MATLAB 5 .mat file');
  }
  const little = file.subarray(126, 128).toString('latin1') === 'IM';
  const out = new Map<string, Float64Array>();
  let offset = 128;
  while (offset + 8 <= file.length) {
    let el = readElement(file, offset, little);
    offset = el.next;
    if (el.type === MI.COMPRESSED) {
      const inflated = inflateSync(el.data);
      el = readElement(inflated, 0, little);
    }
    if (el.type === MI.MATRIX) parseMatrix(el.data, little, out);
  }
  return out;
}
