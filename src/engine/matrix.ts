/**
 * Matrix stages (as DVC's `matrix:`): a stage may declare `matrix: {NAME: [v1, v2, ...], ...}`;
 * it runs once per combination of values (the grid), and so does every stage that depends on
 * it. Parameters reference the current value as `${matrix.NAME}`: a string that is exactly one
 * reference takes the value with its type (`fold: ${matrix.fold}` is the number 2), a reference
 * inside a longer string is interpolated. `$${` writes a literal `${`.
 *
 * Expansion happens when a pipeline is loaded: instances are ordinary stages named
 * `STAGE@NAME=VALUE[,NAME=VALUE...]` (e.g. `train@fold=2`), each with its own params, needs,
 * fingerprint and cache entry. A kind with `fanIn: true` (summarize) does not fan out: it gets
 * every instance of each stage it needs as inputs.
 */
import { EmopipeError, type ErrorCode } from '../util/errors.js';
import { canonicalJson } from '../util/hash.js';
import type { StageKind } from './stage.js';

/** A stage as written in the pipeline file, before expansion. */
export interface StageTemplate {
  name: string;
  kind: StageKind;
  needs: string[];
  /** Validated params with defaults when `refs` is empty; otherwise the raw `with:` (validated per instance). */
  params: Record<string, unknown>;
  /** `${matrix.*}` references found in `with:`. */
  refs: MatrixRef[];
  /** The stage's own `matrix:` (already shape-checked by the pipeline schema). */
  matrix?: Record<string, unknown[]>;
}

/** One string parameter holding references. */
export interface MatrixRef {
  /** Path of the string inside `with:`. */
  path: (string | number)[];
  text: string;
  /** Dimension names it references. */
  names: string[];
}

/** An expanded stage: a template itself (no matrix) or one instance of it. */
export interface StageInstance {
  name: string;
  template: string;
  kind: StageKind;
  params: Record<string, unknown>;
  needs: string[];
  /** This instance's matrix values (own and inherited), in dimension order; {} when not fanned out. */
  matrix: Record<string, unknown>;
}

export type ErrorAt = (code: ErrorCode, path: (string | number)[], message: string, atKey?: boolean) => EmopipeError;
/** Validate one instance's substituted params (fills defaults in place); returns the problems. */
export type ValidateInstance = (t: StageTemplate, params: Record<string, unknown>, instance: string) => EmopipeError[];

/** More instances than this is a typo, not an experiment (and would take days). */
export const MAX_INSTANCES = 1000;

