import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Cache } from '../src/engine/cache.js';
import { Registry } from '../src/engine/registry.js';
import { DEMO, finished, lastJson, withRig } from './helpers/rig.js';

async function waitFor(cond: () => boolean, what: string, ms = 15000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('run --json prints the contract document last on stdout; progress goes to stderr', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const r = await rig.cli(['run', 'p.yaml', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = lastJson(r.stdout);
  assert.equal(r.stdout.trim().startsWith('{'), true, 'nothing but the document on stdout');
  assert.match(doc.run, /^[0-9a-f]{64}$/);
  assert.equal(doc.pipeline, 'demo');
  assert.deepEqual(doc.stages.map((s: any) => [s.name, s.kind, s.status]), [['a', 'emit', 'ran'], ['b', 'noise', 'ran'], ['low', 'lower', 'ran'], ['both', 'join', 'ran']]);
  for (const s of doc.stages) {
    assert.match(s.fingerprint, /^[0-9a-f]{64}$/);
    assert.equal(typeof s.seconds, 'number');
    assert.equal(s.outputDir, join(rig.cacheDir, 'entries', s.fingerprint));
    assert.ok(existsSync(join(s.outputDir, 'text.txt')));
  }
  assert.deepEqual(doc.metrics.a, { chars: 11 });
  assert.match(r.stderr, /✔ a {2}ran [\d.]+s {2}[0-9a-f]{8} {2}2 lines/);
  const again = lastJson((await rig.cli(['run', 'p.yaml', '--json'])).stdout);
  assert.deepEqual(again.stages.map((s: any) => s.status), ['cached', 'cached', 'cached', 'cached']);
  assert.equal(again.run, doc.run);
  // The human view of the run: artifacts/<run12>/<stage>/ links, and artifacts/latest.
  assert.equal(readlinkSync(join(rig.artifactsDir, 'latest')), doc.run.slice(0, 12));
  assert.equal(readFileSync(join(rig.artifactsDir, 'latest', 'low', 'text.txt'), 'utf8'), 'hello\nhello');
}));

test('run with stage names runs those and their needs; --set reruns only what reads it', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const sub = lastJson((await rig.cli(['run', 'p.yaml', 'low', '--json'])).stdout);
  assert.deepEqual(sub.stages.map((s: any) => s.name), ['a', 'low']);
  const full = lastJson((await rig.cli(['run', 'p.yaml', '--json'])).stdout);
  assert.deepEqual(full.stages.map((s: any) => s.status), ['cached', 'ran', 'cached', 'ran']);
  const set = lastJson((await rig.cli(['run', 'p.yaml', '--json', '--set', 'b.n=6'])).stdout);
  assert.deepEqual(Object.fromEntries(set.stages.map((s: any) => [s.name, s.status])), { a: 'cached', b: 'ran', low: 'cached', both: 'ran' });
}));

test('exit codes: 2 for invalid pipelines and usage (with file:line:col), 1 for a failed stage', withRig(async (rig) => {
  rig.write('bad.yaml', 'stages:\n  a:\n    uses: emit\n    with:\n      txt: hi\n');
  const bad = await rig.cli(['run', 'bad.yaml']);
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim(), "emopipe: bad.yaml:5:7: stages.a.with.txt: unknown key 'txt'");
  rig.write('cyc.yaml', 'stages:\n  a:\n    uses: join\n    needs: [b]\n  b:\n    uses: join\n    needs: [a]\n');
  const cyc = await rig.cli(['run', 'cyc.yaml']);
  assert.equal(cyc.code, 2);
  assert.match(cyc.stderr, /cyc\.yaml:4:12: stages\.a\.needs: cycle: a -> b -> a/);
  assert.equal((await rig.cli(['run', 'missing.yaml'])).code, 2);
  assert.equal((await rig.cli(['run', 'bad.yaml', '--jobs', 'zero'])).code, 2);
  assert.equal((await rig.cli(['frobnicate'])).code, 2);
  rig.write('p.yaml', DEMO);
  assert.match((await rig.cli(['run', 'p.yaml', '--set', 'nope.x=1'])).stderr, /no stage 'nope'/);
  const failed = await rig.cli(['run', 'p.yaml', '--set', 'both.fail=true', '--json']);
  assert.equal(failed.code, 1);
  assert.match(failed.stderr, new RegExp(`stage both failed: ${join(rig.dir, 'input.txt').replace(/[/.]/g, '\\$&')}: asked to fail`));
  assert.doesNotMatch(failed.stderr, /at .*\.js:\d+/, 'no stack trace unless EMOPIPE_DEBUG=1');
  const doc = lastJson(failed.stdout);
  assert.equal(doc.status, 'failed');
  assert.equal(doc.stages.find((s: any) => s.name === 'both').status, 'failed');
  const help = await rig.cli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /reproduce/);
}));

