import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { StageContext, StageKind, StageResult } from '../engine/stage.js';
import { EmopipeError } from '../util/errors.js';
import { DEFAULT_DOWNLOAD_TIMEOUT_S, downloadAndUnpack, pathInDataDir } from '../corpus/download.js';
import { writeManifest, type IngestReport, type Manifest, type ManifestRow } from '../corpus/manifest.js';
import { ProbeCache } from '../corpus/probe-cache.js';
import { mapLimit, probeWavFile } from '../corpus/probe.js';
import { RAVDESS_DOWNLOAD, RAVDESS_EMOTIONS } from '../corpus/ravdess.js';
import { scanCsv, scanFolders, scanRavdess, type Candidate, type ScanResult } from '../corpus/scan.js';
import { writeSynthCorpus } from '../corpus/synth-corpus.js';
import { Enum, Nullable, Params, Type, type Static } from './params.js';

const nullableString = (description: string) => Nullable(Type.String({ default: null, description }));

export const ingestParamsSchema = Params({
  format: Enum(['ravdess', 'folder', 'csv', 'synth'], {
    default: 'ravdess',
    description: 'Corpus layout: `ravdess` (`Actor_XX/03-01-EE-II-SS-RR-AA.wav`, speech only; song files are skipped), `folder` (`<root>/<label>/*.wav`), `csv` (a `path,label[,speaker]` file) or `synth` (generate the synthetic demo corpus).',
  }),
  root: nullableString('The corpus directory. When null and `download.url` is set: `<data dir>/<download.into>`. Relative paths are relative to the pipeline file.'),
  csv: nullableString('For `format: csv`: the CSV file (header row with `path`, `label`, optional `speaker`); its relative paths are relative to `root`, or to the CSV\'s folder when `root` is null.'),
  labels: Nullable(Type.Array(Type.String(), {
    default: null,
    description: 'Classes to keep, in model output order (after `label_map`); other clips are skipped. Null: every label found (RAVDESS/synth in emotion-code order, others sorted).',
  })),
  label_map: Type.Unsafe<Record<string, string>>({
    type: 'object',
    additionalProperties: { type: 'string' },
    default: {},
    description: 'Rename labels before filtering, e.g. `{calm: neutral}` merges calm into neutral.',
  }),
  speaker_regex: nullableString('For `folder`/`csv` without a speaker column: a regular expression on the relative path whose first group is the speaker id. Null: every clip has speaker "unknown".'),
  strict: Type.Boolean({ default: false, description: 'Fail the stage when any file is unreadable or corrupt (default: report and exclude them).' }),
  download: Type.Object({
    url: nullableString(`Archive (ZIP) to download, e.g. ${RAVDESS_DOWNLOAD.url}. Null: never download.`),
    md5: nullableString(`Expected MD5 of the archive (RAVDESS speech: ${RAVDESS_DOWNLOAD.md5}).`),
    sha256: nullableString('Expected SHA-256 of the archive (either checksum suffices; both are checked when given).'),
    into: Type.String({ default: 'ravdess', description: 'Folder under the data directory (EMOPIPE_DATA, default ./data) to unpack into when `root` is null; must stay inside it.' }),
    timeout_s: Type.Number({ exclusiveMinimum: 0, maximum: 86400, default: DEFAULT_DOWNLOAD_TIMEOUT_S, description: 'Give up when the server sends nothing (no answer, or a stalled transfer) for this many seconds.' }),
  }, {
    additionalProperties: false,
    default: {},
    description: 'Fetch the corpus when the corpus directory does not exist.',
  }),
  synth: Type.Object({
    classes: Type.Array(Type.String({ pattern: '^[^/\\\\]+$' }), { minItems: 2, uniqueItems: true, default: [...RAVDESS_EMOTIONS], description: 'Class names (the eight RAVDESS emotions have tuned profiles; other names get derived ones).' }),
    clips_per_class: Type.Integer({ minimum: 1, default: 8, description: 'Clips per class and speaker.' }),
    speakers: Type.Integer({ minimum: 1, default: 6, description: 'Number of synthetic speakers (s01, s02, ...; odd male, even female).' }),
    duration_s: Type.Number({ exclusiveMinimum: 0.2, maximum: 30, default: 1.5, description: 'Length of every clip, seconds.' }),
    sample_rate: Type.Integer({ minimum: 8000, maximum: 192000, default: 48000, description: 'Sample rate of the generated WAV files (16-bit PCM).' }),
    variation: Type.Number({ minimum: 0, maximum: 3, default: 1, description: 'How far clips scatter around their class profile (pitch, tempo, loudness, voice quality): 0 = only speakers and syllables differ (easy), 1 = tuned default, 2 = twice the spread (harder).' }),
    seed: Type.Integer({ default: 1, description: 'Seed of the generator (independent of the pipeline seed, so retraining does not regenerate the corpus).' }),
  }, {
    additionalProperties: false,
    default: {},
    description: 'For `format: synth`: the generated demo corpus (speech-like signals, NOT real speech).',
  }),
});

