/**
 * Matrix stages, fan-in, sweeps and compare, on the test stage kinds (fast): expansion and
 * naming, caching and early cutoff per instance, YAML errors with line:col, the CLI views of
 * instances, reproduce --verify on a matrix run, sweep grouping and the comparison.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePipeline, resolvedYaml, selectStages } from '../src/engine/config.js';
import { parseSweep, sweepGrid } from '../src/engine/experiment.js';
import { Registry } from '../src/engine/registry.js';
import { EmopipeError } from '../src/util/errors.js';
import { Rig, lastJson, withRig } from './helpers/rig.js';

const MATRIX = `name: mx
seed: 1
stages:
  a:
    uses: emit
    matrix:
      word: [red, blue]
      rep: [1, 2]
    with:
      text: "say \${matrix.word}"
      repeat: \${matrix.rep}
  b:
    uses: noise
    with: { n: 3 }
  low:
    uses: lower
    needs: [a]
  both:
    uses: join
    needs: [low, b]
  all:
    uses: gather
    needs: [both]
`;
const A = ['a@word=red,rep=1', 'a@word=red,rep=2', 'a@word=blue,rep=1', 'a@word=blue,rep=2'];
const inst = (stage: string) => A.map((n) => n.replace(/^a/, stage));

/** Computations per stage as written (instances counted under their stage). */
function counts(rig: Rig): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, n] of Object.entries(rig.counts())) out[name.split('@')[0]!] = (out[name.split('@')[0]!] ?? 0) + n;
  return out;
}

function load(rig: Rig, text: string, overrides: string[] = []) {
  return parsePipeline(text, { file: 'p.yaml', dir: rig.dir, defaultName: 'p' }, { kinds: rig.kinds, overrides });
}

function loadError(rig: Rig, text: string): EmopipeError {
  try {
    load(rig, text);
  } catch (e) {
    assert.ok(e instanceof EmopipeError, String(e));
    return e;
  }
  assert.fail('expected an invalid pipeline');
}

test('expansion: instance names, typed and interpolated values, needs, fan-in', withRig(async (rig) => {
  const p = load(rig, MATRIX);
  assert.deepEqual(p.stages.map((s) => s.name), [...A, 'b', ...inst('low'), ...inst('both'), 'all']);
  const blue2 = p.stages.find((s) => s.name === 'a@word=blue,rep=2')!;
  assert.equal(blue2.params.text, 'say blue');
  assert.equal(blue2.params.repeat, 2, 'a whole-string reference keeps the value\'s type');
  assert.deepEqual([blue2.template, blue2.matrix], ['a', { word: 'blue', rep: 2 }]);
  const low = p.stages.find((s) => s.name === 'low@word=blue,rep=2')!;
  assert.deepEqual([low.needs, low.matrix], [['a@word=blue,rep=2'], { word: 'blue', rep: 2 }]);
  assert.deepEqual(p.stages.find((s) => s.name === 'both@word=red,rep=1')!.needs, ['low@word=red,rep=1', 'b']);
  const all = p.stages.find((s) => s.name === 'all')!;
  assert.deepEqual([all.needs, all.template, all.matrix], [inst('both'), undefined, undefined]);
  assert.equal(p.stages.find((s) => s.name === 'b')!.template, undefined);

  // Two matrices meet: the grid of both; `--set` reaches every instance.
  const two = load(rig, `stages:
  a: { uses: emit, matrix: { x: [1, 2] }, with: { repeat: "\${matrix.x}" } }
  b: { uses: emit, matrix: { y: [p, q, r] }, with: { text: "\${matrix.y}-$\${x}" } }
  j: { uses: join, needs: [a, b] }
`, ['b.upper=true']);
  assert.deepEqual(two.stages.filter((s) => s.template === 'j').map((s) => s.name), ['j@x=1,y=p', 'j@x=1,y=q', 'j@x=1,y=r', 'j@x=2,y=p', 'j@x=2,y=q', 'j@x=2,y=r']);
  assert.deepEqual(two.stages.find((s) => s.name === 'j@x=2,y=q')!.needs, ['a@x=2', 'b@y=q']);
  const bq = two.stages.find((s) => s.name === 'b@y=q')!;
  assert.deepEqual([bq.params.text, bq.params.upper], ['q-${x}', true], '$${ is a literal ${');

  // Selecting a matrix stage selects its instances; an instance selects itself and its needs.
  assert.deepEqual(selectStages(p, ['low']).stages.map((s) => s.name), [...A, ...inst('low')]);
  const one = selectStages(p, ['both@word=red,rep=2']);
  assert.deepEqual(one.stages.map((s) => s.name), ['a@word=red,rep=2', 'b', 'low@word=red,rep=2', 'both@word=red,rep=2']);
  // The resolved YAML keeps the matrix (narrowed to the selection) and re-expands identically.
  for (const q of [p, one]) {
    const again = load(rig, resolvedYaml(q));
    assert.deepEqual(again.stages.map((s) => [s.name, s.params, s.needs]), q.stages.map((s) => [s.name, s.params, s.needs]));
  }
  assert.match(resolvedYaml(p), /matrix:\n\s+word:\n\s+- red/);
}));

