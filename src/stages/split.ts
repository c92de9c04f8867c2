import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { EmopipeError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import { readManifest, type Manifest, type ManifestRow } from '../corpus/manifest.js';

export type SplitName = 'train' | 'validation' | 'test';
export const SPLIT_NAMES: readonly SplitName[] = ['train', 'validation', 'test'];

export interface SplitParams {
  method: 'random' | 'speaker' | 'speaker_kfold';
  /** A fraction (of clips per label for `random`, of speakers for `speaker`) or, for `speaker`, a list of speaker ids. */
  validation: number | string[];
  test: number | string[];
  /** speaker_kfold: number of folds. */
  folds: number;
  /** speaker_kfold: the fold tested by this split, 1..folds. */
  fold: number;
  /** speaker_kfold: the folds' speakers listed explicitly (null: dealt from the seed). */
  speaker_folds: string[][] | null;
}

/** split.json (**contract** for downstream stages: `assignments` keyed by manifest row path). */
export interface SplitFile {
  method: SplitParams['method'];
  seed: string;
  counts: Record<SplitName, number>;
  /** Speakers in each split (for `speaker`, disjoint). */
  speakers: Record<SplitName, string[]>;
  byLabel: Record<string, Record<SplitName, number>>;
  bySpeaker: Record<string, Record<SplitName, number>>;
  assignments: Record<string, SplitName>;
  /** speaker_kfold: every fold's speakers (the same in every instance), and which one this split tests. */
  kfold?: { folds: string[][]; fold: number };
}

export const SPLIT_FILE = 'split.json';

/** The split.json of a split stage's output directory. */
export async function readSplitFile(dir: string): Promise<SplitFile> {
  return JSON.parse(await readFile(join(dir, SPLIT_FILE), 'utf8')) as SplitFile;
}

const share = (description: string, dflt: number) => ({
  oneOf: [
    { type: 'number', minimum: 0, exclusiveMaximum: 1 },
    { type: 'array', items: { type: 'string' }, uniqueItems: true },
  ],
  default: dflt,
  description,
});

export const splitParamsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    method: {
      enum: ['random', 'speaker', 'speaker_kfold'],
      default: 'random',
      description: '`random`: clips drawn per label (stratified). `speaker`: whole speakers go to one split (speaker-independent evaluation). `speaker_kfold`: the speakers are dealt into `folds` groups (genders balanced where the corpus records gender); fold `fold` tests, validation speakers are drawn from the other folds (use with a `matrix:` over `fold`).',
    },
    validation: share('Validation share: a fraction (of each label\'s clips for `random`, of the speakers for `speaker`, of the fold\'s training speakers for `speaker_kfold`), or for `speaker` a list of speaker ids, e.g. `["19","20"]`.', 0.2),
    test: share('Test share, as `validation`; 0 for no test split. For `speaker`, e.g. `["21","22","23","24"]`; every speaker not listed trains. Must stay 0 for `speaker_kfold` (the fold is the test set).', 0),
    folds: { type: 'integer', minimum: 2, maximum: 100, default: 4, description: '`speaker_kfold`: number of folds.' },
    fold: { type: 'integer', minimum: 1, maximum: 100, default: 1, description: '`speaker_kfold`: which fold (1 … `folds`) is the test set, e.g. `${matrix.fold}`.' },
    speaker_folds: {
      oneOf: [{ type: 'null' }, { type: 'array', minItems: 2, items: { type: 'array', items: { type: 'string' }, minItems: 1, uniqueItems: true } }],
      default: null,
      description: '`speaker_kfold`: the folds\' speakers listed explicitly, e.g. `[["01","02"],["03","04"]]` (their count must equal `folds`; unlisted speakers always train). Null: dealt from the seed.',
    },
  },
} as const;

