/**
 * Bounds on what a pipeline file (and --set) may make the loader do, and the checks the YAML
 * library does not do in linear time. Pipelines are a few KB; these limits leave room for long
 * label lists while keeping a hostile file from costing minutes of CPU or megabytes per run
 * in the registry (which stores the resolved config).
 */
import { isScalar, visit, type Document, type LineCounter } from 'yaml';
import { EmopipeError } from '../util/errors.js';

/**
 * Largest pipeline file accepted (bytes). The yaml library parses ~0.5 MB/s here (a 950 KB
 * mapping: 1.7-2.2 s), so 256 KiB costs at most ~0.5 s; real pipelines are 1-5 KB.
 */
export const MAX_PIPELINE_BYTES = 256 * 1024;
/**
 * Largest pipeline once aliases are expanded and --set values applied (JSON characters): what
 * the run registry records per run. yaml's maxAliasCount stops nested alias bombs, but not one
 * big anchor aliased a hundred times.
 */
export const MAX_EXPANDED_CHARS = 1024 * 1024;
/** Largest `--set KEY=VALUE` text accepted (characters). */
export const MAX_SET_CHARS = 64 * 1024;
/** At most this many problems are listed in one error (the rest are counted). */
export const MAX_LISTED_ERRORS = 20;

const kib = (n: number) => `${Math.ceil(n / 1024)} KiB`;

export function checkPipelineSize(bytes: number, file: string): void {
  if (bytes > MAX_PIPELINE_BYTES) {
    throw new EmopipeError(
      'E_PIPELINE_INVALID',
      `pipeline file is ${kib(bytes)}; the limit is ${kib(MAX_PIPELINE_BYTES)} (a pipeline describes stages and their params; keep data such as file lists in the corpus, e.g. ingest's csv)`,
      { file },
    );
  }
}

export function checkExpandedSize(raw: unknown, file: string): void {
  const size = JSON.stringify(raw)?.length ?? 0;
  if (size > MAX_EXPANDED_CHARS) {
    throw new EmopipeError('E_PIPELINE_INVALID', `the pipeline expands to ${kib(size)} (YAML aliases and --set values included); the limit is ${kib(MAX_EXPANDED_CHARS)}`, { file });
  }
}

export function checkSetSize(text: string): void {
  if (text.length > MAX_SET_CHARS) {
    throw new EmopipeError('E_USAGE', `--set ${text.slice(0, 40)}...: ${kib(text.length)} long; the limit is ${kib(MAX_SET_CHARS)} per --set`);
  }
}

/**
 * Duplicate keys in any mapping, in one pass with a Set per mapping. (The yaml library's own
 * `uniqueKeys` check compares every key with every earlier one: 10k keys took seconds.)
 */
export function duplicateKeyErrors(doc: Document, lines: LineCounter, file: string): EmopipeError[] {
  const errors: EmopipeError[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        // Scalar keys by value (as yaml's check); a collection as a key is never equal to another.
        if (!isScalar(pair.key)) continue;
        const key = pair.key.value;
        if (seen.has(key) && errors.length < MAX_LISTED_ERRORS) {
          const pos = pair.key.range ? lines.linePos(pair.key.range[0]) : undefined;
          errors.push(new EmopipeError('E_PIPELINE_INVALID', 'Map keys must be unique', { file, line: pos?.line, column: pos?.col }));
        }
        seen.add(key);
      }
    },
  });
  return errors;
}

/** Paths of numbers that are not finite (`.inf`, `1e400`): JSON Schema's `integer` lets Infinity through. */
export function nonFinitePaths(value: unknown): (string | number)[][] {
  const out: (string | number)[][] = [];
  const path: (string | number)[] = [];
  const walk = (v: unknown) => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v) && out.length < MAX_LISTED_ERRORS) out.push([...path]);
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        walk(v[i]);
        path.pop();
      }
    } else if (v !== null && typeof v === 'object') {
      for (const k in v) {
        path.push(k);
        walk((v as Record<string, unknown>)[k]);
        path.pop();
      }
    }
  };
  walk(value);
  return out;
}

/** Each mapping's pairs by key text, built once, so locating n errors is linear, not n × keys. */
export class KeyIndex {
  private readonly maps = new WeakMap<object, Map<string, unknown>>();

  pair<P>(map: { items: P[] }, key: string, keyOf: (p: P) => string | undefined): P | undefined {
    let index = this.maps.get(map) as Map<string, P> | undefined;
    if (!index) {
      index = new Map();
      for (const p of map.items) {
        const k = keyOf(p);
        if (k !== undefined && !index.has(k)) index.set(k, p);
      }
      this.maps.set(map, index);
    }
    return index.get(key);
  }
}
