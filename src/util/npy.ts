import { readFileSync, writeFileSync } from 'node:fs';

/** NumPy .npy v1.0 reader/writer for the dtypes emopipe stores (C order, little endian). */
export type NpyDtype = 'float32' | 'int32' | 'float64' | 'uint8';
export type NpyArray =
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'float64'; shape: number[]; data: Float64Array }
  | { dtype: 'int32'; shape: number[]; data: Int32Array }
  | { dtype: 'uint8'; shape: number[]; data: Uint8Array };

const DESCR: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int32: '<i4', uint8: '|u1' };
const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

export function encodeNpy(arr: NpyArray): Buffer {
  const shape = arr.shape.length === 1 ? `(${arr.shape[0]},)` : `(${arr.shape.join(', ')})`;
  let header = `{'descr': '${DESCR[arr.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic(6) + version(2) + len(2) + header + '\n' must be a multiple of 64.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  MAGIC.copy(pre, 0);
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(arr.data.buffer, arr.data.byteOffset, arr.data.byteLength);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}

export function writeNpy(path: string, arr: NpyArray): void {
  writeFileSync(path, encodeNpy(arr));
}

export function decodeNpy(buf: Buffer, name = 'array'): NpyArray {
  if (buf.length < 10 || !buf.subarray(0, 6).equals(MAGIC)) throw new Error(`${name}: not a .npy file`);
  const major = buf[6]!;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeStr = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeStr === undefined) throw new Error(`${name}: malformed .npy header`);
  if (fortran === 'True') throw new Error(`${name}: Fortran-order arrays are not supported`);
  const shape = shapeStr.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  // Copy so the typed array is aligned regardless of the Buffer's pool offset.
  const bytes = new Uint8Array(buf.subarray(offset)).slice().buffer;
  switch (descr) {
    case '<f4': return { dtype: 'float32', shape, data: new Float32Array(bytes, 0, count) };
    case '<f8': return { dtype: 'float64', shape, data: new Float64Array(bytes, 0, count) };
    case '<i4': return { dtype: 'int32', shape, data: new Int32Array(bytes, 0, count) };
    case '|u1': return { dtype: 'uint8', shape, data: new Uint8Array(bytes, 0, count) };
    default: throw new Error(`${name}: unsupported dtype ${descr}`);
  }
}

export function readNpy(path: string): NpyArray {
  return decodeNpy(readFileSync(path), path);
}