const emptyCounts = (): Record<SplitName, number> => ({ train: 0, validation: 0, test: 0 });
const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Clips per label, shuffled, cut by fractions: every label keeps its share in every split. */
export function assignRandom(rows: readonly ManifestRow[], validation: number, test: number, rng: Rng): Map<string, SplitName> {
  if (validation + test >= 1) throw new EmopipeError('E_PIPELINE_INVALID', `split: validation (${validation}) + test (${test}) must be below 1`);
  const byLabel = new Map<string, string[]>();
  for (const r of rows) {
    const list = byLabel.get(r.label) ?? [];
    list.push(r.path);
    byLabel.set(r.label, list);
  }
  const out = new Map<string, SplitName>();
  for (const label of [...byLabel.keys()].sort(cmp)) {
    // Sort first so the result depends only on the manifest's content and the seed.
    const paths = byLabel.get(label)!.sort(cmp);
    rng.derive('label/' + label).shuffle(paths);
    const nVal = Math.round(paths.length * validation);
    const nTest = Math.round(paths.length * test);
    paths.forEach((p, i) => out.set(p, i < nVal ? 'validation' : i < nVal + nTest ? 'test' : 'train'));
  }
  return out;
}

/** Which split each speaker belongs to: explicit lists, or fractions of the (shuffled) speakers. */
export function assignSpeakers(speakers: readonly string[], validation: number | string[], test: number | string[], rng: Rng): Map<string, SplitName> {
  const known = [...new Set(speakers)].sort(cmp);
  const knownSet = new Set(known);
  const out = new Map<string, SplitName>(known.map((s) => [s, 'train']));
  const listed = (which: 'validation' | 'test', ids: string[]) => {
    const unknown = ids.filter((id) => !knownSet.has(id));
    if (unknown.length) {
      throw new EmopipeError('E_PIPELINE_INVALID', `split.${which}: unknown speaker id(s) ${unknown.map((u) => JSON.stringify(u)).join(', ')}; the corpus has ${known.map((k) => JSON.stringify(k)).join(', ')}`);
    }
  };
  if (Array.isArray(validation)) listed('validation', validation);
  if (Array.isArray(test)) listed('test', test);
  if (Array.isArray(validation) && Array.isArray(test)) {
    const both = validation.filter((v) => test.includes(v));
    if (both.length) throw new EmopipeError('E_PIPELINE_INVALID', `split: speaker(s) ${both.join(', ')} are in both validation and test`);
  }
  // Explicit lists first; fractions then draw from the speakers still training.
  for (const [which, spec] of [['test', test], ['validation', validation]] as const) {
    if (Array.isArray(spec)) for (const id of spec) out.set(id, which);
  }
  const pool = rng.derive('speakers').shuffle(known.filter((s) => out.get(s) === 'train'));
  for (const [which, spec] of [['test', test], ['validation', validation]] as const) {
    if (Array.isArray(spec) || spec === 0) continue;
    const n = Math.max(1, Math.round(known.length * spec));
    if (n >= pool.length) {
      throw new EmopipeError('E_PIPELINE_INVALID', `split.${which}: ${spec} of ${known.length} speakers leaves no speaker to train on`);
    }
    for (const id of pool.splice(0, n)) out.set(id, which);
  }
  if (![...out.values()].includes('train')) throw new EmopipeError('E_PIPELINE_INVALID', 'split: every speaker is in validation or test; none is left to train on');
  return out;
}

/** A speaker's gender where the corpus records it (RAVDESS: odd actors male, even female). */
function speakerGenders(rows: readonly ManifestRow[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of rows) if (!out.has(r.speaker)) out.set(r.speaker, r.ravdess?.gender ?? 'unknown');
  return out;
}

/** Each gender's speakers (sorted, then shuffled by the rng), genders in name order. */
function genderGroups(speakers: readonly string[], gender: Map<string, string>, rng: Rng): string[][] {
  const groups = new Map<string, string[]>();
  for (const s of [...speakers].sort(cmp)) {
    const g = gender.get(s) ?? 'unknown';
    groups.set(g, [...(groups.get(g) ?? []), s]);
  }
  return [...groups.keys()].sort(cmp).map((g) => rng.derive(`gender/${g}`).shuffle(groups.get(g)!));
}

