import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cache } from '../src/engine/cache.js';
import { Registry } from '../src/engine/registry.js';
import { DEMO, Rig, lastJson, withRig } from './helpers/rig.js';

async function ok(rig: Rig, args: string[], env: Record<string, string> = {}) {
  const r = await rig.cli(args, env);
  assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  return r;
}

test('status says what would rerun and why', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const fresh = await ok(rig, ['status', 'p.yaml']);
  assert.match(fresh.stdout, /▶ a +will run +no entry/);
  assert.match(fresh.stdout, /▶ low +will run +no previous run of this stage/);
  await ok(rig, ['run', 'p.yaml']);
  const clean = await ok(rig, ['status', 'p.yaml']);
  for (const s of ['a', 'b', 'low', 'both']) assert.match(clean.stdout, new RegExp(`• ${s} +cached`));
  const changed = await ok(rig, ['status', 'p.yaml', '--set', 'a.repeat=3', '--set', 'seed=2', '--set', 'both.sep=/']);
  assert.match(changed.stdout, /▶ a +will run +param a\.repeat changed 2 → 3/);
  assert.match(changed.stdout, /▶ b +will run +seed changed 1 → 2/);
  assert.match(changed.stdout, /\? low +may run +will run if upstream output changes \(a\)/);
  assert.match(changed.stdout, /▶ both +will run +param both\.sep changed \+ → \//);
  // Input change: low's own params are the same, its input a changed.
  await ok(rig, ['run', 'p.yaml', 'a', '--set', 'a.repeat=3']);
  const input = await ok(rig, ['status', 'p.yaml', '--set', 'a.repeat=3']);
  assert.match(input.stdout, /• a +cached/);
  assert.match(input.stdout, /▶ low +will run +input a changed/);
  const json = JSON.parse((await ok(rig, ['status', 'p.yaml', '--json'])).stdout);
  assert.deepEqual(json.stages.map((s: any) => s.state), ['cached', 'cached', 'cached', 'cached']);
}));

test('runs, show and diff report runs, configs, params and metrics', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const a = lastJson((await ok(rig, ['run', 'p.yaml', '--json'])).stdout);
  const b = lastJson((await ok(rig, ['run', 'p.yaml', '--json', '--set', 'a.repeat=3'])).stdout);
  const runs = (await ok(rig, ['runs'])).stdout.trim().split('\n');
  assert.equal(runs.length, 3);
  assert.match(runs[1]!, new RegExp(`^${a.run.slice(0, 12)} +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d +demo +ok +accuracy=0\\.068 \\(both\\)$`));
  assert.match(runs[2]!, new RegExp(`^${b.run.slice(0, 12)} .* ok +accuracy=0\\.074 \\(both\\)$`));
  const show = (await ok(rig, ['show', b.run.slice(0, 8)])).stdout;
  assert.match(show, new RegExp(`run +${b.run}`));
  assert.match(show, /a +emit +[0-9a-f]{12} +ran/);
  assert.match(show, /b +noise +[0-9a-f]{12} +cached/);
  assert.match(show, /repeat: 3/);
  assert.match(show, /both: accuracy=0\.074 {2}parts=2/);
  assert.equal(JSON.parse((await ok(rig, ['show', 'latest', '--json'])).stdout).run, b.run);
  const diff = (await ok(rig, ['diff', a.run.slice(0, 10), b.run.slice(0, 10)])).stdout;
  assert.match(diff, /a\.repeat changed 2 → 3/);
  assert.match(diff, /both\.accuracy: 0\.068 → 0\.074 {2}\(\+0\.006\)/);
  assert.match(diff, /a\.chars: 11 → 17/);
  const missing = await rig.cli(['show', 'ffffffff']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /no run matches 'ffffffff'/);
}));

test('inspect shows files, sizes, npy shapes and stats, json summaries', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const doc = lastJson((await ok(rig, ['run', 'p.yaml', '--json'])).stdout);
  const byStage = (await ok(rig, ['inspect', 'b'])).stdout;
  assert.match(byStage, /features\.npy +188 B +float32 \[5, 3\] +min -?[\d.]+ max -?[\d.]+ mean -?[\d.]+ std [\d.]+/);
  assert.match(byStage, /meta\.json +\d+ B +\{ n=5, seed="1\/b" \}/);
  const fp = doc.stages.find((s: any) => s.name === 'low').fingerprint;
  assert.match((await ok(rig, ['inspect', fp.slice(0, 10)])).stdout, /text\.txt +11 B/);
  const byRun = (await ok(rig, ['inspect', doc.run.slice(0, 12)])).stdout;
  for (const s of ['a', 'b', 'low', 'both']) assert.match(byRun, new RegExp(`^${s} \\(run ${doc.run.slice(0, 12)}\\)`, 'm'));
  assert.match((await ok(rig, ['inspect', `${doc.run.slice(0, 8)}:both`])).stdout, /^both /);
  const json = JSON.parse((await ok(rig, ['inspect', 'b', '--json'])).stdout);
  assert.equal(json[0].files.find((f: any) => f.path === 'features.npy').size, 188);
  assert.equal((await rig.cli(['inspect', 'zzz'])).code, 2);
}));

