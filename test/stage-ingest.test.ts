import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestKind, type IngestParams } from '../src/stages/ingest.js';
import { resolveManifestPath, type Manifest } from '../src/corpus/manifest.js';
import { parseRavdessName } from '../src/corpus/ravdess.js';
import { encodeWav } from '../src/audio/wav.js';
import { sha256 } from '../src/util/hash.js';
import { EmopipeError } from '../src/util/errors.js';
import { sharedDir } from '../src/util/paths.js';
import { makeStageContext, type TestContextOptions } from './helpers/stage-context.js';

const RAVDESS = join(sharedDir(), 'data', 'ravdess');
const haveRavdess = existsSync(join(RAVDESS, 'Actor_01'));
const skipRavdess = haveRavdess ? false : `RAVDESS sample not found at ${RAVDESS}`;

let tmp: string;
const savedCacheEnv = process.env.EMOPIPE_CACHE;
before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'emopipe-ingest-test-'));
  process.env.EMOPIPE_CACHE = join(tmp, 'cache');
});
after(() => {
  if (savedCacheEnv === undefined) delete process.env.EMOPIPE_CACHE;
  else process.env.EMOPIPE_CACHE = savedCacheEnv;
  rmSync(tmp, { recursive: true, force: true });
});

async function ingest(params: Record<string, unknown>, o: TestContextOptions = {}) {
  const ctx = makeStageContext<IngestParams>(ingestKind, params, o);
  const t0 = performance.now();
  const result = await ingestKind.run(ctx);
  const ms = performance.now() - t0;
  const manifest = JSON.parse(readFileSync(join(ctx.outDir, 'manifest.json'), 'utf8')) as Manifest;
  return { ctx, result, ms, manifest };
}

/** A short 16-bit mono tone; distinct `freq` gives distinct content. */
function toneWav(freq: number, seconds = 0.1, sampleRate = 16000): Uint8Array {
  const x = new Float32Array(Math.round(seconds * sampleRate));
  for (let i = 0; i < x.length; i++) x[i] = 0.3 * Math.sin((2 * Math.PI * freq * i) / sampleRate);
  return encodeWav(x, { sampleRate });
}

interface CsvRow { path: string; actor: string; emotion: string; channels: string; duration_s: string }
function readReferenceCsv(): Map<string, CsvRow> {
  const [head, ...lines] = readFileSync(join(RAVDESS, 'manifest.csv'), 'utf8').trim().split('\n');
  const cols = head!.split(',');
  const out = new Map<string, CsvRow>();
  for (const l of lines) {
    const v = l.split(',');
    const row = Object.fromEntries(cols.map((c, i) => [c, v[i]])) as unknown as CsvRow;
    out.set(row.path, row);
  }
  return out;
}

test('RAVDESS: 480 speech clips with every name field parsed, stereo files reported, nothing corrupt', { skip: skipRavdess }, async () => {
  const { manifest, result } = await ingest({ root: RAVDESS });
  assert.equal(manifest.format, 'ravdess');
  assert.equal(manifest.synthetic, false);
  assert.equal(manifest.root, RAVDESS);
  assert.equal(manifest.rows.length, 480);
  assert.deepEqual(manifest.labels, ['neutral', 'calm', 'happy', 'sad', 'angry', 'fearful', 'disgust', 'surprised']);
  assert.deepEqual(manifest.report.corrupt, []);
  assert.deepEqual(manifest.report.skipped, []);
  assert.equal(manifest.report.scanned, 480);
  assert.deepEqual(manifest.report.stereo, [
    'Actor_01/03-01-02-01-01-02-01.wav',
    'Actor_01/03-01-08-01-02-02-01.wav',
    'Actor_05/03-01-02-01-02-02-05.wav',
  ]);
  assert.equal(manifest.report.byLabel.neutral, 32);
  assert.equal(manifest.report.byLabel.calm, 64);
  assert.deepEqual(Object.keys(manifest.report.bySpeaker), ['01', '02', '03', '04', '05', '06', '07', '08']);
  assert.equal(result?.metrics?.clips, 480);

  // Every row agrees with the corpus's own manifest.csv (measured independently with soundfile).
  const ref = readReferenceCsv();
  for (const row of manifest.rows) {
    const r = ref.get(row.path);
    assert.ok(r, `${row.path} not in manifest.csv`);
    assert.equal(row.label, r.emotion, row.path);
    assert.equal(row.speaker, r.actor, row.path);
    assert.equal(row.channels, Number(r.channels), row.path);
    assert.equal(row.sampleRate, 48000);
    assert.equal(row.bitsPerSample, 16);
    assert.ok(Math.abs(row.durationS - Number(r.duration_s)) < 1e-3, `${row.path}: ${row.durationS} vs ${r.duration_s}`);
  }
  const one = manifest.rows.find((r) => r.path === 'Actor_05/03-01-02-01-02-02-05.wav')!;
  assert.deepEqual(one.ravdess, {
    modality: '03', vocalChannel: '01', emotion: '02', emotionName: 'calm', intensity: '01',
    statement: '02', repetition: '02', actor: '05', gender: 'male',
  });
  assert.equal(manifest.rows.find((r) => r.path.startsWith('Actor_02/'))!.ravdess!.gender, 'female');
  assert.equal(one.sha256, sha256(readFileSync(resolveManifestPath('/unused', manifest, one))));
  // The two byte-identical recordings of actor 7 hash alike.
  const dup = manifest.rows.filter((r) => r.path.startsWith('Actor_07/03-01-03-01-02-0')).map((r) => r.sha256);
  assert.equal(dup.length, 2);
});

