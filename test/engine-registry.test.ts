import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Cache } from '../src/engine/cache.js';
import { Registry, type RunRecord, type StageRecord } from '../src/engine/registry.js';
import { EmopipeError } from '../src/util/errors.js';
import { DEMO, Rig, lastJson, withRig } from './helpers/rig.js';

const YAML = 'name: p\nseed: 1\nstages:\n  a: {uses: text, with: {text: hello}}\n';

function stage(name: string, fp: string, extra: Partial<StageRecord> = {}): StageRecord {
  return {
    name,
    kind: 'text',
    fingerprint: fp,
    contentHash: fp.replace(/./g, 'c'),
    status: 'ran',
    seconds: 0.25,
    outputDir: `/cache/entries/${fp}`,
    params: { text: name, big: 'x'.repeat(2000) },
    parts: { kind: 'text', version: 'v1', params: { text: name }, inputs: [] } as unknown as StageRecord['parts'],
    ...extra,
  };
}

function record(run: string, over: Partial<RunRecord> = {}): RunRecord {
  return {
    run,
    pipeline: 'p',
    file: '/x/p.yaml',
    pipelineDir: '/x',
    startedAt: '2026-11-30T10:00:00.000Z',
    seconds: 1.5,
    status: 'ok',
    seed: 1,
    resolvedYaml: YAML,
    stages: [stage('a', 'a'.repeat(64)), stage('b', 'b'.repeat(64), { metrics: { accuracy: 0.5 } })],
    metrics: { b: { accuracy: 0.5 } },
    artifactsDir: null,
    ...over,
  };
}

function expectInvalid(fn: () => unknown, file: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EmopipeError, String(e));
    assert.equal(e.code, 'E_REGISTRY_INVALID');
    assert.equal(e.file, file);
    assert.match(e.format(), message);
    assert.match(e.format(), /mv /, 'says how to recover');
    return true;
  });
}

test('a run reads back exactly as recorded; prefix, latest and repeated runs resolve as before', withRig(async (rig) => {
  const reg = new Registry(rig.artifactsDir);
  assert.deepEqual(reg.list(), []);
  assert.throws(() => reg.find('latest'), /no runs recorded/);
  assert.ok(!existsSync(reg.file), 'reading an absent registry creates nothing');
  const first = record('abc1' + '0'.repeat(60), { experiment: 'sweep-1' });
  await reg.add(first);
  await reg.add(record('abc2' + '0'.repeat(60), { startedAt: '2026-11-30T11:00:00.000Z' }));
  await reg.add(record('def0' + '0'.repeat(60), { stages: [stage('a', 'a'.repeat(64), { status: 'cached', seconds: 0.001 })] }));
  await reg.add({ ...first, seconds: 9 });
  assert.deepEqual(reg.find('ABC1'), { ...first, seconds: 9 }, 'most recent record of that run, case-insensitive prefix');
  assert.deepEqual(reg.list()[0], first);
  assert.equal(reg.find('def').stages[0]!.status, 'cached');
  assert.equal(reg.find('latest').seconds, 9);
  assert.throws(() => reg.find('abc'), (e: EmopipeError) => e.code === 'E_USAGE' && /matches 2 runs/.test(e.message));
  assert.throws(() => reg.find('ff'), (e: EmopipeError) => e.code === 'E_NOT_FOUND');
  assert.equal(reg.tryFind('ff'), undefined);
  assert.equal(reg.lastStageRecord('p', 'a')!.status, 'ran', 'the last run recording stage a (the repeat of abc1)');
  assert.equal(reg.lastStageRecord('p', 'b')!.metrics!.accuracy, 0.5);
  assert.equal(reg.lastStageRecord('other', 'a'), undefined);
  assert.deepEqual(reg.runHashesNewestFirst().map((h) => h.slice(0, 4)), ['abc1', 'def0', 'abc2']);
  assert.deepEqual(reg.fingerprintsOf(new Set([first.run])), new Set(['a'.repeat(64), 'b'.repeat(64)]));
  reg.close();
}));