export type IngestParams = Static<typeof ingestParamsSchema>;
export type IngestFormat = IngestParams['format'];

const RAVDESS_HOWTO = (dir: string) =>
  `To get RAVDESS by hand: download Audio_Speech_Actors_01-24.zip from ${RAVDESS_DOWNLOAD.record} ` +
  `and unpack it so that ${join(dir, 'Actor_01', '03-01-01-01-01-01-01.wav')} exists (or set ingest.root to an existing copy).`;

/** The corpus directory the params point at (before any download). */
function corpusDir(p: IngestParams, env: { resolvePath(p: string): string; dataDir: string }): string | undefined {
  if (p.root) return env.resolvePath(p.root);
  if (p.format === 'csv' && p.csv) return dirname(env.resolvePath(p.csv));
  if (p.download.url) return pathInDataDir(env.dataDir, p.download.into);
  return undefined;
}

function requireRoot(p: IngestParams, dir: string | undefined): string {
  if (dir) return dir;
  const hint = p.format === 'ravdess' ? ` ${RAVDESS_HOWTO('<dir>')} Or set ingest.download (see the README) to fetch it.` : '';
  throw new EmopipeError('E_PIPELINE_INVALID', `ingest: \`root\` is required for format ${p.format}.${hint}`);
}

async function scan(p: IngestParams, root: string, resolvePath: (x: string) => string): Promise<ScanResult> {
  let speakerRegex: RegExp | undefined;
  try {
    speakerRegex = p.speaker_regex ? new RegExp(p.speaker_regex) : undefined;
  } catch (e) {
    throw new EmopipeError('E_PIPELINE_INVALID', `ingest.speaker_regex: ${(e as Error).message}`);
  }
  switch (p.format) {
    case 'ravdess':
      return scanRavdess(root);
    case 'folder':
      return scanFolders(root, speakerRegex);
    case 'csv':
      if (!p.csv) throw new EmopipeError('E_PIPELINE_INVALID', 'ingest: format csv needs `csv` (the CSV file)');
      return scanCsv(resolvePath(p.csv), p.root ? root : undefined, speakerRegex);
    default:
      throw new EmopipeError('E_PIPELINE_INVALID', `ingest: format ${p.format} has no corpus root to scan`);
  }
}

/** Class order: explicit `labels`, else the canonical emotion order for the labels present, then the rest sorted. */
function orderLabels(present: Set<string>, p: IngestParams): string[] {
  if (p.labels) return [...p.labels];
  const canonical: readonly string[] = p.format === 'synth' ? p.synth.classes : p.format === 'ravdess' ? RAVDESS_EMOTIONS : [];
  const first = canonical.filter((l) => present.has(l));
  const rest = [...present].filter((l) => !first.includes(l)).sort();
  return [...first, ...rest];
}

