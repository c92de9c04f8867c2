/**
 * A minimal protobuf encoder for the subset of onnx.proto that emopipe writes (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto) on protobufjs's wire writer. Field numbers
 * follow onnx/onnx.proto3; no schema is loaded at run time (the subset is small enough to write by hand).
 */
import protobuf from 'protobufjs/minimal.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export interface TensorInit {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  /** Little-endian bytes of the values (raw_data). */
  raw: Uint8Array;
}

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: TensorInit };

export interface NodeDef {
  opType: string;
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Record<string, AttrValue>;
}

export interface ValueInfo {
  name: string;
  dataType: DataTypeCode;
  /** A number per dimension, or a string for a symbolic one (e.g. 'N'). */
  shape: (number | string)[];
}

export interface ModelDef {
  graphName: string;
  nodes: NodeDef[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: TensorInit[];
  opsetVersion: number;
  /** Opsets of other domains the nodes use (e.g. com.microsoft.nchwc). */
  extraOpsets?: { domain: string; version: number }[];
  producer?: string;
}

/** protobufjs's wire writer, with field tags: nested messages are length-delimited in place (fork/ldelim). */
class Writer {
  private readonly pb = protobuf.Writer.create();

  int(field: number, v: number): void {
    // int64 fields: negative values are encoded as 10-byte two's complement.
    this.pb.uint32((field << 3) | 0).int64(v);
  }

  bytes(field: number, data: Uint8Array): void {
    this.pb.uint32((field << 3) | 2).bytes(data);
  }

  string(field: number, s: string): void {
    this.pb.uint32((field << 3) | 2).string(s);
  }

  float(field: number, v: number): void {
    this.pb.uint32((field << 3) | 5).float(v);
  }

  message(field: number, build: (w: Writer) => void): void {
    this.pb.uint32((field << 3) | 2).fork();
    build(this);
    this.pb.ldelim();
  }

  finish(): Uint8Array {
    return this.pb.finish();
  }
}

function writeTensor(w: Writer, t: TensorInit): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, t.raw);
}

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

function writeAttribute(w: Writer, name: string, a: AttrValue): void {
  w.string(1, name);
  switch (a.kind) {
    case 'float': w.float(2, a.value); break;
    case 'int': w.int(3, a.value); break;
    case 'string': w.string(4, a.value); break;
    case 'tensor': w.message(5, (m) => writeTensor(m, a.value)); break;
    case 'floats': for (const f of a.value) w.float(7, f); break;
    case 'ints': for (const i of a.value) w.int(8, i); break;
  }
  w.int(20, ATTR_TYPE[a.kind]);
}

function writeNode(w: Writer, n: NodeDef): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, a] of Object.entries(n.attributes ?? {})) w.message(5, (m) => writeAttribute(m, k, a));
  if (n.domain) w.string(7, n.domain);
}

function writeValueInfo(w: Writer, v: ValueInfo): void {
  w.string(1, v.name);
  w.message(2, (type) =>
    type.message(1, (tensor) => {
      tensor.int(1, v.dataType);
      tensor.message(2, (shape) => {
        for (const d of v.shape) {
          shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        }
      });
    }),
  );
}

/** Serialises a model to ONNX protobuf bytes (IR version 8). */
export function encodeModel(m: ModelDef): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, m.producer ?? 'emopipe');
  w.message(7, (g) => {
    for (const n of m.nodes) g.message(1, (x) => writeNode(x, n));
    g.string(2, m.graphName);
    for (const t of m.initializers) g.message(5, (x) => writeTensor(x, t));
    for (const v of m.inputs) g.message(11, (x) => writeValueInfo(x, v));
    for (const v of m.outputs) g.message(12, (x) => writeValueInfo(x, v));
  });
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, m.opsetVersion);
  });
  for (const x of m.extraOpsets ?? []) {
    w.message(8, (o) => {
      o.string(1, x.domain);
      o.int(2, x.version);
    });
  }
  return w.finish();
}