test('reproduce reruns a recorded config; --verify recomputes without cache and compares', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const a = lastJson((await ok(rig, ['run', 'p.yaml', '--json', '--set', 'a.repeat=4'])).stdout);
  await ok(rig, ['run', 'p.yaml']);
  // The pipeline file changes afterwards; reproduce uses the recorded resolved config.
  rig.write('p.yaml', DEMO.replace('Hello', 'Changed'));
  const again = lastJson((await ok(rig, ['reproduce', a.run.slice(0, 12), '--json'])).stdout);
  assert.equal(again.run, a.run);
  assert.ok(again.stages.every((s: any) => s.status === 'cached'));
  rig.resetCounts();
  const verified = await ok(rig, ['reproduce', a.run.slice(0, 12), '--verify', '--json']);
  assert.deepEqual(rig.counts(), { a: 1, b: 1, low: 1, both: 1 }, 'every stage recomputed');
  assert.match(verified.stderr, /a +[0-9a-f]{12} +[0-9a-f]{12} +match/);
  assert.equal(lastJson(verified.stdout).reproduced, true);
  assert.deepEqual(readdirSync(join(rig.cacheDir, 'tmp')), [], 'verification scratch removed');
  // A stage that is not deterministic is caught.
  const bad = await rig.cli(['reproduce', a.run.slice(0, 12), '--verify'], { EMOPIPE_TEST_SALT: 'drift' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /a +[0-9a-f]{12} +[0-9a-f]{12} +MISMATCH/);
  assert.match(bad.stderr, /low +[0-9a-f]{12} +[0-9a-f]{12} +MISMATCH/);
  assert.match(bad.stderr, /b +[0-9a-f]{12} +[0-9a-f]{12} +match/);
}));

test('gc drops entries no kept run references; --dry-run removes nothing', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const a = lastJson((await ok(rig, ['run', 'p.yaml', '--json'])).stdout);
  const b = lastJson((await ok(rig, ['run', 'p.yaml', '--json', '--set', 'a.text=Other'])).stdout);
  const cache = new Cache(rig.cacheDir);
  assert.equal(cache.listEntries().length, 7, 'a, low and both reran; b was cached');
  assert.match((await ok(rig, ['gc'])).stdout, /removed 0 entries/);
  const dry = await ok(rig, ['gc', '--keep-last', '1', '--dry-run']);
  assert.match(dry.stdout, /would remove 3 entries/);
  assert.equal(cache.listEntries().length, 7);
  await ok(rig, ['gc', '--keep-last', '1']);
  const left = new Set(cache.listEntries());
  assert.deepEqual(left, new Set(b.stages.map((s: any) => s.fingerprint)));
  assert.ok(!existsSync(join(rig.artifactsDir, a.run.slice(0, 12))), "the dropped run's view is removed");
  const rerunA = lastJson((await ok(rig, ['run', 'p.yaml', '--json'])).stdout);
  assert.deepEqual(rerunA.stages.map((s: any) => s.status), ['ran', 'cached', 'ran', 'ran']);
}));

test('concurrent registry writers lose no records', withRig(async (rig) => {
  const script = join(rig.dir, 'writer.mjs');
  const registryUrl = new URL('../src/engine/registry.js', import.meta.url).href;
  writeFileSync(script, `import { Registry } from ${JSON.stringify(registryUrl)};
const reg = new Registry(process.argv[2]);
for (let i = 0; i < 15; i++) await reg.add({ run: process.argv[3] + i, pipeline: 'x', file: 'x', pipelineDir: '.', startedAt: new Date().toISOString(), seconds: 0, status: 'ok', seed: 0, resolvedYaml: '', stages: [], metrics: {}, artifactsDir: null });
`);
  const { spawn } = await import('node:child_process');
  const writers = ['w1-', 'w2-', 'w3-', 'w4-'].map((tag) => new Promise<number | null>((res) => spawn(process.execPath, [script, rig.artifactsDir, tag], { stdio: 'inherit' }).on('close', res)));
  assert.deepEqual(await Promise.all(writers), [0, 0, 0, 0]);
  const runs = new Registry(rig.artifactsDir).list();
  assert.equal(runs.length, 60);
  assert.equal(new Set(runs.map((r) => r.run)).size, 60);
  assert.ok(existsSync(join(rig.artifactsDir, 'runs.db')));
}));
