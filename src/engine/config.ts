import { readFileSync } from 'node:fs';
import { basename, dirname, extname, relative, resolve, isAbsolute } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { LineCounter, parse as parseYaml, parseDocument, stringify, isMap, isSeq, isNode, isPair, isScalar, type Document } from 'yaml';
import { EmopipeError, type ErrorCode } from '../util/errors.js';
import { canonicalJson } from '../util/hash.js';
import type { StageKind } from './stage.js';
import type { KindRegistry } from './kinds.js';
import { orderStages } from './graph.js';
import { expandTemplates, findRefs, templateParams, type StageTemplate } from './matrix.js';

/** One stage of a loaded pipeline, with its parameters validated and defaults filled in. */
export interface StageSpec {
  name: string;
  kind: StageKind;
  params: Record<string, unknown>;
  needs: string[];
  /** The stage as written in the file; differs from `name` for matrix instances (`train@fold=2` of `train`). */
  template?: string;
  /** A matrix instance's values (own and inherited), e.g. {fold: 2}; absent or {} otherwise. */
  matrix?: Record<string, unknown>;
}

/** A stage as written (matrix and `${matrix.*}` references kept), for the resolved YAML. */
export interface TemplateRecord {
  name: string;
  uses: string;
  needs: string[];
  matrix?: Record<string, unknown[]>;
  with: Record<string, unknown>;
}

export interface Pipeline {
  name: string;
  seed: number;
  /** The pipeline file as the user named it (for messages). */
  file: string;
  /** Directory that relative paths in params are resolved against. */
  dir: string;
  /** Stages in dependency order (needs before dependants; file order otherwise); matrix stages expanded into instances. */
  stages: StageSpec[];
  /** The stages as written, for resolvedYaml (absent in hand-built pipelines: stages are used). */
  templates?: TemplateRecord[];
}

export interface LoadOptions {
  kinds: KindRegistry;
  /** `--set stage.key.sub=value` (or `seed=N`), applied before validation. */
  overrides?: readonly string[];
}

const STAGE_NAME = '^[A-Za-z_][A-Za-z0-9_-]*$';
const PIPELINE_SCHEMA = {
  type: 'object',
  required: ['stages'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
    description: { type: 'string' },
    seed: { type: 'integer' },
    stages: {
      type: 'object',
      minProperties: 1,
      propertyNames: { pattern: STAGE_NAME },
      additionalProperties: {
        type: 'object',
        required: ['uses'],
        additionalProperties: false,
        properties: {
          uses: { type: 'string' },
          description: { type: 'string' },
          needs: { type: 'array', items: { type: 'string' }, uniqueItems: true },
          with: { type: 'object' },
          matrix: {
            type: 'object',
            minProperties: 1,
            propertyNames: { pattern: STAGE_NAME },
            additionalProperties: { type: 'array', minItems: 1 },
          },
        },
      },
    },
  },
} as const;

// ajv compiles each schema once per process; defaults are filled into the validated object.
const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validatePipelineShape = ajv.compile(PIPELINE_SCHEMA);
const paramValidators = new WeakMap<StageKind, ValidateFunction>();

function paramValidator(kind: StageKind): ValidateFunction {
  let v = paramValidators.get(kind);
  if (!v) {
    v = ajv.compile(kind.paramsSchema);
    paramValidators.set(kind, v);
  }
  return v;
}

/** Validate and default a kind's params (outside a pipeline file: used by tests and `reproduce`). */
export function resolveParams(kind: StageKind, params: unknown): Record<string, unknown> {
  const copy = structuredClone(params ?? {}) as Record<string, unknown>;
  const v = paramValidator(kind);
  if (!v(copy)) throw new EmopipeError('E_PIPELINE_INVALID', `${kind.kind}: ${ajv.errorsText(v.errors)}`);
  return copy;
}

/** Where in the YAML text a validation problem is, and how to say it. */
class Locator {
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter,
    /** Paths (joined with '\u0000') that came from --set, with the option text. */
    readonly overridden: Map<string, string>,
  ) {}

  /** Error at `path` (doc keys); `atKey` points at the key of the last segment instead of its value. */
  error(code: ErrorCode, path: (string | number)[], message: string, atKey = false): EmopipeError {
    const shown = path.length ? path.join('.') + ': ' : '';
    for (let i = path.length; i > 0; i--) {
      const opt = this.overridden.get(path.slice(0, i).join('\u0000'));
      if (opt !== undefined) return new EmopipeError(code, `--set ${opt}: ${shown}${message}`);
    }
    const offset = this.offset(path, atKey);
    if (offset === undefined) return new EmopipeError(code, shown + message, { file: this.file });
    const { line, col } = this.lines.linePos(offset);
    return new EmopipeError(code, shown + message, { file: this.file, line, column: col });
  }

  /** Start offset of the deepest existing node along `path`. */
  private offset(path: (string | number)[], atKey: boolean): number | undefined {
    let node: unknown = this.doc.contents;
    let best: number | undefined = rangeStart(node);
    for (let i = 0; i < path.length; i++) {
      const seg = path[i]!;
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        if (last && atKey) return rangeStart(pair.key) ?? best;
        node = pair.value;
        best = rangeStart(node) ?? rangeStart(pair.key) ?? best;
      } else if (isSeq(node) && typeof seg === 'number') {
        node = node.items[seg];
        best = rangeStart(node) ?? best;
      } else break;
    }
    return best;
  }
}

