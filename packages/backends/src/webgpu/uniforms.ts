/**
 * Every dispatch of the webgpu backend takes a small uniform buffer (shapes, strides, the program's
 * own values), and tfjs gives each its own pooled buffer and its own queue.writeBuffer, hundreds
 * of tiny writes a step (docs/webgpu.md). Here they are packed side by side into 64 KiB buffers at
 * the device's uniform offset alignment and written once before each submission. tfjs still lays
 * each one out: its own makeUniforms runs against a stand-in that hands back the bytes.
 */
import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

const ARENA_BYTES = 64 * 1024;

type Binding = { offset: number; size: number; buffer: GPUBuffer };

/** What of the backend this touches: fields tfjs keeps public in JavaScript but not in its types. */
type Internals = {
  device: GPUDevice;
  queue: GPUQueue;
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer };
  uniformPendingDisposal: GPUBuffer[];
  makeUniforms(uniforms: unknown[]): Binding;
  submitQueue(): void;
};

const packed = Symbol('t2i.packedUniforms');

export function packUniforms(webgpu: WebGPUBackend): void {
  const backend = webgpu as unknown as Internals & { [packed]?: true };
  if (backend[packed]) return;
  const layOut = backend.makeUniforms;
  const submit = backend.submitQueue;
  const align = backend.device.limits.minUniformBufferOffsetAlignment;
  const staging = new Uint8Array(ARENA_BYTES);
  let arena: GPUBuffer | undefined;
  let used = 0;
  let written = 0;

  const flush = () => {
    if (arena && used > written) backend.queue.writeBuffer(arena, written, staging, written, used - written);
    written = used;
  };
  // Released to tfjs's pool once the commands that read it are submitted, as tfjs's own are.
  const retire = () => {
    flush();
    if (arena) backend.uniformPendingDisposal.push(arena);
    arena = undefined;
    used = written = 0;
  };

  backend.makeUniforms = (uniforms) => {
    let bytes: Uint8Array | undefined;
    const standIn = {
      bufferManager: { acquireBuffer: () => undefined },
      queue: { writeBuffer: (_: unknown, __: number, data: ArrayBuffer, ___: number, size: number) => (bytes = new Uint8Array(data, 0, size)) },
      uniformPendingDisposal: [],
    };
    const { size } = layOut.call(standIn, uniforms);
    if (size > ARENA_BYTES || bytes === undefined) return layOut.call(backend, uniforms);
    let offset = Math.ceil(used / align) * align;
    if (offset + size > ARENA_BYTES) {
      retire();
      offset = 0;
    }
    arena ??= backend.bufferManager.acquireBuffer(ARENA_BYTES, GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM);
    staging.set(bytes, offset);
    used = offset + size;
    return { offset, size, buffer: arena };
  };
  backend.submitQueue = () => {
    flush();
    submit.call(backend);
  };
  backend[packed] = true;
}
