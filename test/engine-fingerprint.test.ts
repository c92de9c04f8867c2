import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveParams } from '../src/engine/config.js';
import { fingerprintOf, fingerprintParts } from '../src/engine/fingerprint.js';
import type { StageKind } from '../src/engine/stage.js';
import { clearVersionCache, implementationVersion, moduleClosure } from '../src/engine/version.js';
import { sha256 } from '../src/util/hash.js';
import { builtinStageKinds } from '../src/stages/index.js';
import { emitKind, gatherKind, joinKind, noiseKind, stageKinds } from './fixtures/kinds.js';
import { expandOrThrow, findRefs, type StageTemplate } from '../src/engine/matrix.js';
import { stageKey } from '../src/engine/stage-key.js';
import { EmopipeError } from '../src/util/errors.js';
import { mutations, sample } from './helpers/mutate.js';

/**
 * Fingerprints of the chain  up (emit) → T (kind under test) → d1 (join) → d2 (join),
 * computed exactly as the engine does; T's output is modelled as changing whenever its key
 * does (so this tests key propagation; early cutoff is tested on real runs elsewhere).
 */
function chainKeys(kind: StageKind, params: Record<string, unknown>, seed = 0) {
  const upParts = fingerprintParts(emitKind, resolveParams(emitKind, {}), seed, [], undefined);
  const up = fingerprintOf(upParts);
  const upOut = sha256('out:' + up);
  const inputs = kind.inputs.map((i) => ({ name: `up_${i.kind}`, kind: i.kind, contentHash: upOut }));
  const t = fingerprintOf(fingerprintParts(kind, params, seed, inputs, kind.externalInputs ? { files: 'fixed' } : undefined));
  const d1 = fingerprintOf(fingerprintParts(joinKind, resolveParams(joinKind, {}), seed, [{ name: 't', kind: kind.kind, contentHash: sha256('out:' + t) }], undefined));
  const d2 = fingerprintOf(fingerprintParts(joinKind, resolveParams(joinKind, {}), seed, [{ name: 'd1', kind: 'join', contentHash: sha256('out:' + d1) }], undefined));
  return { up, t, d1, d2 };
}

/** Default params, plus a sample for required keys that have no default. */
function baseParams(kind: StageKind): Record<string, unknown> {
  const schema = kind.paramsSchema as { required?: string[]; properties?: Record<string, Record<string, unknown>> };
  const seedParams: Record<string, unknown> = {};
  for (const k of schema.required ?? []) seedParams[k] = sample(schema.properties?.[k] ?? {});
  return resolveParams(kind, seedParams);
}

const allKinds = [...builtinStageKinds, ...stageKinds];

test('property: changing any single parameter of any stage kind changes its key and its dependants, never upstream', (t) => {
  assert.ok(stageKinds.length >= 5);
  let checked = 0;
  for (const kind of allKinds) {
    const base = baseParams(kind);
    const before = chainKeys(kind, base);
    const { mutations: muts, stuck } = mutations(kind.paramsSchema, base, (p) => resolveParams(kind, p));
    assert.deepEqual(stuck, [], `${kind.kind}: no valid alternative value derived for ${stuck.join(', ')}`);
    const nonSemantic = new Set(kind.nonSemanticParams ?? []);
    for (const m of muts) {
      const after = chainKeys(kind, m.params);
      const where = `${kind.kind}.${m.path.join('.')}`;
      assert.equal(after.up, before.up, `${where}: upstream key changed`);
      if (nonSemantic.has(m.path.join('.')) || nonSemantic.has(m.path[0]!)) {
        assert.equal(after.t, before.t, `${where} is declared non-semantic but changed the key`);
        continue;
      }
      assert.notEqual(after.t, before.t, `${where}: stage key did not change`);
      assert.notEqual(after.d1, before.d1, `${where}: dependant key did not change`);
      assert.notEqual(after.d2, before.d2, `${where}: transitive dependant key did not change`);
      checked++;
    }
    t.diagnostic(`${kind.kind}: ${muts.length} parameters mutated`);
  }
  // Every test kind's params were exercised (and the builtin ones, whatever they are now).
  assert.ok(checked >= 12, `only ${checked} parameters checked`);
});

test('the pipeline seed is part of the key of random kinds only', () => {
  const noise = resolveParams(noiseKind, {});
  assert.notEqual(chainKeys(noiseKind, noise, 1).t, chainKeys(noiseKind, noise, 2).t);
  const emit = resolveParams(emitKind, {});
  assert.equal(chainKeys(emitKind, emit, 1).t, chainKeys(emitKind, emit, 2).t);
});

test('external inputs and upstream content are part of the key; key order of params is not', () => {
  const p = resolveParams(emitKind, {});
  const key = (external: unknown, inputHash = 'a', params = p) =>
    fingerprintOf(fingerprintParts(emitKind, params, 0, [{ name: 'u', kind: 'x', contentHash: inputHash }], external));
  assert.notEqual(key({ size: 1 }), key({ size: 2 }));
  assert.notEqual(key(undefined, 'a'), key(undefined, 'b'));
  const reordered = Object.fromEntries(Object.entries(p).reverse());
  assert.equal(key(undefined, 'a', reordered), key(undefined, 'a'));
});