test('queries filter by pipeline, experiment, status, date and prefix, sort by a metric, and limit', withRig(async (rig) => {
  const reg = new Registry(rig.artifactsDir);
  const acc = [0.3, 0.9, 0.6, 0.1, 0.7];
  for (let i = 0; i < 5; i++) {
    await reg.add(record(`${i}`.repeat(64), {
      pipeline: i < 3 ? 'p' : 'q',
      experiment: i % 2 ? 'e1' : undefined,
      status: i === 4 ? 'failed' : 'ok',
      startedAt: `2026-11-2${i}T00:00:00.000Z`,
      metrics: { train: { accuracy: 1 }, evaluate: { accuracy: acc[i]!, loss: 1 - acc[i]! } },
    }));
  }
  const ids = (rs: { run: string }[]) => rs.map((r) => r.run[0]).join('');
  assert.equal(ids(reg.query()), '01234', 'oldest first');
  assert.equal(ids(reg.query({ pipeline: 'q' })), '34');
  assert.equal(ids(reg.query({ experiment: 'e1' })), '13');
  assert.equal(ids(reg.query({ status: 'failed' })), '4');
  assert.equal(ids(reg.query({ since: '2026-11-22T00:00:00.000Z' })), '234');
  assert.equal(ids(reg.query({ prefix: '33' })), '3');
  assert.equal(ids(reg.query({ limit: 2 })), '34', 'the last N, still oldest first');
  assert.equal(ids(reg.query({ sortBy: { metric: 'accuracy' } })), '14203', 'bare name: the last stage reporting it (evaluate)');
  assert.equal(ids(reg.query({ sortBy: { metric: 'evaluate.loss', order: 'asc' }, limit: 2 })), '14');
  assert.equal(ids(reg.query({ sortBy: { metric: 'train.accuracy' }, pipeline: 'p' })), '210', 'ties: newest first');
  assert.equal(ids(reg.records({ experiment: 'e1', sortBy: { metric: 'accuracy', order: 'asc' } })), '31');
  assert.equal(reg.query({ experiment: 'e1' })[0]!.experiment, 'e1');
  reg.close();
}));

test('resolved YAML and reused stage records are stored once', withRig(async (rig) => {
  const reg = new Registry(rig.artifactsDir);
  for (let i = 0; i < 40; i++) {
    const cached = { status: 'cached' as const, seconds: 0.001 * i };
    await reg.add(record(i.toString(16).padStart(64, '0'), { stages: [stage('a', 'a'.repeat(64), cached), stage('b', 'b'.repeat(64), cached)] }));
  }
  reg.close();
  const db = new Database(reg.file, { readonly: true });
  assert.equal(db.prepare('SELECT count(*) FROM runs').pluck().get(), 40);
  assert.equal(db.prepare('SELECT count(*) FROM blobs').pluck().get(), 3, 'one YAML + two stage records for 40 runs');
  db.close();
  assert.equal(new Registry(rig.artifactsDir).find('latest').stages[1]!.seconds, 0.039, 'per-run timings kept');
}));

test('an existing runs.json is migrated on first use, with a line saying so, and kept as a backup', withRig(async (rig) => {
  const runs = [record('1'.repeat(64)), record('2'.repeat(64), { status: 'failed', metrics: {} })];
  mkdirSync(rig.artifactsDir, { recursive: true });
  const legacy = join(rig.artifactsDir, 'runs.json');
  writeFileSync(legacy, JSON.stringify({ runs }, null, 2));
  const lines: string[] = [];
  const reg = new Registry(rig.artifactsDir, { log: (l) => lines.push(l) });
  assert.deepEqual(reg.list(), runs);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /migrated 2 runs from .*runs\.json to .*runs\.db; the old file is kept as .*runs\.json\.bak/);
  assert.ok(!existsSync(legacy));
  assert.deepEqual(JSON.parse(readFileSync(legacy + '.bak', 'utf8')), { runs });
  reg.close();
  const again: string[] = [];
  assert.equal(new Registry(rig.artifactsDir, { log: (l) => again.push(l) }).list().length, 2);
  assert.deepEqual(again, [], 'migrated once');
  // Through the CLI: the migrated runs are listed.
  const r = await rig.cli(['runs']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /111111111111 .* ok/);
}));

test('a runs.json of the wrong shape is an error naming it; run, runs and gc refuse, nothing is deleted (#11 case 7)', withRig(async (rig) => {
  mkdirSync(rig.artifactsDir, { recursive: true });
  const legacy = join(rig.artifactsDir, 'runs.json');
  for (const [content, why] of [
    ['[]', /wrong shape at the top level: expected an object \{"runs": \[...\]\}, found an array/],
    ['{"runs":[null]}', /wrong shape at \/runs\/0: must be object/],
    ['{"runs":5}', /wrong shape at \/runs: must be array/],
    ['{"runs":[{"run":"x"}]}', /wrong shape at \/runs\/0: must have required property/],
    ['{"runs": [', /not valid JSON/],
  ] as const) {
    writeFileSync(legacy, content);
    expectInvalid(() => new Registry(rig.artifactsDir).list(), legacy, why);
    assert.equal(readFileSync(legacy, 'utf8'), content, 'left as it was');
  }
  // A real cache, then a broken registry: gc must not take it for an empty one.
  rig.write('p.yaml', DEMO);
  writeFileSync(legacy, '{"runs":[]}');
  assert.equal((await rig.cli(['run', 'p.yaml'])).code, 0);
  const entries = new Cache(rig.cacheDir).listEntries().length;
  assert.ok(entries > 0);
  writeFileSync(join(rig.artifactsDir, 'runs.db'), 'this is not a database, it only has its name'.repeat(100));
  for (const args of [['gc'], ['runs'], ['run', 'p.yaml']]) {
    const r = await rig.cli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, /runs\.db: not a readable run registry .*mv /, args.join(' '));
    assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, 'no stack trace');
  }
  assert.equal(new Cache(rig.cacheDir).listEntries().length, entries, 'gc deleted nothing');
  // The reported case: runs.json is `[]` (and no database yet).
  for (const f of ['runs.db', 'runs.db-wal', 'runs.db-shm']) rmSync(join(rig.artifactsDir, f), { force: true });
  writeFileSync(legacy, '[]');
  rig.resetCounts();
  for (const args of [['gc'], ['run', 'p.yaml', '--set', 'a.text=Other']]) {
    const r = await rig.cli(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, /runs\.json: run registry has the wrong shape .*mv /, args.join(' '));
  }
  assert.deepEqual(rig.counts(), {}, 'run refused before computing anything it could not record');
  assert.equal(new Cache(rig.cacheDir).listEntries().length, entries, 'gc deleted nothing');
}));