function rangeStart(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

/** ajv's instancePath ('/a/0/b') as path segments. */
function pointerSegments(pointer: string): (string | number)[] {
  if (!pointer) return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function describeAjvError(e: ErrorObject): { extra: (string | number)[]; message: string; atKey: boolean } {
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      return { extra: [key], message: `unknown key '${key}'`, atKey: true };
    }
    case 'required':
      return { extra: [], message: `missing required key '${(e.params as { missingProperty: string }).missingProperty}'`, atKey: false };
    case 'enum':
      return { extra: [], message: `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`, atKey: false };
    case 'propertyNames':
      return { extra: [String((e.params as { propertyName: string }).propertyName)], message: 'invalid name (letters, digits, _ and -; no dots)', atKey: true };
    case 'pattern':
      return { extra: [], message: `must match ${(e.params as { pattern: string }).pattern}`, atKey: false };
    default:
      return { extra: [], message: e.message ?? e.keyword, atKey: false };
  }
}

/** The most useful errors first: drop ajv's 'if/anyOf' noise and duplicates. */
function ajvErrorsToEmopipe(errors: ErrorObject[], base: (string | number)[], loc: Locator, code: ErrorCode): EmopipeError[] {
  const seen = new Set<string>();
  const out: EmopipeError[] = [];
  const filtered = errors.filter((e) => e.keyword !== 'if');
  for (const e of filtered) {
    if (e.propertyName !== undefined && e.keyword === 'pattern') continue; // reported by propertyNames
    const d = describeAjvError(e);
    const path = [...base, ...pointerSegments(e.instancePath), ...d.extra];
    const err = loc.error(code, path, d.message, d.atKey);
    const key = err.format();
    if (seen.has(key)) continue;
    seen.add(key);
    // ajv reports 'unknown key' after 'missing key' for a typo like `use:`; the typo is the news.
    if (e.keyword === 'additionalProperties') out.unshift(err);
    else out.push(err);
  }
  return out;
}

/** One error that carries the first location (in file order), with the others listed underneath. */
function combine(errs: EmopipeError[]): EmopipeError {
  const sorted = errs
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (a.e.line ?? 1e9) - (b.e.line ?? 1e9) || (a.e.column ?? 0) - (b.e.column ?? 0) || a.i - b.i)
    .map((x) => x.e);
  const [first, ...rest] = sorted;
  if (!first) return new EmopipeError('E_PIPELINE_INVALID', 'invalid pipeline');
  if (!rest.length) return first;
  const more = rest.map((e) => '\n  ' + e.format()).join('');
  return new EmopipeError(first.code, first.message + more, { file: first.file, line: first.line, column: first.column });
}

/** Parse `stage.key.sub=value`; the value is YAML (so numbers, booleans, lists work). */
export function parseOverride(text: string): { path: string[]; value: unknown } {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new EmopipeError('E_USAGE', `--set ${text}: expected KEY=VALUE (e.g. train.epochs=3)`);
  const path = text.slice(0, eq).trim().split('.');
  if (path.some((p) => p.length === 0)) throw new EmopipeError('E_USAGE', `--set ${text}: empty segment in '${text.slice(0, eq)}'`);
  let value: unknown;
  try {
    value = parseYaml(text.slice(eq + 1));
  } catch (e) {
    throw new EmopipeError('E_USAGE', `--set ${text}: value is not valid YAML: ${(e as Error).message}`);
  }
  return { path, value };
}

function displayPath(file: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** Load a pipeline file, apply overrides, validate everything, and order the stages. */
export function loadPipeline(file: string, opts: LoadOptions): Pipeline {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EmopipeError('E_USAGE', `cannot read pipeline: ${(e as Error).message}`, { file });
  }
  const abs = resolve(file);
  return parsePipeline(text, { file: displayPath(file), dir: dirname(abs), defaultName: basename(abs, extname(abs)) }, opts);
}