test('implementation version follows static, re-exported, dynamic and worker imports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'emopipe-version-'));
  try {
    const w = (name: string, text: string) => writeFileSync(join(dir, name), text);
    w('stage.js', "import { a } from './a.js';\nexport * from './b.js';\nconst c = () => import('./c.js');\nconst wk = new URL('./worker.js', import.meta.url);\nimport 'node:fs';\nimport x from 'yaml';\n");
    w('a.js', "export const a = 1;\nimport './d.js';\n");
    w('b.js', 'export const b = 2;\n');
    w('c.js', 'export const c = 3;\n');
    w('d.js', 'export const d = 4;\n');
    w('worker.js', 'postMessage(1);\n');
    w('unrelated.js', 'export const u = 0;\n');
    const url = pathToFileURL(join(dir, 'stage.js')).href;
    assert.deepEqual(moduleClosure(url).map((f) => f.slice(dir.length + 1)), ['a.js', 'b.js', 'c.js', 'd.js', 'stage.js', 'worker.js']);
    const v0 = implementationVersion(url);
    assert.equal(implementationVersion(url), v0, 'memoized and deterministic');
    for (const file of ['d.js', 'worker.js', 'c.js', 'b.js']) {
      clearVersionCache();
      w(file, `// edited ${file}\n`);
      const v = implementationVersion(url);
      assert.notEqual(v, v0, `editing ${file} must change the version`);
    }
    clearVersionCache();
    const v1 = implementationVersion(url);
    clearVersionCache();
    w('unrelated.js', 'export const u = 1;\n');
    assert.equal(implementationVersion(url), v1, 'a file the stage does not import does not matter');
  } finally {
    clearVersionCache();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every registered kind has a computable version that covers its module', () => {
  for (const k of allKinds) {
    assert.match(implementationVersion(k.module), /^[0-9a-f]{64}$/, k.kind);
    assert.ok(moduleClosure(k.module).length >= 1);
  }
});

/**
 * The property over matrix instances: up (emit, matrix i: [1, 2]) → T@i=1, T@i=2 (the kind
 * under test, fanned out) → g (gather, fans in). Keys are computed by the engine's own
 * expansion and stageKey; every output is modelled as changing with its key.
 */
async function instanceKeys(kind: StageKind, params: Record<string, unknown>) {
  const t = (name: string, k: StageKind, p: Record<string, unknown>, needs: string[], matrix?: Record<string, unknown[]>): StageTemplate => ({
    name, kind: k, params: p, needs, refs: [], ...(matrix ? { matrix } : {}),
  });
  const up = { ...t('up', emitKind, {}, [], { i: [1, 2] }), params: { text: 'x${matrix.i}' } };
  up.refs = findRefs(up.params, () => assert.fail('ref'));
  const instances = expandOrThrow(
    [up, t('t', kind, params, ['up']), t('g', gatherKind, resolveParams(gatherKind, {}), ['t'])],
    (_c, path, message) => new EmopipeError('E_PIPELINE_INVALID', `${path.join('.')}: ${message}`),
    (tpl, p) => (Object.assign(p, resolveParams(tpl.kind, p)), []),
  );
  const out = new Map<string, string>();
  const keys: Record<string, string> = {};
  const env = { seed: 0, resolvePath: (p: string) => p, dataDir: '/nonexistent' };
  for (const s of instances) {
    const k = s.kind.externalInputs ? { ...s, kind: { ...s.kind, externalInputs: async () => ({ files: 'fixed' }) } } : s;
    const inputs = s.needs.map((n) => ({ name: n, kind: instances.find((x) => x.name === n)!.kind.kind, contentHash: out.get(n)! }));
    const { fingerprint } = await stageKey(k, inputs, env);
    keys[s.name] = fingerprint;
    out.set(s.name, sha256('out:' + fingerprint));
  }
  return keys;
}

test('property over matrix instances: any parameter change of a fanned-out stage changes every instance and the fan-in, never upstream', async () => {
  let checked = 0;
  for (const kind of allKinds.filter((k) => !k.fanIn)) {
    const base = baseParams(kind);
    const before = await instanceKeys(kind, base);
    assert.deepEqual(Object.keys(before), ['up@i=1', 'up@i=2', 't@i=1', 't@i=2', 'g'], kind.kind);
    assert.notEqual(before['t@i=1'], before['t@i=2'], `${kind.kind}: instances share a key`);
    const nonSemantic = new Set(kind.nonSemanticParams ?? []);
    const { mutations: muts } = mutations(kind.paramsSchema, base, (p) => resolveParams(kind, p));
    for (const m of muts) {
      const after = await instanceKeys(kind, m.params);
      const where = `${kind.kind}.${m.path.join('.')}`;
      assert.equal(after['up@i=1'], before['up@i=1'], `${where}: upstream instance key changed`);
      assert.equal(after['up@i=2'], before['up@i=2'], `${where}: upstream instance key changed`);
      if (nonSemantic.has(m.path.join('.')) || nonSemantic.has(m.path[0]!)) {
        assert.equal(after['t@i=1'], before['t@i=1'], `${where} is non-semantic but changed an instance key`);
        continue;
      }
      for (const n of ['t@i=1', 't@i=2', 'g']) assert.notEqual(after[n], before[n], `${where}: ${n} key did not change`);
      checked++;
    }
  }
  assert.ok(checked >= 12, `only ${checked} parameters checked`);
});