test('RAVDESS re-ingest of unchanged files comes from the hash cache in well under a second', { skip: skipRavdess }, async () => {
  const cold = await ingest({ root: RAVDESS });
  const warm = await ingest({ root: RAVDESS });
  assert.ok(warm.ctx.logs.includes('480 of 480 files known from the hash cache'), warm.ctx.logs.join('\n'));
  assert.deepEqual(warm.manifest, cold.manifest);
  assert.ok(warm.ms < 1000, `warm ingest took ${warm.ms.toFixed(0)} ms`);
  // A cache file that is garbage is ignored, not fatal.
  writeFileSync(join(process.env.EMOPIPE_CACHE!, 'hashes.json'), '{not json');
  const again = await ingest({ root: RAVDESS });
  assert.deepEqual(again.manifest, cold.manifest);
  assert.ok(again.ctx.logs.includes('0 of 480 files known from the hash cache'));
});

/** Actor_01 linked into a temp corpus, one file replaced by a truncated copy, plus files to skip. */
function corpusWithDamage(): { root: string; corruptName: string } {
  const root = join(tmp, `damaged-${Math.random().toString(36).slice(2)}`);
  const actor = join(root, 'Actor_01');
  mkdirSync(actor, { recursive: true });
  const corruptName = '03-01-05-02-01-01-01.wav';
  for (const f of readdirSync(join(RAVDESS, 'Actor_01'))) {
    if (f === corruptName) writeFileSync(join(actor, f), readFileSync(join(RAVDESS, 'Actor_01', f)).subarray(0, 6000));
    else symlinkSync(join(RAVDESS, 'Actor_01', f), join(actor, f));
  }
  writeFileSync(join(actor, '03-02-03-01-01-01-01.wav'), toneWav(440)); // song: skipped
  writeFileSync(join(actor, 'take2.wav'), toneWav(330)); // not a RAVDESS name: skipped
  writeFileSync(join(actor, 'notes.txt'), 'not audio'); // not a .wav: not a candidate at all
  return { root, corruptName: `Actor_01/${corruptName}` };
}

test('a corrupt file is reported by name and excluded; song files and foreign names are skipped with reasons', { skip: skipRavdess }, async () => {
  const { root, corruptName } = corpusWithDamage();
  const { manifest, result, ctx } = await ingest({ root });
  assert.equal(manifest.rows.length, 59);
  assert.ok(!manifest.rows.some((r) => r.path === corruptName));
  assert.equal(manifest.report.corrupt.length, 1);
  assert.equal(manifest.report.corrupt[0]!.path, corruptName);
  assert.match(manifest.report.corrupt[0]!.error, /truncated/);
  assert.deepEqual(manifest.report.skipped.map((s) => s.path).sort(), ['Actor_01/03-02-03-01-01-01-01.wav', 'Actor_01/take2.wav']);
  assert.match(manifest.report.skipped.find((s) => s.path.endsWith('take2.wav'))!.reason, /does not match/);
  assert.match(manifest.report.skipped.find((s) => s.path.includes('03-02-'))!.reason, /song/);
  assert.equal(manifest.report.scanned, 62);
  assert.equal(result?.metrics?.corrupt, 1);
  assert.ok(ctx.logs.some((l) => l.startsWith('warn:') && l.includes(corruptName)));
});

test('strict: true fails the stage naming the corrupt file', { skip: skipRavdess }, async () => {
  const { root, corruptName } = corpusWithDamage();
  const ctx = makeStageContext<IngestParams>(ingestKind, { root, strict: true });
  await assert.rejects(ingestKind.run(ctx), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.equal(e.code, 'E_STAGE_FAILED');
    assert.ok(e.message.includes(corruptName), e.message);
    return true;
  });
});

