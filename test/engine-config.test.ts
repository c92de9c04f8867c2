import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePipeline, resolvedYaml, selectStages, parseOverride, loadPipeline } from '../src/engine/config.js';
import { kindRegistry } from '../src/engine/kinds.js';
import { EmopipeError } from '../src/util/errors.js';
import { stageKinds } from './fixtures/kinds.js';
import { DEMO, Rig } from './helpers/rig.js';

const kinds = kindRegistry(stageKinds);
const where = { file: 'p.yaml', dir: '/tmp', defaultName: 'p' };

function load(text: string, overrides: string[] = []) {
  return parsePipeline(text, where, { kinds, overrides });
}

/** The error thrown by `fn`, asserted to be an EmopipeError. */
function errorOf(fn: () => unknown): EmopipeError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof EmopipeError, `expected EmopipeError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

test('a valid pipeline loads in dependency order with defaults filled in', () => {
  const p = load(DEMO);
  assert.equal(p.name, 'demo');
  assert.equal(p.seed, 1);
  const order = p.stages.map((s) => s.name);
  assert.ok(order.indexOf('a') < order.indexOf('low') && order.indexOf('low') < order.indexOf('both') && order.indexOf('b') < order.indexOf('both'));
  const a = p.stages.find((s) => s.name === 'a')!;
  assert.deepEqual(a.params, { text: 'Hello', repeat: 2, upper: false, tags: [], format: { sep: '\n', mode: 'plain', scale: 1 }, delay_ms: 0, threads: 1 });
});

test('name defaults to the file name and seed to 0', () => {
  const p = parsePipeline('stages:\n  a:\n    uses: emit\n', { file: 'x/my-pipe.yaml', dir: '/tmp', defaultName: 'my-pipe' }, { kinds });
  assert.equal(p.name, 'my-pipe');
  assert.equal(p.seed, 0);
});

test('unknown parameter key reports file:line:column and the key', () => {
  const e = errorOf(() => load('stages:\n  a:\n    uses: emit\n    with:\n      text: hi\n      repaet: 2\n'));
  assert.equal(e.code, 'E_PIPELINE_INVALID');
  assert.equal(e.format().split('\n')[0], "p.yaml:6:7: stages.a.with.repaet: unknown key 'repaet'");
});

test('wrong types and enum values point at the value, nested paths included', () => {
  const e = errorOf(() => load('stages:\n  a:\n    uses: emit\n    with:\n      repeat: many\n      format:\n        mode: fancy\n'));
  const lines = e.format().split('\n').map((l) => l.trim());
  assert.equal(lines[0], 'p.yaml:5:15: stages.a.with.repeat: must be integer');
  assert.equal(lines[1], 'p.yaml:7:15: stages.a.with.format.mode: must be one of "plain", "numbered", "quoted"');
});

test('a typo at the stage level (use:) is an unknown key at its line', () => {
  const e = errorOf(() => load('stages:\n  a:\n    use: emit\n'));
  assert.match(e.format(), /^p\.yaml:3:5: stages\.a\.use: unknown key 'use'/);
  assert.match(e.format(), /missing required key 'uses'/);
});

test('unknown stage kind lists the known ones, with its position', () => {
  const e = errorOf(() => load('stages:\n  a:\n    uses: emitt\n'));
  assert.equal(e.code, 'E_UNKNOWN_STAGE_KIND');
  assert.equal(e.line, 3);
  assert.equal(e.column, 11);
  assert.match(e.message, /unknown stage kind 'emitt' \(known: blob, emit, gather, join, lower, noise, read, slow\)/);
});

test('needs: naming an unknown stage is an error at that item', () => {
  const e = errorOf(() => load('stages:\n  a:\n    uses: emit\n  j:\n    uses: join\n    needs: [a, nope]\n'));
  assert.equal(e.format(), "p.yaml:6:16: stages.j.needs.1: unknown stage 'nope' (stages: a, j)");
});

test('a cycle is reported with its path', () => {
  const e = errorOf(() => load('stages:\n  a:\n    uses: join\n    needs: [c]\n  b:\n    uses: join\n    needs: [a]\n  c:\n    uses: join\n    needs: [b]\n'));
  assert.equal(e.code, 'E_PIPELINE_CYCLE');
  assert.match(e.format(), /^p\.yaml:4:12: stages\.a\.needs: cycle: a -> c -> b -> a$/);
});

test('a missing required input kind is an error', () => {
  const e = errorOf(() => load('stages:\n  l:\n    uses: lower\n'));
  assert.match(e.format(), /^p\.yaml:3:11: stages\.l\.uses: a 'lower' stage needs an input of kind 'emit'/);
});

test('YAML syntax errors and duplicate keys carry line and column', () => {
  const e = errorOf(() => load('stages:\n  a:\n    uses: emit\n    with: {text: [1, 2}\n'));
  assert.equal(e.line, 4);
  assert.ok(e.column! > 1);
  const d = errorOf(() => load('stages:\n  a:\n    uses: emit\n  a:\n    uses: emit\n'));
  assert.equal(d.line, 4);
  assert.match(d.message, /unique/);
});

test('--set overrides nested params (YAML values), creates objects, and sets the seed', () => {
  const p = load(DEMO, ['a.format.mode=numbered', 'a.tags=["x", "y"]', 'a.repeat=3', 'seed=9', 'b.n=7']);
  const a = p.stages.find((s) => s.name === 'a')!;
  assert.equal((a.params.format as { mode: string }).mode, 'numbered');
  assert.deepEqual(a.params.tags, ['x', 'y']);
  assert.equal(a.params.repeat, 3);
  assert.equal(p.seed, 9);
  assert.equal(p.stages.find((s) => s.name === 'b')!.params.n, 7);
  // `with:` absent: intermediate maps are created.
  const q = load('stages:\n  a:\n    uses: emit\n', ['a.format.scale=2.5']);
  assert.equal((q.stages[0]!.params.format as { scale: number }).scale, 2.5);
});

test('--set errors: unknown stage, unknown param, bad value, bad syntax', () => {
  const unknownStage = errorOf(() => load(DEMO, ['zz.x=1']));
  assert.equal(unknownStage.code, 'E_USAGE');
  assert.match(unknownStage.message, /--set zz\.x=1: no stage 'zz' in this pipeline \(stages: a, b, low, both/);
  const unknownParam = errorOf(() => load(DEMO, ['a.repaet=2']));
  assert.equal(unknownParam.message, "--set a.repaet=2: stages.a.with.repaet: unknown key 'repaet'");
  const badValue = errorOf(() => load(DEMO, ['a.repeat=lots']));
  assert.equal(badValue.message, '--set a.repeat=lots: stages.a.with.repeat: must be integer');
  assert.equal(errorOf(() => parseOverride('a.repeat')).code, 'E_USAGE');
  assert.equal(errorOf(() => parseOverride('a..b=1')).code, 'E_USAGE');
  assert.equal(errorOf(() => load(DEMO, ['a.text.deeper=1'])).code, 'E_USAGE');
});

test('resolved YAML round-trips to the same pipeline', () => {
  const p = load(DEMO, ['a.format.sep=";"', 'seed=4']);
  const again = parsePipeline(resolvedYaml(p), where, { kinds });
  assert.deepEqual(
    again.stages.map((s) => [s.name, s.kind.kind, s.params, s.needs]),
    p.stages.map((s) => [s.name, s.kind.kind, s.params, s.needs]),
  );
  assert.equal(again.seed, 4);
});

test('selecting stages keeps them and their transitive needs only', () => {
  const p = load(DEMO);
  assert.deepEqual(selectStages(p, ['low']).stages.map((s) => s.name), ['a', 'low']);
  assert.deepEqual(selectStages(p, ['both']).stages.map((s) => s.name).sort(), ['a', 'b', 'both', 'low']);
  assert.equal(errorOf(() => selectStages(p, ['nope'])).code, 'E_USAGE');
});

test('loadPipeline reads a file and names it as given', () => {
  const rig = new Rig();
  try {
    rig.write('pipes/x.yaml', 'stages:\n  a:\n    uses: emit\n    with: { bad: 1 }\n');
    const e = errorOf(() => loadPipeline(`${rig.dir}/pipes/x.yaml`, { kinds }));
    assert.equal(e.line, 4);
    assert.ok(e.file!.endsWith('pipes/x.yaml'));
    assert.equal(errorOf(() => loadPipeline(`${rig.dir}/missing.yaml`, { kinds })).code, 'E_USAGE');
  } finally {
    rig.cleanup();
  }
});

/** Milliseconds to parse (best of two), discarding the result or error. */
function parseMs(text: string): number {
  let best = Infinity;
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    try {
      load(text);
    } catch {
      /* unknown keys: the error path is timed too */
    }
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

test('a mapping with many keys parses in linear time; its errors are listed briefly', () => {
  // Top-level keys (each an unknown key: duplicate check, validation and error location all run).
  const mapping = (n: number) => 'stages:\n  a:\n    uses: emit\n' + Array.from({ length: n }, (_, i) => `k${i}: 1\n`).join('');
  const small = parseMs(mapping(2000));
  const big = parseMs(mapping(8000));
  // 4x the keys: linear is ~4x; the old quadratic parse was ~16x (10k keys 3.7 s, 20k 11.9 s).
  assert.ok(big < 8 * small + 100, `2000 keys ${small.toFixed(0)} ms, 8000 keys ${big.toFixed(0)} ms`);
  const e = errorOf(() => load(mapping(8000)));
  assert.equal(e.line, 4);
  assert.match(e.message, /^k0: unknown key 'k0'/);
  assert.ok(e.message.length < 4000, `message of ${e.message.length} chars`);
  assert.match(e.message, /\.\.\. and more$/);
  // Duplicates are still found (now by our own linear check), at the second occurrence.
  const d = errorOf(() => load('stages:\n  a:\n    uses: emit\n    with:\n      text: x\n      repeat: 1\n      text: y\n'));
  assert.equal(d.line, 7);
  assert.match(d.message, /unique/);
});

test('pipeline files and --set values have a size limit with a clear error', () => {
  const rig = new Rig();
  try {
    const big = rig.write('big.yaml', 'stages:\n  a:\n    uses: emit\n' + '# padding\n'.repeat(30_000));
    const e = errorOf(() => loadPipeline(big, { kinds }));
    assert.equal(e.code, 'E_PIPELINE_INVALID');
    assert.equal(e.file, big);
    assert.match(e.message, /pipeline file is 293 KiB; the limit is 256 KiB/);
    // The recorded copy of a config goes through parsePipeline: same limit.
    assert.equal(errorOf(() => load('stages:\n  a:\n    uses: emit\n' + '#\n'.repeat(200_000))).code, 'E_PIPELINE_INVALID');
  } finally {
    rig.cleanup();
  }
  // One big anchor aliased many times stays under yaml's alias-bomb check, not under ours.
  const list = `[${Array.from({ length: 20_000 }, (_, i) => i).join(',')}]`;
  const expanded = errorOf(() => load(`stages:\n  a:\n    uses: emit\nx: &big ${list}\n` + Array.from({ length: 20 }, (_, i) => `y${i}: *big\n`).join('')));
  assert.equal(expanded.code, 'E_PIPELINE_INVALID');
  assert.match(expanded.message, /the pipeline expands to \d+ KiB \(YAML aliases and --set values included\); the limit is 1024 KiB/);
  const set = errorOf(() => parseOverride(`a.tags=[${'"x",'.repeat(20_000)}]`));
  assert.equal(set.code, 'E_USAGE');
  assert.match(set.message, /79 KiB long; the limit is 64 KiB per --set/);
});

test('non-finite numbers (1e400, .inf) are validation errors, not a later hashing failure', () => {
  const viaSet = errorOf(() => load(DEMO, ['a.repeat=1e400']));
  assert.equal(viaSet.code, 'E_PIPELINE_INVALID');
  assert.equal(viaSet.message, '--set a.repeat=1e400: stages.a.with.repeat: must be a finite number');
  const inFile = errorOf(() => load('stages:\n  a:\n    uses: emit\n    with:\n      format: { scale: .inf }\n'));
  assert.equal(inFile.line, 5);
  assert.match(inFile.message, /stages\.a\.with\.format\.scale: must be a finite number/);
});

test('CLI: 1e400 and an alias bomb exit 2 naming the option or the file', { timeout: 60_000 }, async () => {
  const rig = new Rig();
  try {
    rig.write('p.yaml', DEMO);
    const inf = await rig.cli(['run', 'p.yaml', '--set', 'a.repeat=1e400']);
    assert.equal(inf.code, 2, inf.stderr);
    assert.match(inf.stderr, /--set a\.repeat=1e400: stages\.a\.with\.repeat: must be a finite number/);
    // Nine levels of nine aliases: 9^9 strings if expanded.
    const levels = ['x0: &x0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i < 9; i++) levels.push(`x${i}: &x${i} [${Array(9).fill(`*x${i - 1}`).join(', ')}]`);
    rig.write('bomb.yaml', 'stages:\n  a:\n    uses: emit\n' + levels.join('\n') + '\n');
    const bomb = await rig.cli(['run', 'bomb.yaml']);
    assert.equal(bomb.code, 2, bomb.stderr);
    assert.match(bomb.stderr, /bomb\.yaml: .*alias/);
  } finally {
    rig.cleanup();
  }
});
