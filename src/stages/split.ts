import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { join } from 'node:path';
import { EmopipeError } from '../util/errors.js';
import type { Rng } from '../util/rng.js';
import { readManifest, type Manifest, type ManifestRow } from '../corpus/manifest.js';
import { writeSplitFile, type SplitFile, type SplitName } from '../corpus/split-file.js';

// split.json's owner is corpus/split-file.ts; re-exported for callers of this module.
export { readSplitFile, SPLIT_FILE, SPLIT_NAMES, type SplitFile, type SplitName } from '../corpus/split-file.js';

export interface SplitParams {
  method: 'random' | 'speaker';
  /** A fraction (of clips per label for `random`, of speakers for `speaker`) or, for `speaker`, a list of speaker ids. */
  validation: number | string[];
  test: number | string[];
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
      enum: ['random', 'speaker'],
      default: 'random',
      description: '`random`: clips drawn per label (stratified). `speaker`: whole speakers go to one split (speaker-independent evaluation).',
    },
    validation: share('Validation share: a fraction (of each label\'s clips for `random`, of the speakers for `speaker`), or for `speaker` a list of speaker ids, e.g. `["19","20"]`.', 0.2),
    test: share('Test share, as `validation`; 0 for no test split. For `speaker`, e.g. `["21","22","23","24"]`; every speaker not listed trains.', 0),
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

/** Assign every manifest row; pure function of rows, params and rng. */
export function computeSplit(manifest: Pick<Manifest, 'rows'>, p: SplitParams, rng: Rng): SplitFile {
  let assign: Map<string, SplitName>;
  if (p.method === 'random') {
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
  };
}

/**
 * A classifier needs at least two classes: with one, train "succeeds" (every answer is right)
 * and only evaluate fails, much later and with a confusing message. Refuse here instead.
 */
export function requireTwoClasses(rows: readonly ManifestRow[], manifestFile: string): void {
  const perLabel = new Map<string, number>();
  for (const r of rows) perLabel.set(r.label, (perLabel.get(r.label) ?? 0) + 1);
  if (perLabel.size >= 2) return;
  const found = perLabel.size === 0 ? 'no clips' : `1 class (${[...perLabel].map(([l, n]) => `"${l}": ${n} clips`).join('')})`;
  throw new EmopipeError(
    'E_INPUT_MISSING',
    `split: the corpus has ${found}; emotion classification needs at least 2 classes to learn to tell apart ` +
      '(check ingest\'s root, labels and label_map)',
    { file: manifestFile },
  );
}

async function run(ctx: StageContext<SplitParams>): Promise<StageResult> {
  const manifest = await readManifest(ctx.input('ingest').dir);
  requireTwoClasses(manifest.rows, join(ctx.input('ingest').dir, 'manifest.json'));
  const split = computeSplit(manifest, ctx.params, ctx.rng);
  await writeSplitFile(ctx.outDir, split);
  const emptyLabels = Object.entries(split.byLabel).filter(([, c]) => c.train === 0).map(([l]) => l);
  if (emptyLabels.length) ctx.log.warn(`no training clips for: ${emptyLabels.join(', ')}`);
  if (split.counts.validation === 0) ctx.log.warn('the validation split is empty');
  const { train, validation, test } = split.counts;
  const spk = ctx.params.method === 'speaker'
    ? ` (speakers: validation ${split.speakers.validation.join(',') || '-'}; test ${split.speakers.test.join(',') || '-'})` : '';
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