test('label_map merges classes and labels restricts and orders them', { skip: skipRavdess }, async () => {
  const { manifest } = await ingest({ root: RAVDESS, label_map: { calm: 'neutral' }, labels: ['angry', 'neutral'] });
  assert.deepEqual(manifest.labels, ['angry', 'neutral']);
  assert.equal(manifest.report.byLabel.neutral, 32 + 64);
  assert.equal(manifest.report.byLabel.angry, 64);
  assert.equal(manifest.rows.length, 160);
  const merged = manifest.rows.find((r) => r.ravdess!.emotionName === 'calm')!;
  assert.equal(merged.label, 'neutral');
  assert.equal(merged.sourceLabel, 'calm');
  assert.equal(manifest.report.skipped.length, 480 - 160);
  assert.match(manifest.report.skipped[0]!.reason, /not in labels/);
});

test('folder-per-label layout: label from the folder, speaker from speaker_regex, stray files skipped', async () => {
  const root = join(tmp, 'folders');
  const spec: Record<string, string[]> = { happy: ['spk1_a.wav', 'spk2_b.wav'], sad: ['spk1_c.wav', 'spk2_d.wav', 'spk2_e.WAV'] };
  let f = 200;
  for (const [label, files] of Object.entries(spec)) {
    mkdirSync(join(root, label), { recursive: true });
    for (const name of files) writeFileSync(join(root, label, name), toneWav(f += 50));
  }
  writeFileSync(join(root, 'stray.wav'), toneWav(100));
  writeFileSync(join(root, 'sad', 'broken.wav'), Buffer.from('RIFF\x04\x00\x00\x00WAVEjunk'));
  const { manifest } = await ingest({ format: 'folder', root, speaker_regex: '/(spk\\d+)_' });
  assert.deepEqual(manifest.labels, ['happy', 'sad']);
  assert.deepEqual(manifest.rows.map((r) => [r.path, r.label, r.speaker]), [
    ['happy/spk1_a.wav', 'happy', 'spk1'],
    ['happy/spk2_b.wav', 'happy', 'spk2'],
    ['sad/spk1_c.wav', 'sad', 'spk1'],
    ['sad/spk2_d.wav', 'sad', 'spk2'],
    ['sad/spk2_e.WAV', 'sad', 'spk2'],
  ]);
  assert.deepEqual(manifest.report.skipped, [
    { path: 'sad/broken.wav', reason: 'path does not match speaker_regex /\\/(spk\\d+)_/' },
    { path: 'stray.wav', reason: 'not inside a label folder' },
  ]);
  assert.equal(manifest.rows[0]!.sampleRate, 16000);
  assert.ok(Math.abs(manifest.rows[0]!.durationS - 0.1) < 1e-9);
  // Without speaker_regex every clip has speaker "unknown", and the broken file is corrupt, not skipped.
  const plain = await ingest({ format: 'folder', root });
  assert.deepEqual(Object.keys(plain.manifest.report.bySpeaker), ['unknown']);
  assert.equal(plain.manifest.report.corrupt.length, 1);
  assert.equal(plain.manifest.report.corrupt[0]!.path, 'sad/broken.wav');
  assert.match(plain.manifest.report.corrupt[0]!.error, /sad\/broken\.wav/);
});

test('CSV layout: quoted fields, optional speaker column, rows pointing nowhere reported', async () => {
  const root = join(tmp, 'csvcorpus');
  mkdirSync(join(root, 'clips'), { recursive: true });
  writeFileSync(join(root, 'clips', 'a.wav'), toneWav(300));
  writeFileSync(join(root, 'clips', 'b, with comma.wav'), toneWav(400));
  writeFileSync(join(root, 'clips', 'c.wav'), toneWav(500));
  const csv = join(root, 'list.csv');
  writeFileSync(csv, [
    'path,label,speaker',
    'clips/a.wav,angry,A',
    '"clips/b, with comma.wav",calm,B',
    `${join(root, 'clips', 'c.wav')},calm,`,
    'clips/missing.wav,angry,A',
    ',angry,A',
    '',
  ].join('\r\n'));
  const { manifest } = await ingest({ format: 'csv', csv, speaker_regex: '(c)\\.wav$' });
  assert.equal(manifest.root, root);
  assert.deepEqual(manifest.labels, ['angry', 'calm']);
  assert.deepEqual(manifest.rows.map((r) => [r.path, r.label, r.speaker]), [
    ['clips/a.wav', 'angry', 'A'],
    ['clips/b, with comma.wav', 'calm', 'B'],
    ['clips/c.wav', 'calm', 'c'],
  ]);
  assert.equal(manifest.report.corrupt.length, 1);
  assert.equal(manifest.report.corrupt[0]!.path, 'clips/missing.wav');
  assert.match(manifest.report.corrupt[0]!.error, /CSV line 5/);
  assert.equal(manifest.report.skipped.length, 1);
  assert.match(manifest.report.skipped[0]!.reason, /CSV line 6 lacks a path/);
  // A CSV without the required columns is refused with its own name.
  const bad = join(root, 'bad.csv');
  writeFileSync(bad, 'file,emotion\nclips/a.wav,angry\n');
  await assert.rejects(ingestKind.run(makeStageContext<IngestParams>(ingestKind, { format: 'csv', csv: bad })), /"path" and "label"/);
});

