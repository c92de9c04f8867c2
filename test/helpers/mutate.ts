/**
 * Derive, for every parameter a JSON Schema describes, a different value that still validates:
 * numbers nudged within bounds, booleans flipped, enums moved to another member, strings
 * appended to, arrays changed, nested objects recursed into, nullable types toggled, oneOf
 * branches tried. Used by the every-parameter fingerprint property test.
 */
import { canonicalJson } from '../../src/util/hash.js';

type Schema = Record<string, any>;

export interface Mutation {
  /** Path of the leaf inside params, e.g. ['lr', 'initial']. */
  path: string[];
  params: Record<string, unknown>;
}

function types(s: Schema): string[] {
  if (Array.isArray(s.type)) return s.type;
  if (typeof s.type === 'string') return [s.type];
  if (s.enum) return [];
  if (s.properties) return ['object'];
  if (s.items) return ['array'];
  return [];
}

/** Some valid-looking value for a schema (its default when it has one). */
export function sample(s: Schema): unknown {
  if (s.default !== undefined) return structuredClone(s.default);
  if (s.const !== undefined) return s.const;
  if (s.enum) return s.enum[0];
  const branch = s.oneOf?.[0] ?? s.anyOf?.[0];
  if (branch) return sample(branch);
  const t = types(s).filter((x) => x !== 'null')[0] ?? (types(s)[0] === 'null' ? 'null' : 'string');
  switch (t) {
    case 'null':
      return null;
    case 'boolean':
      return false;
    case 'integer':
    case 'number':
      return s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : s.maximum ?? 1);
    case 'array':
      return Array.from({ length: s.minItems ?? 0 }, () => sample(s.items ?? {}));
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const k of s.required ?? []) out[k] = sample(s.properties?.[k] ?? {});
      return out;
    }
    default:
      return 'x';
  }
}

function numberCandidates(v: number, s: Schema, integer: boolean): number[] {
  const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum : undefined);
  const hi = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum : undefined);
  const c = [v + 1, v - 1, v * 1.5, v / 2, v === 0 ? 0.5 : v * 0.9, v + 0.1, v - 0.1];
  if (lo !== undefined && hi !== undefined) c.push((lo + hi) / 2, lo + (hi - lo) / 3, lo + (2 * (hi - lo)) / 3);
  if (lo !== undefined) c.push(lo, lo + 1, lo + 0.5);
  if (hi !== undefined) c.push(hi, hi - 1, hi - 0.5);
  return c.map((x) => (integer ? Math.round(x) : x)).filter((x) => Number.isFinite(x) && x !== v);
}

/** Alternatives for one value, most natural first (validity is checked by the caller). */
export function candidates(s: Schema, v: unknown): unknown[] {
  const out: unknown[] = [];
  if (s.enum) out.push(...s.enum);
  for (const branch of [...(s.oneOf ?? []), ...(s.anyOf ?? [])]) out.push(...candidates(branch, v), sample(branch));
  for (const t of types(s)) {
    switch (t) {
      case 'null':
        out.push(null);
        break;
      case 'boolean':
        out.push(v === true ? false : true);
        break;
      case 'integer':
      case 'number':
        out.push(...numberCandidates(typeof v === 'number' ? v : Number(sample({ ...s, type: t, default: undefined })), s, t === 'integer'));
        break;
      case 'string':
        out.push(typeof v === 'string' ? v + 'x' : 'x', typeof v === 'string' ? 'x' + v : 'y', 'a', '01');
        break;
      case 'array': {
        const arr = Array.isArray(v) ? v : [];
        const item = s.items ?? {};
        if (arr.length) out.push(arr.slice(0, -1), [...arr].reverse());
        for (const c of [sample(item), ...candidates(item, sample(item))]) out.push([...arr, c]);
        if (arr.length) for (const c of candidates(item, arr[0])) out.push([c, ...arr.slice(1)]);
        break;
      }
      case 'object': {
        const obj = v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
        for (const [k, sub] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
          for (const c of candidates(sub, obj[k])) out.push({ ...obj, [k]: c });
        }
        // Maps (additionalProperties: schema): add an entry, or drop one.
        if (s.additionalProperties && typeof s.additionalProperties === 'object') {
          out.push({ ...obj, x: sample(s.additionalProperties) });
          const keys = Object.keys(obj);
          if (keys.length) out.push(Object.fromEntries(keys.slice(1).map((k) => [k, obj[k]])));
        }
        out.push(sample(s));
        break;
      }
    }
  }
  if (v === null || v === undefined) out.push(sample({ ...s, default: undefined }));
  return out.filter((c) => c !== undefined);
}

function setIn(obj: Record<string, unknown>, path: string[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(obj);
  let cur: Record<string, unknown> = copy;
  for (const seg of path.slice(0, -1)) {
    if (!cur[seg] || typeof cur[seg] !== 'object') cur[seg] = {};
    cur = cur[seg] as Record<string, unknown>;
  }
  cur[path[path.length - 1]!] = value;
  return copy;
}

function getIn(obj: unknown, path: string[]): unknown {
  let cur = obj;
  for (const seg of path) cur = cur && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  return cur;
}

/** Leaf property paths of an object schema (nested objects with `properties` are recursed into). */
export function leafPaths(s: Schema, prefix: string[] = []): { path: string[]; schema: Schema }[] {
  const out: { path: string[]; schema: Schema }[] = [];
  for (const [k, sub] of Object.entries((s.properties ?? {}) as Record<string, Schema>)) {
    const isPlainObject = sub.properties && !sub.oneOf && !sub.anyOf && types(sub).every((t) => t === 'object');
    if (isPlainObject) out.push(...leafPaths(sub, [...prefix, k]));
    else out.push({ path: [...prefix, k], schema: sub });
  }
  return out;
}

/**
 * For each leaf parameter: params with only that leaf changed, validated by `resolve` (which
 * throws on invalid params and returns them with defaults). Leaves with no valid alternative
 * are returned in `stuck`, so a schema this cannot handle fails loudly.
 */
export function mutations(
  schema: Schema,
  base: Record<string, unknown>,
  resolve: (p: Record<string, unknown>) => Record<string, unknown>,
): { mutations: Mutation[]; stuck: string[] } {
  const out: Mutation[] = [];
  const stuck: string[] = [];
  const baseKey = canonicalJson(base);
  for (const { path, schema: sub } of leafPaths(schema)) {
    const current = getIn(base, path);
    let found: Mutation | undefined;
    for (const c of candidates(sub, current)) {
      if (canonicalJson(c ?? null) === canonicalJson(current ?? null)) continue;
      let resolved: Record<string, unknown>;
      try {
        resolved = resolve(setIn(base, path, c));
      } catch {
        continue;
      }
      if (canonicalJson(resolved) === baseKey) continue;
      if (canonicalJson(getIn(resolved, path) ?? null) === canonicalJson(current ?? null)) continue;
      found = { path, params: resolved };
      break;
    }
    if (found) out.push(found);
    else stuck.push(path.join('.'));
  }
  return { mutations: out, stuck };
}