/** Genders taken in turn (female, male, female, …): the first n of it are gender-balanced. */
function balancedOrder(speakers: readonly string[], gender: Map<string, string>, rng: Rng): string[] {
  const lists = genderGroups(speakers, gender, rng);
  const out: string[] = [];
  for (let i = 0; out.length < speakers.length; i++) for (const l of lists) if (i < l.length) out.push(l[i]!);
  return out;
}

/**
 * The speakers of each fold: listed, or dealt from the seed in a gender-balanced order, so
 * every fold gets (nearly) the same number of speakers and of each gender. Depends only on the
 * speakers, `folds` and the rng: every fold's instance computes the same folds.
 */
export function speakerFolds(rows: readonly ManifestRow[], p: Pick<SplitParams, 'folds' | 'speaker_folds'>, rng: Rng): string[][] {
  const known = [...new Set(rows.map((r) => r.speaker))].sort(cmp);
  if (p.speaker_folds) {
    if (p.speaker_folds.length !== p.folds) throw new EmopipeError('E_PIPELINE_INVALID', `split.speaker_folds lists ${p.speaker_folds.length} folds but split.folds is ${p.folds}`);
    const seen = new Set<string>();
    for (const id of p.speaker_folds.flat()) {
      if (!known.includes(id)) throw new EmopipeError('E_PIPELINE_INVALID', `split.speaker_folds: unknown speaker id ${JSON.stringify(id)}; the corpus has ${known.map((k) => JSON.stringify(k)).join(', ')}`);
      if (seen.has(id)) throw new EmopipeError('E_PIPELINE_INVALID', `split.speaker_folds: speaker ${JSON.stringify(id)} is in two folds`);
      seen.add(id);
    }
    return p.speaker_folds.map((f) => [...f].sort(cmp));
  }
  if (known.length < p.folds) throw new EmopipeError('E_PIPELINE_INVALID', `split: ${p.folds} folds need at least ${p.folds} speakers; the corpus has ${known.length}`);
  // One gender after the other, dealt in turn: each fold gets its share of every gender
  // (and, the count running on across genders, fold sizes differ by at most one).
  const order = genderGroups(known, speakerGenders(rows), rng.derive('kfold')).flat();
  const folds: string[][] = Array.from({ length: p.folds }, () => []);
  order.forEach((s, i) => folds[i % p.folds]!.push(s));
  return folds.map((f) => f.sort(cmp));
}

/** Fold `fold` tests; validation speakers come from the remaining (training) speakers, genders balanced. */
function assignKfold(rows: readonly ManifestRow[], p: SplitParams, rng: Rng): { bySpeaker: Map<string, SplitName>; folds: string[][] } {
  if (Array.isArray(p.validation)) {
    throw new EmopipeError('E_PIPELINE_INVALID', 'split.validation: speaker_kfold takes a fraction (of each fold\'s training speakers), not a list');
  }
  if (p.test !== 0 && !(Array.isArray(p.test) && p.test.length === 0)) {
    throw new EmopipeError('E_PIPELINE_INVALID', 'split.test: speaker_kfold tests on the fold\'s speakers; leave split.test at 0');
  }
  if (p.fold > p.folds) throw new EmopipeError('E_PIPELINE_INVALID', `split.fold is ${p.fold} but there are only ${p.folds} folds (1 … ${p.folds})`);
  const folds = speakerFolds(rows, p, rng);
  const test = new Set(folds[p.fold - 1]!);
  const out = new Map<string, SplitName>();
  const training: string[] = [];
  for (const s of [...new Set(rows.map((r) => r.speaker))].sort(cmp)) {
    if (test.has(s)) out.set(s, 'test');
    else {
      out.set(s, 'train');
      training.push(s);
    }
  }
  if (p.validation > 0) {
    const n = Math.max(1, Math.round(training.length * p.validation));
    if (n >= training.length) throw new EmopipeError('E_PIPELINE_INVALID', `split.validation: ${p.validation} of fold ${p.fold}'s ${training.length} training speakers leaves none to train on`);
    for (const s of balancedOrder(training, speakerGenders(rows), rng.derive(`kfold-validation/${p.fold}`)).slice(0, n)) out.set(s, 'validation');
  }
  return { bySpeaker: out, folds };
}