test('externalInputs: unchanged corpus gives an equal listing, a touched or added file changes it', async () => {
  const root = join(tmp, 'ext');
  mkdirSync(join(root, 'x'), { recursive: true });
  writeFileSync(join(root, 'x', '1.wav'), toneWav(300));
  const env = { resolvePath: (p: string) => p, dataDir: join(tmp, 'data') };
  const params = makeStageContext<IngestParams>(ingestKind, { format: 'folder', root }).params;
  const a = await ingestKind.externalInputs!(params, env);
  assert.deepEqual(await ingestKind.externalInputs!(params, env), a);
  utimesSync(join(root, 'x', '1.wav'), new Date(2020, 1, 1), new Date(2020, 1, 1));
  const b = await ingestKind.externalInputs!(params, env);
  assert.notDeepEqual(b, a);
  writeFileSync(join(root, 'x', '2.wav'), toneWav(310));
  assert.notDeepEqual(await ingestKind.externalInputs!(params, env), b);
  const synth = makeStageContext<IngestParams>(ingestKind, { format: 'synth' }).params;
  assert.equal(await ingestKind.externalInputs!(synth, env), undefined);
});

test('a missing RAVDESS root without download says where to get the data and where to put it', async () => {
  const root = join(tmp, 'nowhere', 'ravdess');
  const ctx = makeStageContext<IngestParams>(ingestKind, { root });
  await assert.rejects(ingestKind.run(ctx), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.equal(e.code, 'E_INPUT_MISSING');
    assert.ok(e.message.includes('zenodo.org/records/1188976'), e.message);
    assert.ok(e.message.includes(join(root, 'Actor_01')), e.message);
    return true;
  });
});

test('RAVDESS name parser: every field, and reasons for what it rejects', () => {
  const ok = parseRavdessName('03-01-06-02-01-02-12.wav');
  assert.ok(ok.ok);
  assert.deepEqual(ok.fields, {
    modality: '03', vocalChannel: '01', emotion: '06', emotionName: 'fearful', intensity: '02',
    statement: '01', repetition: '02', actor: '12', gender: 'female',
  });
  const reasons = ['02-01-06-01-02-01-12.wav', '03-02-06-01-02-01-12.wav', '03-01-09-01-01-01-01.wav', '03-01-01-03-01-01-01.wav', '03-01-01-01-01-01-01.mp4']
    .map((n) => { const r = parseRavdessName(n); return r.ok ? 'accepted' : r.reason; });
  assert.match(reasons[0]!, /modality 02/);
  assert.match(reasons[1]!, /song/);
  assert.match(reasons[2]!, /emotion code 09/);
  assert.match(reasons[3]!, /intensity 03/);
  assert.match(reasons[4]!, /does not match/);
});

test('float WAVs holding NaN are corrupt; WAV formats the decoder reads are all accepted', async () => {
  const root = join(tmp, 'formats');
  mkdirSync(join(root, 'x'), { recursive: true });
  const nan = new Float32Array(800).fill(0.1);
  nan[123] = NaN;
  writeFileSync(join(root, 'x', 'nan.wav'), encodeWav(nan, { sampleRate: 8000, format: 'float32' }));
  const fixtures = join(sharedDir(), 'fixtures', 'wav-formats');
  const names = readdirSync(fixtures).filter((n) => n.endsWith('.wav'));
  for (const n of names) symlinkSync(join(fixtures, n), join(root, 'x', n));
  const { manifest } = await ingest({ format: 'folder', root });
  assert.deepEqual(manifest.report.corrupt.map((c) => c.path), ['x/nan.wav']);
  assert.match(manifest.report.corrupt[0]!.error, /sample 123 is not a finite number/);
  assert.equal(manifest.rows.length, names.length);
  const stereo = manifest.rows.find((r) => r.path === 'x/pcm24_stereo.wav')!;
  assert.equal(stereo.channels, 2);
  assert.equal(stereo.bitsPerSample, 24);
  assert.ok(manifest.report.stereo.includes('x/pcm24_stereo.wav'));
});