const REF = /\$\$\{|\$\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}|\$\{/g;

interface Dim {
  name: string;
  /** The stage that declares it. */
  origin: string;
  values: unknown[];
}

/** How a matrix value appears in an instance name: strings as they are, anything else as JSON. */
export function showMatrixValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** `train` + {fold: 2} → `train@fold=2`. */
export function instanceName(template: string, values: Record<string, unknown>): string {
  const entries = Object.entries(values);
  if (!entries.length) return template;
  return `${template}@${entries.map(([k, v]) => `${k}=${showMatrixValue(v)}`).join(',')}`;
}

/** The template part of an instance name (`train@fold=2` → `train`). */
export function templateOf(name: string): string {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
}

/** Every `${matrix.*}` in a `with:` value; malformed `${...}` are reported through `err`. */
export function findRefs(value: unknown, err: (path: (string | number)[], message: string) => void, path: (string | number)[] = []): MatrixRef[] {
  if (typeof value === 'string') {
    const names: string[] = [];
    for (const m of value.matchAll(REF)) {
      if (m[0] === '$${') continue;
      if (m[1] === undefined) {
        err(path, `malformed reference in ${JSON.stringify(value)}: write \${matrix.NAME} (or $\${ for a literal \${)`);
        return [];
      }
      names.push(m[1]);
    }
    return names.length || value.includes('$${') ? [{ path, text: value, names }] : [];
  }
  if (Array.isArray(value)) return value.flatMap((v, i) => findRefs(v, err, [...path, i]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => findRefs(v, err, [...path, k]));
  return [];
}

/** The string with its references replaced by `values` (typed when the string is one reference). */
export function substitute(text: string, values: Record<string, unknown>): unknown {
  const whole = /^\$\{\s*matrix\.([A-Za-z_][A-Za-z0-9_-]*)\s*\}$/.exec(text);
  if (whole) return structuredClone(values[whole[1]!]);
  return text.replace(REF, (m, name: string | undefined) => (m === '$${' ? '${' : showMatrixValue(values[name!])));
}

function setAt(obj: unknown, path: (string | number)[], value: unknown): unknown {
  if (!path.length) return value;
  const [head, ...rest] = path;
  const o = obj as Record<string | number, unknown>;
  o[head!] = setAt(o[head!], rest, value);
  return obj;
}

/** Params of one instance: the raw `with:` with every reference substituted. */
function instanceParams(t: StageTemplate, values: Record<string, unknown>): Record<string, unknown> {
  let params = structuredClone(t.params);
  for (const r of t.refs) params = setAt(params, r.path, substitute(r.text, values)) as Record<string, unknown>;
  return params;
}

/**
 * The params to record for a template (resolved YAML): an instance's params (defaults filled)
 * with its references put back, so loading the record re-expands to the same instances.
 */
export function templateParams(t: StageTemplate, firstInstance: Record<string, unknown>): Record<string, unknown> {
  let params = structuredClone(firstInstance);
  for (const r of t.refs) params = setAt(params, r.path, r.text) as Record<string, unknown>;
  return params;
}

function grid(dims: Dim[]): Record<string, unknown>[] {
  let combos: Record<string, unknown>[] = [{}];
  for (const d of dims) combos = combos.flatMap((c) => d.values.map((v) => ({ ...c, [d.name]: v })));
  return combos;
}

/**
 * Expand templates (in dependency order) into instances (in dependency order). Every problem is
 * an error located in the pipeline file; all of them are returned.
 */
export function expandTemplates(templates: readonly StageTemplate[], errorAt: ErrorAt, validate: ValidateInstance): { instances: StageInstance[]; errors: EmopipeError[] } {
  const errors: EmopipeError[] = [];
  const dimsOf = new Map<string, Dim[]>();
  const instancesOf = new Map<string, StageInstance[]>();
  const out: StageInstance[] = [];
  for (const t of templates) {
    const dims: Dim[] = [];
    let ok = true;
    const fail = (e: EmopipeError) => {
      errors.push(e);
      ok = false;
    };
    if (!t.kind.fanIn) {
      for (const n of t.needs) {
        for (const d of dimsOf.get(n) ?? []) {
          const same = dims.find((x) => x.name === d.name);
          if (!same) dims.push(d);
          else if (same.origin !== d.origin) {
            fail(errorAt('E_PIPELINE_INVALID', ['stages', t.name, 'needs'], `matrix dimension '${d.name}' comes from both ${same.origin} and ${d.origin}; give one of them another name`));
          }
        }
      }
    }
    if (t.matrix) {
      if (t.kind.fanIn) {
        fail(errorAt('E_PIPELINE_INVALID', ['stages', t.name, 'matrix'], `a '${t.kind.kind}' stage collects every instance of its inputs and cannot declare a matrix`, true));
      }
      for (const [name, values] of Object.entries(t.matrix)) {
        const clash = dims.find((d) => d.name === name);
        if (clash) {
          fail(errorAt('E_PIPELINE_INVALID', ['stages', t.name, 'matrix', name], `matrix dimension '${name}' is already defined by stage ${clash.origin}`, true));
          continue;
        }
        const shown = new Set<string>();
        values.forEach((v, i) => {
          const s = showMatrixValue(v);
          if (shown.has(s)) fail(errorAt('E_PIPELINE_INVALID', ['stages', t.name, 'matrix', name, i], `value ${s} appears twice (instance names must differ)`));
          shown.add(s);
        });
        dims.push({ name, origin: t.name, values });
      }
    }
    for (const r of t.refs) {
      for (const n of r.names) {
        if (!dims.some((d) => d.name === n)) {
          const known = dims.length ? `this stage's matrix: ${dims.map((d) => d.name).join(', ')}` : 'this stage has no matrix and needs no matrix stage';
          fail(errorAt('E_PIPELINE_INVALID', ['stages', t.name, 'with', ...r.path], `unknown matrix value \${matrix.${n}} (${known})`));
        }
      }
    }
    const combos = grid(dims);
    if (combos.length > MAX_INSTANCES) {
      fail(errorAt('E_PIPELINE_INVALID', ['stages', t.name, 'matrix'], `${combos.length} instances (${dims.map((d) => `${d.name}: ${d.values.length}`).join(' × ')}); at most ${MAX_INSTANCES}`));
    }
    dimsOf.set(t.name, dims);
    if (!ok) {
      instancesOf.set(t.name, []);
      continue;
    }
    const made: StageInstance[] = [];
    for (const values of combos) {
      const name = instanceName(t.name, values);
      let params = t.params;
      if (t.refs.length) {
        params = instanceParams(t, values);
        const problems = validate(t, params, name);
        if (problems.length) {
          // One instance's errors say it all; the others share the template's text.
          errors.push(...problems);
          break;
        }
      } else params = structuredClone(params);
      const needs = t.kind.fanIn
        ? t.needs.flatMap((n) => (instancesOf.get(n) ?? []).map((i) => i.name))
        : t.needs.map((n) => matchingInstance(instancesOf.get(n) ?? [], dimsOf.get(n) ?? [], values)).filter((x): x is string => x !== undefined);
      made.push({ name, template: t.name, kind: t.kind, params, needs, matrix: values });
    }
    instancesOf.set(t.name, made);
    out.push(...made);
  }
  return { instances: out, errors };
}

/** The upstream instance whose matrix values agree with `values` on the upstream's dimensions. */
function matchingInstance(instances: StageInstance[], dims: Dim[], values: Record<string, unknown>): string | undefined {
  const want = canonicalJson(Object.fromEntries(dims.map((d) => [d.name, values[d.name]])));
  return instances.find((i) => canonicalJson(i.matrix) === want)?.name;
}

/** Throw the first problem when expansion is called outside a pipeline file (tests). */
export function expandOrThrow(templates: readonly StageTemplate[], errorAt: ErrorAt, validate: ValidateInstance): StageInstance[] {
  const { instances, errors } = expandTemplates(templates, errorAt, validate);
  if (errors.length) throw errors[0]!;
  return instances;
}
