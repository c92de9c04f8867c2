import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { decodeNpy } from '../util/npy.js';
import type { EntryManifest } from './cache.js';

export interface FileSummary {
  path: string;
  size: number;
  /** e.g. 'float32 [480, 174, 40]  min -512.3 max 231.0 mean -7.1 std 58.2' */
  detail?: string;
}

/** Arrays bigger than this get shape/dtype only (stats would read the whole file). */
const STATS_LIMIT = 512 * 1024 * 1024;

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e5 || a < 1e-3) ? x.toExponential(3) : String(Number(x.toPrecision(5)));
}

function npyHeader(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.subarray(0, n).toString('latin1');
  } finally {
    closeSync(fd);
  }
}

export function describeNpy(path: string, size: number): string {
  if (size > STATS_LIMIT) {
    const h = npyHeader(path);
    const descr = /'descr':\s*'([^']+)'/.exec(h)?.[1] ?? '?';
    const shape = /'shape':\s*\(([^)]*)\)/.exec(h)?.[1] ?? '?';
    return `${descr} (${shape})  (too large for stats)`;
  }
  const arr = decodeNpy(readFileSync(path), path);
  const data = arr.data;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let nonFinite = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      nonFinite++;
      continue;
    }
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  const n = data.length - nonFinite;
  const mean = n ? sum / n : NaN;
  let sq = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (Number.isFinite(v)) sq += (v - mean) * (v - mean);
  }
  const std = n ? Math.sqrt(sq / n) : NaN;
  const stats = n ? `  min ${fmt(min)} max ${fmt(max)} mean ${fmt(mean)} std ${fmt(std)}` : '';
  return `${arr.dtype} [${arr.shape.join(', ')}]${stats}${nonFinite ? `  (${nonFinite} non-finite)` : ''}`;
}

export function describeJson(path: string): string {
  const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (Array.isArray(v)) return `array of ${v.length}` + (v.length && v[0] && typeof v[0] === 'object' ? ` (keys: ${Object.keys(v[0] as object).slice(0, 8).join(', ')})` : '');
  if (v && typeof v === 'object') {
    const parts = Object.entries(v as Record<string, unknown>).slice(0, 12).map(([k, x]) => {
      if (Array.isArray(x)) return `${k}[${x.length}]`;
      if (x && typeof x === 'object') return `${k}{${Object.keys(x).length}}`;
      return `${k}=${JSON.stringify(x).slice(0, 24)}`;
    });
    const more = Object.keys(v).length > 12 ? ', …' : '';
    return `{ ${parts.join(', ')}${more} }`;
  }
  return JSON.stringify(v).slice(0, 60);
}

/** Files of an entry with sizes, and what can be cheaply said about each. */
export function describeEntry(dir: string, manifest: EntryManifest): FileSummary[] {
  return manifest.files.map((f) => {
    const path = join(dir, f.path);
    let detail: string | undefined;
    try {
      const ext = extname(f.path).toLowerCase();
      if (ext === '.npy') detail = describeNpy(path, f.size);
      else if (ext === '.json') detail = describeJson(path);
      else if (ext === '.onnx') detail = 'ONNX model';
      else detail = undefined;
    } catch (e) {
      detail = `(unreadable: ${(e as Error).message})`;
    }
    return { path: f.path, size: statSafe(path) ?? f.size, ...(detail ? { detail } : {}) };
  });
}

function statSafe(p: string): number | undefined {
  try {
    return statSync(p).size;
  } catch {
    return undefined;
  }
}