test('kill -9 in the middle of a stage, then a rerun succeeds and no half entry is trusted', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  s:\n    uses: slow\n    with: { steps: 200, step_ms: 25 }\n  j:\n    uses: join\n    needs: [s]\n');
  const child = rig.spawn(['run', 'p.yaml']);
  const done = finished(child);
  const tmp = join(rig.cacheDir, 'tmp');
  // Wait until the stage has written part of its output, then kill without warning.
  await waitFor(() => existsSync(tmp) && readdirSync(tmp).some((d) => existsSync(join(tmp, d, 'text.txt')) && readFileSync(join(tmp, d, 'text.txt'), 'utf8').includes('step 3')), 'partial output');
  child.kill('SIGKILL');
  const killed = await done;
  assert.equal(killed.signal, 'SIGKILL');
  const cache = new Cache(rig.cacheDir);
  assert.deepEqual(cache.listEntries(), [], 'nothing was published');
  assert.equal(readdirSync(tmp).length, 1, 'the half-written temp dir is still there');
  assert.equal(readdirSync(join(rig.cacheDir, 'locks')).length, 1, 'and its lock, owned by a dead pid');
  rig.resetCounts();
  const rerun = await rig.cli(['run', 'p.yaml', '--json', '--set', 's.step_ms=0']);
  assert.equal(rerun.code, 0, rerun.stderr);
  // step_ms changes the key, so run the original config too, which the killed run held the lock for.
  const again = await rig.cli(['run', 'p.yaml', '--json', '--set', 's.steps=3']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(readdirSync(tmp), [], 'stale temp dirs of dead runs are cleaned up');
  const orig = await rig.cli(['run', 'p.yaml', '--json', '--set', 's.step_ms=1']);
  assert.equal(orig.code, 0, orig.stderr);
  const text = readFileSync(join(lastJson(orig.stdout).stages[0].outputDir, 'text.txt'), 'utf8');
  assert.equal(text.split('\n').filter(Boolean).length, 200, 'complete output');
}));

test('kill -9 then rerunning the very same config takes over the stale lock', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  s:\n    uses: slow\n    with: { steps: 40, step_ms: 25 }\n');
  const child = rig.spawn(['run', 'p.yaml']);
  const done = finished(child);
  await waitFor(() => rig.counts().s === 1, 'the stage to start');
  await new Promise((r) => setTimeout(r, 150));
  child.kill('SIGKILL');
  await done;
  const rerun = await rig.cli(['run', 'p.yaml', '--json']);
  assert.equal(rerun.code, 0, rerun.stderr);
  const doc = lastJson(rerun.stdout);
  assert.equal(doc.stages[0].status, 'ran');
  assert.equal(readFileSync(join(doc.stages[0].outputDir, 'text.txt'), 'utf8').split('\n').filter(Boolean).length, 40);
  assert.equal(rig.counts().s, 2);
}));

test('Ctrl-C (SIGINT) stops cleanly with exit 130 and leaves the cache consistent', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  s:\n    uses: slow\n    with: { steps: 200, step_ms: 25 }\n');
  const child = rig.spawn(['run', 'p.yaml']);
  const done = finished(child);
  await waitFor(() => rig.counts().s === 1, 'the stage to start');
  child.kill('SIGINT');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /interrupted/);
  assert.deepEqual(new Cache(rig.cacheDir).listEntries(), []);
  assert.deepEqual(readdirSync(join(rig.cacheDir, 'tmp')), []);
  assert.deepEqual(readdirSync(join(rig.cacheDir, 'locks')), []);
}));

test('two concurrent runs of the same pipeline both succeed, computing each stage once', withRig(async (rig) => {
  rig.write('p.yaml', DEMO.replace('repeat: 2', 'repeat: 2\n      delay_ms: 400'));
  const [x, y] = await Promise.all([rig.cli(['run', 'p.yaml', '--json']), rig.cli(['run', 'p.yaml', '--json'])]);
  assert.equal(x.code, 0, x.stderr);
  assert.equal(y.code, 0, y.stderr);
  assert.deepEqual(rig.counts(), { a: 1, b: 1, low: 1, both: 1 });
  const dx = lastJson(x.stdout);
  const dy = lastJson(y.stdout);
  assert.equal(dx.run, dy.run);
  const ran = [...dx.stages, ...dy.stages].filter((s: any) => s.status === 'ran').length;
  assert.equal(ran, 4, 'each stage ran in exactly one of the two');
  assert.equal(new Registry(rig.artifactsDir).list().length, 2, 'both runs recorded');
}));

test('a fully cached rerun of a pipeline with ~300 MB of entries takes < 2 s wall, node start included', withRig(async (rig) => {
  rig.write('big.yaml', `name: big
stages:
  b1: { uses: blob, with: { mb: 100, salt: one } }
  b2: { uses: blob, with: { mb: 100, salt: two } }
  b3: { uses: blob, with: { mb: 100, salt: three } }
  e: { uses: emit, with: { repeat: 50 } }
  l: { uses: lower, needs: [e] }
  n: { uses: noise, with: { n: 1000 } }
  j: { uses: join, needs: [b1, b2, b3, l, n] }
`);
  const first = await rig.cli(['run', 'big.yaml']);
  assert.equal(first.code, 0, first.stderr);
  const second = await rig.cli(['run', 'big.yaml', '--json']);
  assert.equal(second.code, 0, second.stderr);
  assert.ok(lastJson(second.stdout).stages.every((s: any) => s.status === 'cached'));
  process.stderr.write(`# cached rerun wall time: ${second.ms.toFixed(0)} ms (first run ${first.ms.toFixed(0)} ms)\n`);
  assert.ok(second.ms < 2000, `cached rerun took ${second.ms.toFixed(0)} ms`);
}));