export function parsePipeline(
  text: string,
  where: { file: string; dir: string; defaultName: string },
  opts: LoadOptions,
): Pipeline {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
  if (doc.errors.length) {
    const errs = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      const msg = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      return new EmopipeError('E_PIPELINE_INVALID', msg, { file: where.file, line: pos?.line, column: pos?.col });
    });
    throw combine(errs);
  }
  const overridden = new Map<string, string>();
  const loc = new Locator(where.file, doc, lines, overridden);

  const raw0 = doc.toJS() as unknown;
  if (raw0 === null || typeof raw0 !== 'object' || Array.isArray(raw0)) {
    throw new EmopipeError('E_PIPELINE_INVALID', 'a pipeline is a mapping with a `stages:` key', { file: where.file, line: 1, column: 1 });
  }
  applyOverrides(doc, raw0 as Record<string, unknown>, opts.overrides ?? [], overridden);
  const raw = doc.toJS() as Record<string, unknown>;

  const errors: EmopipeError[] = [];
  if (!validatePipelineShape(raw)) errors.push(...ajvErrorsToEmopipe(validatePipelineShape.errors ?? [], [], loc, 'E_PIPELINE_INVALID'));
  const stagesObj = raw.stages && typeof raw.stages === 'object' && !Array.isArray(raw.stages) ? (raw.stages as Record<string, unknown>) : {};
  const names = Object.keys(stagesObj);
  const specs: StageTemplate[] = [];
  for (const name of names) {
    // Stages whose own shape is broken were reported above; check the rest fully.
    const s = stagesObj[name] as { uses?: unknown; needs?: unknown; with?: unknown; matrix?: unknown } | null;
    if (!s || typeof s !== 'object' || typeof s.uses !== 'string') continue;
    const kind = opts.kinds.get(s.uses);
    if (!kind) {
      const known = [...opts.kinds.keys()].sort().join(', ') || '(none registered)';
      errors.push(loc.error('E_UNKNOWN_STAGE_KIND', ['stages', name, 'uses'], `unknown stage kind '${s.uses}' (known: ${known})`));
      continue;
    }
    const needs = Array.isArray(s.needs) ? s.needs.filter((n): n is string => typeof n === 'string') : [];
    needs.forEach((n, i) => {
      if (!(n in stagesObj)) errors.push(loc.error('E_PIPELINE_INVALID', ['stages', name, 'needs', i], `unknown stage '${n}' (stages: ${names.join(', ')})`));
      else if (n === name) errors.push(loc.error('E_PIPELINE_CYCLE', ['stages', name, 'needs', i], `cycle: ${name} -> ${name}`));
    });
    const params = structuredClone(s.with && typeof s.with === 'object' && !Array.isArray(s.with) ? s.with : {}) as Record<string, unknown>;
    const matrix = s.matrix && typeof s.matrix === 'object' && !Array.isArray(s.matrix) ? (s.matrix as Record<string, unknown[]>) : undefined;
    // Params holding ${matrix.*} are validated per instance, once the values are in.
    const refs = findRefs(params, (path, message) => errors.push(loc.error('E_PIPELINE_INVALID', ['stages', name, 'with', ...path], message)));
    if (!refs.length) {
      const validate = paramValidator(kind);
      if (!validate(params)) {
        errors.push(...ajvErrorsToEmopipe(validate.errors ?? [], ['stages', name, 'with'], loc, 'E_PIPELINE_INVALID'));
        continue;
      }
    }
    specs.push({ name, kind, params, needs: [...new Set(needs)], refs, ...(matrix ? { matrix } : {}) });
  }
  if (errors.length) throw combine(errors);

  // Required inputs: each kind names the upstream kinds it reads.
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const s of specs) {
    const upKinds = s.needs.map((n) => byName.get(n)!.kind.kind);
    for (const inp of s.kind.inputs) {
      if (!inp.optional && !upKinds.includes(inp.kind)) {
        errors.push(loc.error('E_PIPELINE_INVALID', ['stages', s.name, s.needs.length ? 'needs' : 'uses'], `a '${s.kind.kind}' stage needs an input of kind '${inp.kind}'`));
      }
    }
  }
  if (errors.length) throw combine(errors);

  const ordered = orderStages(specs, (cycle) => loc.error('E_PIPELINE_CYCLE', ['stages', cycle[0]!, 'needs'], `cycle: ${cycle.join(' -> ')}`));
  const { stages, templates } = expandMatrices(ordered, loc);
  const seed = (raw.seed as number | undefined) ?? 0;
  return { name: (raw.name as string | undefined) ?? where.defaultName, seed, file: where.file, dir: where.dir, stages, templates };
}