/** Assign every manifest row; pure function of rows, params and rng. */
export function computeSplit(manifest: Pick<Manifest, 'rows'>, p: SplitParams, rng: Rng): SplitFile {
  let assign: Map<string, SplitName>;
  let kfold: SplitFile['kfold'];
  if (p.method === 'speaker_kfold') {
    const k = assignKfold(manifest.rows, p, rng);
    assign = new Map(manifest.rows.map((r) => [r.path, k.bySpeaker.get(r.speaker)!]));
    kfold = { folds: k.folds, fold: p.fold };
  } else if (p.method === 'random') {
    if (Array.isArray(p.validation) || Array.isArray(p.test)) {
      throw new EmopipeError('E_PIPELINE_INVALID', 'split: speaker lists in validation/test need `method: speaker`; `random` takes fractions');
    }
    assign = assignRandom(manifest.rows, p.validation, p.test, rng);
  } else {
    const bySpk = assignSpeakers(manifest.rows.map((r) => r.speaker), p.validation, p.test, rng);
    assign = new Map(manifest.rows.map((r) => [r.path, bySpk.get(r.speaker)!]));
  }
  const counts = emptyCounts();
  const byLabel: SplitFile['byLabel'] = {};
  const bySpeaker: SplitFile['bySpeaker'] = {};
  const speakers: Record<SplitName, Set<string>> = { train: new Set(), validation: new Set(), test: new Set() };
  const assignments: Record<string, SplitName> = {};
  for (const r of [...manifest.rows].sort((a, b) => cmp(a.path, b.path))) {
    const s = assign.get(r.path)!;
    assignments[r.path] = s;
    counts[s]++;
    (byLabel[r.label] ??= emptyCounts())[s]++;
    (bySpeaker[r.speaker] ??= emptyCounts())[s]++;
    speakers[s].add(r.speaker);
  }
  const sortKeys = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => cmp(a, b)));
  return {
    method: p.method,
    seed: rng.seed,
    counts,
    speakers: { train: [...speakers.train].sort(cmp), validation: [...speakers.validation].sort(cmp), test: [...speakers.test].sort(cmp) },
    byLabel: sortKeys(byLabel),
    bySpeaker: sortKeys(bySpeaker),
    assignments,
    ...(kfold ? { kfold } : {}),
  };
}

async function run(ctx: StageContext<SplitParams>): Promise<StageResult> {
  const manifest = await readManifest(ctx.input('ingest').dir);
  const split = computeSplit(manifest, ctx.params, ctx.rng);
  await writeFile(join(ctx.outDir, SPLIT_FILE), JSON.stringify(split, null, 1) + '\n');
  const emptyLabels = Object.entries(split.byLabel).filter(([, c]) => c.train === 0).map(([l]) => l);
  if (emptyLabels.length) ctx.log.warn(`no training clips for: ${emptyLabels.join(', ')}`);
  if (split.counts.validation === 0) ctx.log.warn('the validation split is empty');
  const { train, validation, test } = split.counts;
  const spk = ctx.params.method !== 'random'
    ? ` (${ctx.params.method === 'speaker_kfold' ? `fold ${ctx.params.fold}/${ctx.params.folds}; ` : ''}speakers: validation ${split.speakers.validation.join(',') || '-'}; test ${split.speakers.test.join(',') || '-'})` : '';
  return {
    metrics: { train, validation, test },
    summary: `${ctx.params.method} split: ${train} train, ${validation} validation, ${test} test${spk}`,
  };
}

export const splitKind: StageKind<SplitParams> = {
  kind: 'split',
  description: 'Assign every clip to train / validation / test: stratified by label at random, or by speaker (speaker-independent). Writes split.json. Runs before augmentation.',
  paramsSchema: splitParamsSchema as unknown as Record<string, unknown>,
  inputs: [{ kind: 'ingest', description: 'manifest.json' }],
  random: true,
  module: import.meta.url,
  run,
};