test('a foreign SQLite file or one from a newer emopipe is an error naming it', withRig(async (rig) => {
  mkdirSync(rig.artifactsDir, { recursive: true });
  const file = join(rig.artifactsDir, 'runs.db');
  const foreign = new Database(file);
  foreign.exec('CREATE TABLE songs (title TEXT)');
  foreign.close();
  expectInvalid(() => new Registry(rig.artifactsDir).list(), file, /another application/);
  const reg = new Registry(join(rig.dir, 'other'));
  await reg.add(record('1'.repeat(64)));
  reg.close();
  const newer = new Database(reg.file);
  newer.pragma('user_version = 99');
  newer.close();
  assert.throws(() => new Registry(join(rig.dir, 'other')).list(), (e: EmopipeError) => /runs\.db: the run registry was written by a newer emopipe/.test(e.format()));
}));

test('several processes appending at once lose no run', withRig(async (rig) => {
  const script = join(rig.dir, 'writer.mjs');
  const registryUrl = new URL('../src/engine/registry.js', import.meta.url).href;
  const rec = JSON.stringify(record('', { stages: [stage('a', 'a'.repeat(64))] }));
  // Every writer shares stage records and YAML with the others (the same blobs raced for) and adds one of its own.
  writeFileSync(script, `import { Registry } from ${JSON.stringify(registryUrl)};
const reg = new Registry(process.argv[2]);
const base = ${rec};
for (let i = 0; i < 25; i++) {
  const run = (process.argv[3] + String(i).padStart(3, '0')).padEnd(64, '0');
  await reg.add({ ...base, run, stages: [...base.stages, { ...base.stages[0], name: 'own', fingerprint: run }] });
}
`);
  const tags = ['a1', 'b2', 'c3', 'd4', 'e5', 'f6'];
  const codes = await Promise.all(tags.map((tag) => new Promise<number | null>((res) => spawn(process.execPath, [script, rig.artifactsDir, tag], { stdio: 'inherit' }).on('close', res))));
  assert.deepEqual(codes, tags.map(() => 0));
  const reg = new Registry(rig.artifactsDir);
  const runs = reg.list();
  assert.equal(runs.length, 150);
  assert.equal(new Set(runs.map((r) => r.run)).size, 150);
  for (const tag of tags) assert.equal(reg.query({ prefix: tag }).length, 25);
  assert.ok(runs.every((r) => r.stages[1]!.fingerprint === r.run));
  reg.close();
}));

test('runs --pipeline/--experiment/--status/--since/--sort/--limit through the CLI', withRig(async (rig) => {
  const reg = new Registry(rig.artifactsDir);
  const acc = [0.25, 0.75, 0.5];
  for (let i = 0; i < 3; i++) {
    await reg.add(record(`${i + 1}`.repeat(64), { experiment: i ? 'e1' : undefined, startedAt: new Date(Date.now() - (3 - i) * 3600_000).toISOString(), metrics: { evaluate: { accuracy: acc[i]! } } }));
  }
  reg.close();
  const runs = async (...args: string[]) => {
    const r = await rig.cli(['runs', ...args]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const order = (out: string) => [...out.matchAll(/^(\d)\1{11} /gm)].map((m) => m[1]).join('');
  assert.equal(order(await runs()), '123');
  assert.equal(order(await runs('--sort', 'accuracy')), '231');
  assert.match(await runs('--sort', 'evaluate.accuracy', '--limit', '1'), /222222222222 .*evaluate\.accuracy=0\.75/);
  assert.equal(order(await runs('--sort', 'accuracy:asc', '--experiment', 'e1')), '32');
  assert.equal(order(await runs('--since', '150m')), '23');
  assert.equal(order(await runs('--status', 'failed')), '');
  assert.equal(order(await runs('--pipeline', 'p', '--limit', '2')), '23');
  const json = lastJson<{ run: string; experiment?: string }[]>(await runs('--json', '--experiment', 'e1'));
  assert.deepEqual(json.map((r) => r.experiment), ['e1', 'e1']);
  const bad = await rig.cli(['runs', '--status', 'weird']);
  assert.equal(bad.code, 2);
  assert.equal((await rig.cli(['runs', '--since', 'yesterday'])).code, 2);
}));