/** Matrix stages and their dependants become instances (see matrix.ts); errors point into the file. */
function expandMatrices(ordered: StageTemplate[], loc: Locator): { stages: StageSpec[]; templates: TemplateRecord[] } {
  const { instances, errors } = expandTemplates(ordered, (code, path, message, atKey) => loc.error(code, path, message, atKey), (t, params, instance) => {
    const validate = paramValidator(t.kind);
    if (validate(params)) return [];
    return ajvErrorsToEmopipe(validate.errors ?? [], ['stages', t.name, 'with'], loc, 'E_PIPELINE_INVALID').map(
      (e) => new EmopipeError(e.code, `${e.message} (in instance ${instance})`, { file: e.file, line: e.line, column: e.column }),
    );
  });
  if (errors.length) throw combine(errors);
  const stages: StageSpec[] = instances.map((i) => ({
    name: i.name,
    kind: i.kind,
    params: i.params,
    needs: i.needs,
    ...(i.name !== i.template ? { template: i.template, matrix: i.matrix } : {}),
  }));
  const templates = ordered.map((t): TemplateRecord => {
    const first = instances.find((i) => i.template === t.name)!;
    return { name: t.name, uses: t.kind.kind, needs: t.needs, ...(t.matrix ? { matrix: t.matrix } : {}), with: templateParams(t, first.params) };
  });
  return { stages, templates };
}

/** Apply `--set`s to the YAML document, remembering which paths they touched (for error messages). */
function applyOverrides(doc: Document, raw: Record<string, unknown>, overrides: readonly string[], touched: Map<string, string>): void {
  const stages = (raw.stages ?? {}) as Record<string, unknown>;
  for (const text of overrides) {
    const { path, value } = parseOverride(text);
    let docPath: string[];
    if (path.length === 1 && (path[0] === 'seed' || path[0] === 'name')) docPath = path;
    else {
      const [stage, ...rest] = path;
      if (!stage || !(stage in stages) || typeof stages[stage] !== 'object') {
        const known = Object.keys(stages).join(', ');
        throw new EmopipeError('E_USAGE', `--set ${text}: no stage '${stage}' in this pipeline (stages: ${known}; or use seed=N)`);
      }
      if (rest.length === 0) throw new EmopipeError('E_USAGE', `--set ${text}: name a parameter, e.g. ${stage}.KEY=VALUE`);
      docPath = ['stages', stage, 'with', ...rest];
    }
    try {
      doc.setIn(docPath, doc.createNode(value));
    } catch (e) {
      throw new EmopipeError('E_USAGE', `--set ${text}: cannot set ${path.join('.')}: ${(e as Error).message}`);
    }
    touched.set(docPath.join('\u0000'), text);
  }
}

/** The pipeline as it will run (defaults filled, overrides applied), as YAML: what runs record. */
export function resolvedYaml(p: Pipeline): string {
  const stages: Record<string, unknown> = {};
  if (p.templates) {
    for (const t of p.templates) {
      stages[t.name] = { uses: t.uses, ...(t.needs.length ? { needs: t.needs } : {}), ...(t.matrix ? { matrix: t.matrix } : {}), with: t.with };
    }
  } else {
    for (const s of p.stages) stages[s.name] = { uses: s.kind.kind, ...(s.needs.length ? { needs: s.needs } : {}), with: s.params };
  }
  return stringify({ name: p.name, seed: p.seed, stages }, { lineWidth: 0 });
}

/**
 * Only the named stages and everything they need (like `dvc repro STAGE`). A matrix stage's
 * name selects all its instances; an instance name (`train@fold=2`) selects that one.
 */
export function selectStages(p: Pipeline, targets: readonly string[]): Pipeline {
  if (!targets.length) return p;
  const byName = new Map(p.stages.map((s) => [s.name, s]));
  const keep = new Set<string>();
  const visit = (n: string) => {
    if (keep.has(n)) return;
    keep.add(n);
    for (const d of byName.get(n)!.needs) visit(d);
  };
  for (const t of targets) {
    const named = byName.has(t) ? [t] : p.stages.filter((s) => s.template === t).map((s) => s.name);
    if (!named.length) throw new EmopipeError('E_USAGE', `no stage '${t}' in ${p.file} (stages: ${[...new Set(p.stages.map((s) => s.template ?? s.name))].join(', ')})`);
    named.forEach(visit);
  }
  const stages = p.stages.filter((s) => keep.has(s.name));
  return { ...p, stages, ...(p.templates ? { templates: narrowTemplates(p.templates, stages) } : {}) };
}

/** Templates of the kept stages, each own matrix cut to the values some kept instance has. */
function narrowTemplates(templates: TemplateRecord[], kept: StageSpec[]): TemplateRecord[] {
  const out: TemplateRecord[] = [];
  for (const t of templates) {
    const mine = kept.filter((s) => (s.template ?? s.name) === t.name);
    if (!mine.length) continue;
    if (!t.matrix) {
      out.push(t);
      continue;
    }
    const matrix = Object.fromEntries(
      Object.entries(t.matrix).map(([dim, values]) => [dim, values.filter((v) => mine.some((s) => canonicalJson(s.matrix?.[dim]) === canonicalJson(v)))]),
    );
    out.push({ ...t, matrix });
  }
  return out;
}