test('YAML errors in matrix definitions point at the line and column', withRig(async (rig) => {
  const cases: [string, RegExp][] = [
    ['  a: { uses: emit, matrix: { n: 3 } }\n', /^p\.yaml:2:33: stages\.a\.matrix\.n: must be array/],
    ['  a: { uses: emit, matrix: { n: [] } }\n', /^p\.yaml:2:33: stages\.a\.matrix\.n: must NOT have fewer than 1 items/],
    ['  a: { uses: emit, matrix: {} }\n', /^p\.yaml:2:28: stages\.a\.matrix: must NOT have fewer than 1 properties/],
    ['  a: { uses: emit, matrix: { "n.x": [1] } }\n', /^p\.yaml:2:30: stages\.a\.matrix\.n\.x: invalid name/],
    ['  a:\n    uses: emit\n    matrix: { n: [1, 2] }\n    with: { text: "${matrix.m}" }\n', /^p\.yaml:5:19: stages\.a\.with\.text: unknown matrix value \$\{matrix\.m\} \(this stage's matrix: n\)/],
    ['  a:\n    uses: emit\n    with:\n      text: "${matrix.n}"\n', /^p\.yaml:5:13: .*unknown matrix value \$\{matrix\.n\} \(this stage has no matrix/],
    ['  a:\n    uses: emit\n    matrix: { n: [1] }\n    with: { text: "${matrix.}" }\n', /^p\.yaml:5:19: stages\.a\.with\.text: malformed reference/],
    ['  a:\n    uses: emit\n    matrix: { n: [1, 1.0] }\n', /^p\.yaml:4:22: stages\.a\.matrix\.n\.1: value 1 appears twice/],
    ['  a:\n    uses: emit\n    matrix: { n: [0, 2] }\n    with: { repeat: "${matrix.n}" }\n', /^p\.yaml:5:21: stages\.a\.with\.repeat: must be >= 1 \(in instance a@n=0\)/],
    ['  a: { uses: emit, matrix: { n: [1] } }\n  b:\n    uses: lower\n    needs: [a]\n    matrix:\n      n: [2]\n', /^p\.yaml:7:7: stages\.b\.matrix\.n: matrix dimension 'n' is already defined by stage a/],
    ['  a: { uses: emit, matrix: { n: [1] } }\n  c: { uses: emit, matrix: { n: [1] } }\n  j: { uses: join, needs: [a, c] }\n', /^p\.yaml:4:27: stages\.j\.needs: matrix dimension 'n' comes from both a and c/],
    ['  a: { uses: emit, matrix: { n: [1] } }\n  g:\n    uses: gather\n    needs: [a]\n    matrix: { m: [1] }\n', /^p\.yaml:6:5: stages\.g\.matrix: a 'gather' stage collects every instance/],
    ['  a: { uses: emit, matrix: { n: [1,2,3,4,5,6,7,8,9,10,11], m: [1,2,3,4,5,6,7,8,9,10], k: [1,2,3,4,5,6,7,8,9,10] } }\n', /1100 instances \(n: 11 × m: 10 × k: 10\); at most 1000/],
  ];
  for (const [stages, re] of cases) {
    const e = loadError(rig, `stages:\n${stages}`);
    assert.match(e.format(), re, stages);
    assert.equal(e.code, 'E_PIPELINE_INVALID');
  }
}));

test('a matrix run computes each instance once, fans in, and reruns per instance (early cutoff included)', withRig(async (rig) => {
  rig.write('p.yaml', MATRIX);
  const first = await rig.run('p.yaml');
  assert.equal(first.status, 'ok', first.error?.format());
  assert.deepEqual(counts(rig), { a: 4, b: 1, low: 4, both: 4, all: 1 }, 'stages not depending on the matrix run once');
  const gathered = readFileSync(join(first.stages.find((s) => s.name === 'all')!.outputDir!, 'text.txt'), 'utf8');
  assert.match(gathered, /^both@word=red,rep=1 \{"word":"red","rep":1\}: say red\|/m);
  assert.equal(gathered.match(/^both@/gm)?.length, 4);
  const fps = new Set(first.stages.map((s) => s.fingerprint));
  assert.equal(fps.size, first.stages.length, 'every instance has its own key');
  assert.deepEqual(first.stages.find((s) => s.name === 'low@word=red,rep=2')!.matrix, { word: 'red', rep: 2 });

  rig.resetCounts();
  const second = await rig.run('p.yaml');
  assert.ok(second.stages.every((s) => s.status === 'cached'));
  assert.equal(second.run, first.run);

  // A parameter of the fanned-out join: its 4 instances and the fan-in rerun, nothing else.
  rig.resetCounts();
  await rig.run('p.yaml', { overrides: ['both.sep=/'] });
  assert.deepEqual(counts(rig), { both: 4, all: 1 });

  // Early cutoff per instance: upper-casing changes a's outputs, lower-casing undoes it.
  rig.resetCounts();
  const upper = await rig.run('p.yaml', { overrides: ['a.upper=true'] });
  assert.deepEqual(counts(rig), { a: 4, low: 4 });
  for (const n of inst('both')) assert.equal(upper.stages.find((s) => s.name === n)!.status, 'cached', n);
}));

test('CLI: --json lists instances with their matrix values; status shows the expansion; show, runs, inspect, diff, reproduce --verify', withRig(async (rig) => {
  rig.write('p.yaml', MATRIX);
  const status = await rig.cli(['status', 'p.yaml']);
  assert.equal(status.code, 0, status.stderr);
  assert.match(status.stdout, /^matrix:\n {2}a: 4 instances over word × rep \(word=red,rep=1; word=red,rep=2; word=blue,rep=1; word=blue,rep=2\)/);
  assert.match(status.stdout, /low: 4 instances over word × rep/);
  assert.match(status.stdout, /all: fans in 4 inputs \(both@word=red,rep=1, /);
  assert.match(status.stdout, /▶ a@word=blue,rep=2 +will run +no entry/);
  const statusJson = JSON.parse((await rig.cli(['status', 'p.yaml', '--json'])).stdout);
  assert.deepEqual(statusJson.stages.find((s: { name: string }) => s.name === 'low@word=red,rep=1').matrix, { word: 'red', rep: 1 });

  const run = await rig.cli(['run', 'p.yaml', '--json']);
  assert.equal(run.code, 0, run.stderr);
  const doc = lastJson(run.stdout);
  const train = doc.stages.find((s: { name: string }) => s.name === 'both@word=blue,rep=1');
  assert.deepEqual([train.kind, train.status, train.matrix], ['join', 'ran', { word: 'blue', rep: 1 }]);
  assert.equal(doc.stages.find((s: { name: string }) => s.name === 'b').matrix, undefined);
  assert.ok(existsSync(join(rig.artifactsDir, doc.run.slice(0, 12), 'low@word=red,rep=1', 'text.txt')), 'per-run view has a folder per instance');

  const show = (await rig.cli(['show', 'latest'])).stdout;
  assert.match(show, /low@word=red,rep=2 +lower +[0-9a-f]{12} +ran/);
  assert.match(show, /matrix:\n\s+word:/);
  assert.match((await rig.cli(['runs'])).stdout, /accuracy=[\d.]+±[\d.]+ \(all\)/);
  const one = await rig.cli(['inspect', 'low@word=blue,rep=1']);
  assert.match(one.stdout, /^low@word=blue,rep=1 \(run [0-9a-f]{12}\)/);
  const every = (await rig.cli(['inspect', 'low'])).stdout;
  assert.equal(every.match(/^low@/gm)?.length, 4, 'a matrix stage name inspects all its instances');
  await rig.cli(['run', 'p.yaml', '--set', 'a.upper=true']);
  const diff = await rig.cli(['diff', doc.run.slice(0, 10), 'latest']);
  assert.match(diff.stdout, /a@word=red,rep=1\.upper changed false → true/);

  const verify = await rig.cli(['reproduce', doc.run.slice(0, 12), '--verify', '--json']);
  assert.equal(verify.code, 0, verify.stderr);
  const v = lastJson(verify.stdout);
  assert.equal(v.reproduced, true);
  assert.equal(v.stages.length, 14);
  const again = await rig.cli(['reproduce', doc.run.slice(0, 12), '--json']);
  assert.equal(lastJson(again.stdout).run, doc.run, 'the recorded config re-expands to the same instances');
  // A non-deterministic instance is caught.
  const salted = await rig.cli(['reproduce', doc.run.slice(0, 12), '--verify'], { EMOPIPE_TEST_SALT: 'x' });
  assert.equal(salted.code, 1);
  assert.match(salted.stderr, /a@word=red,rep=1 +[0-9a-f]{12} +[0-9a-f]{12} +MISMATCH/);
}));

test('sweep values parse as YAML lists; grid order; repeated keys refused', () => {
  assert.deepEqual(parseSweep('train.lr.initial=0.001,0.0003'), { key: 'train.lr.initial', values: [0.001, 0.0003] });
  assert.deepEqual(parseSweep('split.test=["01","02"],["03"]').values, [['01', '02'], ['03']]);
  assert.deepEqual(parseSweep('a.b=x, true ,null').values, ['x', true, null]);
  assert.throws(() => parseSweep('nokey'), /expected KEY=V1,V2/);
  assert.throws(() => parseSweep('a.b=1,1'), /listed twice/);
  assert.deepEqual(sweepGrid([parseSweep('a.x=1,2'), parseSweep('b.y=p,q')]), [['a.x=1', 'b.y="p"'], ['a.x=1', 'b.y="q"'], ['a.x=2', 'b.y="p"'], ['a.x=2', 'b.y="q"']]);
  assert.throws(() => sweepGrid([parseSweep('a.x=1'), parseSweep('a.x=2')]), /given twice/);
});

test('a 2×2 sweep over a matrix pipeline is four runs of one experiment; compare tables, sorts, plots', withRig(async (rig) => {
  rig.write('p.yaml', MATRIX);
  const r = await rig.cli(['run', 'p.yaml', '--sweep', 'b.n=3,4', '--sweep', 'a.tags=[],[x, yz]', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = lastJson(r.stdout);
  assert.match(doc.experiment, /^exp-[0-9a-f]{10}$/);
  assert.equal(doc.runs.length, 4);
  assert.deepEqual(doc.runs.map((x: { sets: string[] }) => x.sets), [['b.n=3', 'a.tags=[]'], ['b.n=3', 'a.tags=["x","yz"]'], ['b.n=4', 'a.tags=[]'], ['b.n=4', 'a.tags=["x","yz"]']]);
  assert.equal(new Set(doc.runs.map((x: { run: string }) => x.run)).size, 4);
  assert.ok(doc.runs[0].stages.some((s: { name: string }) => s.name === 'all'), 'sweeps and matrices compose');
  // Upstream entries are shared: the second run's `b` (n=3) and the third's `a` instances are cache hits.
  assert.equal(doc.runs[1].stages.find((s: { name: string }) => s.name === 'b').status, 'cached');
  assert.equal(doc.runs[2].stages.find((s: { name: string }) => s.name === 'a@word=red,rep=1').status, 'cached');
  const recs = new Registry(rig.artifactsDir).list();
  assert.deepEqual(recs.map((x) => x.experiment), Array(4).fill(doc.experiment));
  assert.match((await rig.cli(['runs'])).stdout, new RegExp(`experiment[\\s\\S]*${doc.experiment}`));

  // One more run outside the experiment: compare by id sees only the four.
  await rig.cli(['run', 'p.yaml']);
  const cmp = await rig.cli(['compare', doc.experiment, '--json']);
  assert.equal(cmp.code, 0, cmp.stderr);
  const c = JSON.parse(cmp.stdout);
  assert.deepEqual(c.varied.sort(), ['a.tags', 'b.n']);
  assert.equal(c.sortedBy, 'all.accuracy_mean');
  assert.equal(c.runs.length, 4);
  const vals = c.runs.map((x: { metrics: Record<string, number> }) => x.metrics['all.accuracy_mean']);
  assert.deepEqual(vals, [...vals].sort((x: number, y: number) => y - x), 'best first');
  assert.ok(vals[0] > vals[3], 'tags make the gathered text longer');
  const asc = JSON.parse((await rig.cli(['compare', doc.experiment.slice(0, 8), '--json', '--asc', '--sort', 'accuracy_mean'])).stdout);
  const ascVals = asc.runs.map((x: { metrics: Record<string, number> }) => x.metrics['all.accuracy_mean']);
  assert.deepEqual(ascVals, [...vals].sort((x: number, y: number) => x - y));

  const text = await rig.cli(['compare', doc.experiment, '--html', 'cmp.html']);
  assert.equal(text.code, 0, text.stderr);
  const lines = text.stdout.trim().split('\n');
  assert.match(lines[0]!, /^run +experiment +a\.tags +b\.n +all\.accuracy \(mean ± std\)$/);
  assert.match(lines[1]!, new RegExp(`^[0-9a-f]{12} +${doc.experiment} +\\["x","yz"\\] +\\d +[\\d.]+ ± 0\\.004$`));
  assert.match(lines.at(-1)!, /sorted by all\.accuracy_mean/);
  const html = rig.read('cmp.html');
  assert.match(html, /<th class="param">b\.n<\/th>/);
  assert.equal(html.match(/<img class="plot"/g)?.length, 2, 'one plot per varied parameter');
  assert.match(Buffer.from(/base64,([^"]+)/.exec(html)![1]!, 'base64').toString(), /<svg[\s\S]*all\.accuracy_mean against a\.tags/);

  // Runs can be named directly, and mixed with experiments; unknown refs are errors.
  const two = JSON.parse((await rig.cli(['compare', c.runs[0].run.slice(0, 10), 'latest', '--json'])).stdout);
  assert.equal(two.runs.length, 2);
  assert.equal((await rig.cli(['compare', 'exp-nothere'])).code, 2);
  const bad = await rig.cli(['run', 'p.yaml', '--sweep', 'nostage.x=1,2']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /no stage 'nostage'/);
}));