function countBy(rows: ManifestRow[], key: (r: ManifestRow) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rows) out[key(r)] = (out[key(r)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * Find (download, or generate) the corpus and list its candidate files. `manifestRoot` is what
 * the manifest records: absolute for external corpora, `audio` (beside manifest.json) for synth.
 */
async function locateCorpus(ctx: StageContext<IngestParams>): Promise<{ scanned: ScanResult; manifestRoot: string }> {
  const p = ctx.params;
  if (p.format === 'synth') {
    const audioDir = join(ctx.outDir, 'audio');
    const s = p.synth;
    const t0 = performance.now();
    const clips = await writeSynthCorpus(audioDir, {
      classes: s.classes, clipsPerClass: s.clips_per_class, speakers: s.speakers, durationS: s.duration_s, sampleRate: s.sample_rate, variation: s.variation, seed: s.seed,
    }, { jobs: ctx.jobs, progress: ctx.progress, signal: ctx.signal });
    ctx.log.info(`generated ${clips.length} SYNTHETIC clips in ${((performance.now() - t0) / 1000).toFixed(1)} s (not real speech)`);
    const candidates: Candidate[] = clips.map((c) => ({ path: c.path, size: -1, mtimeMs: -1, label: c.label, speaker: c.speaker.id }));
    return { scanned: { root: audioDir, candidates, skipped: [], missing: [], listing: [] }, manifestRoot: 'audio' };
  }
  const root = requireRoot(p, corpusDir(p, ctx));
  if (!existsSync(root)) {
    if (!p.download.url) {
      const hint = p.format === 'ravdess' ? ` ${RAVDESS_HOWTO(root)} Or set ingest.download.url and download.md5 to fetch it automatically.` : '';
      throw new EmopipeError('E_INPUT_MISSING', `ingest: corpus directory ${root} does not exist.${hint}`);
    }
    ctx.log.info(`${root} does not exist: downloading ${p.download.url}`);
    await downloadAndUnpack({ url: p.download.url, md5: p.download.md5, sha256: p.download.sha256 }, root, {
      progress: ctx.progress, log: ctx.log, signal: ctx.signal, dataDir: ctx.dataDir, timeoutS: p.download.timeout_s,
      howTo: p.format === 'ravdess' ? RAVDESS_HOWTO(root) : `Download ${p.download.url} by hand and unpack it into ${root}.`,
    });
  }
  return { scanned: await scan(p, root, ctx.resolvePath), manifestRoot: root };
}

async function run(ctx: StageContext<IngestParams>): Promise<StageResult> {
  const p = ctx.params;
  const { scanned, manifestRoot } = await locateCorpus(ctx);

  // Labels: map, then keep only the requested classes.
  const skipped = [...scanned.skipped];
  const keep: (Candidate & { sourceLabel: string })[] = [];
  const wanted = p.labels ? new Set(p.labels) : undefined;
  for (const c of scanned.candidates) {
    const label = p.label_map[c.label] ?? c.label;
    if (wanted && !wanted.has(label)) {
      skipped.push({ path: c.path, reason: `label "${label}" is not in labels` });
      continue;
    }
    keep.push({ ...c, label, sourceLabel: c.label });
  }

  // Read every file once: hash + header check, cached by path/size/mtime.
  const cache = p.format === 'synth' ? undefined : new ProbeCache();
  ctx.progress.start(keep.length, 'files', 'reading audio');
  let cachedCount = 0;
  const probes = await mapLimit(keep, Math.max(2, ctx.jobs * 2), async (c) => {
    const r = await probeWavFile(join(scanned.root, c.path), c.path, c.size, c.mtimeMs, cache);
    if (r.ok && r.cached) cachedCount++;
    ctx.progress.tick(1);
    return r;
  }, ctx.signal);
  ctx.progress.done();
  if (cache && !cache.save()) ctx.log.warn(`could not write the hash cache ${cache.file} (only makes the next ingest slower)`);

  const corrupt = [...scanned.missing];
  const rows: ManifestRow[] = [];
  keep.forEach((c, i) => {
    const r = probes[i]!;
    if (!r.ok) {
      corrupt.push({ path: c.path, error: r.error });
      return;
    }
    const a = r.result;
    // Key order fixed for readable manifests: identity first, then audio facts, then extras.
    const ordered: ManifestRow = {
      path: c.path, sha256: a.sha256, label: c.label, speaker: c.speaker,
      sampleRate: a.sampleRate, channels: a.channels, durationS: a.durationS, bitsPerSample: a.bitsPerSample,
    };
    if (c.sourceLabel !== c.label) ordered.sourceLabel = c.sourceLabel;
    if (c.ravdess) ordered.ravdess = c.ravdess;
    rows.push(ordered);
  });
  corrupt.sort((a, b) => (a.path < b.path ? -1 : 1));

  if (corrupt.length > 0) {
    const list = corrupt.slice(0, 10).map((c) => `  ${c.error}`).join('\n') + (corrupt.length > 10 ? `\n  ... and ${corrupt.length - 10} more` : '');
    if (p.strict) throw new EmopipeError('E_STAGE_FAILED', `ingest: ${corrupt.length} unreadable or corrupt file(s) (strict: true):\n${list}`);
    ctx.log.warn(`excluded ${corrupt.length} unreadable or corrupt file(s):\n${list}`);
  }
  if (rows.length === 0) {
    throw new EmopipeError('E_STAGE_FAILED', `ingest: no usable clips under ${scanned.root} (format ${p.format}; ${scanned.candidates.length} candidates, ${skipped.length} skipped, ${corrupt.length} corrupt)`);
  }

  const labels = orderLabels(new Set(rows.map((r) => r.label)), p);
  const byLabel = countBy(rows, (r) => r.label);
  const empty = labels.filter((l) => !byLabel[l]);
  if (empty.length) ctx.log.warn(`labels without any clip: ${empty.join(', ')}`);
  const report: IngestReport = {
    scanned: scanned.candidates.length + scanned.skipped.length + scanned.missing.length,
    included: rows.length,
    skipped,
    corrupt,
    stereo: rows.filter((r) => r.channels > 1).map((r) => r.path),
    byLabel,
    bySpeaker: countBy(rows, (r) => r.speaker),
  };
  const manifest: Manifest = { format: p.format, root: manifestRoot, synthetic: p.format === 'synth', labels, rows, report };
  await writeManifest(ctx.outDir, manifest);

  const speakers = Object.keys(report.bySpeaker).length;
  if (cache) ctx.log.info(`${cachedCount} of ${keep.length} files known from the hash cache`);
  return {
    metrics: { clips: rows.length, classes: labels.length, speakers, skipped: skipped.length, corrupt: corrupt.length, synthetic: manifest.synthetic ? 'yes' : 'no' },
    summary: `${rows.length} clips, ${labels.length} classes, ${speakers} speakers` +
      `${skipped.length ? `, ${skipped.length} skipped` : ''}${corrupt.length ? `, ${corrupt.length} corrupt (excluded)` : ''}` +
      (manifest.synthetic ? ' — SYNTHETIC demo corpus' : ''),
  };
}

/** The corpus's identity for the fingerprint: every candidate file's path, size and mtime. */
async function externalInputs(p: IngestParams, env: { resolvePath(p: string): string; dataDir: string }): Promise<unknown> {
  if (p.format === 'synth') return undefined;
  const root = corpusDir(p, env);
  if (!root || !existsSync(root)) return { root: root ?? null, missing: true };
  const s = await scan(p, root, env.resolvePath);
  return { root, files: s.listing.map((f) => [f.path, f.size, f.mtimeMs]) };
}

export const ingestKind: StageKind<IngestParams> = {
  kind: 'ingest',
  description: 'Scan a corpus (RAVDESS, folder per label, CSV, or a generated synthetic demo) into manifest.json: path, content hash, label, speaker and audio format per clip, plus a report of skipped and corrupt files.',
  paramsSchema: ingestParamsSchema,
  inputs: [],
  module: import.meta.url,
  externalInputs,
  // How long to wait for a server changes no output.
  nonSemanticParams: ['download.timeout_s'],
  run,
};
