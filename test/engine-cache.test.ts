import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync, utimesSync, rmSync, mkdirSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { crc32 } from 'node:zlib';
import { Cache, MANIFEST } from '../src/engine/cache.js';
import { tryLock, acquireLock } from '../src/engine/lock.js';
import type { RunResult } from '../src/engine/run.js';
import { DEMO, withRig } from './helpers/rig.js';

const statusOf = (r: RunResult) => Object.fromEntries(r.stages.map((s) => [s.name, s.status]));
const fpOf = (r: RunResult, name: string) => r.stages.find((s) => s.name === name)!.fingerprint!;

test('first run computes every stage, second is all cache hits with the same outputs', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const first = await rig.run('p.yaml');
  assert.equal(first.status, 'ok');
  assert.deepEqual(statusOf(first), { a: 'ran', b: 'ran', low: 'ran', both: 'ran' });
  assert.deepEqual(rig.counts(), { a: 1, b: 1, low: 1, both: 1 });
  const both = first.stages.find((s) => s.name === 'both')!;
  assert.equal(readFileSync(join(both.outputDir!, 'text.txt'), 'utf8').split('+')[0], 'hello\nhello');
  const second = await rig.run('p.yaml');
  assert.deepEqual(statusOf(second), { a: 'cached', b: 'cached', low: 'cached', both: 'cached' });
  assert.deepEqual(rig.counts(), { a: 1, b: 1, low: 1, both: 1 }, 'nothing recomputed');
  assert.equal(second.run, first.run);
  assert.deepEqual(second.metrics, first.metrics, 'metrics of cached stages come from the entry');
  // Entries are complete directories with a manifest; no temp dirs are left behind.
  const cache = new Cache(rig.cacheDir);
  assert.equal(cache.listEntries().length, 4);
  assert.deepEqual(readdirSync(cache.tmpDir), []);
}));

test('a parameter change reruns that stage and its dependants only', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const first = await rig.run('p.yaml');
  rig.resetCounts();
  const r = await rig.run('p.yaml', { overrides: ['low.trim=true'] });
  assert.deepEqual(statusOf(r), { a: 'cached', b: 'cached', low: 'ran', both: 'cached' }, 'trim changes nothing in the text: early cutoff keeps both cached');
  assert.notEqual(fpOf(r, 'low'), fpOf(first, 'low'));
  assert.equal(fpOf(r, 'both'), fpOf(first, 'both'));
  rig.resetCounts();
  const r2 = await rig.run('p.yaml', { overrides: ['a.text=Bye'] });
  assert.deepEqual(statusOf(r2), { a: 'ran', b: 'cached', low: 'ran', both: 'ran' });
  assert.deepEqual(rig.counts(), { a: 1, low: 1, both: 1 });
  rig.resetCounts();
  const r3 = await rig.run('p.yaml', { overrides: ['seed=5'] });
  assert.deepEqual(statusOf(r3), { a: 'cached', b: 'ran', low: 'cached', both: 'ran' }, 'the seed only reaches random kinds');
}));

test('early cutoff: an upstream rerun with byte-identical output leaves dependants cached', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const first = await rig.run('p.yaml');
  rig.resetCounts();
  // upper=true changes a's output ("HELLO"), but low lower-cases it back to the same bytes.
  const r = await rig.run('p.yaml', { overrides: ['a.upper=true'] });
  assert.deepEqual(statusOf(r), { a: 'ran', b: 'cached', low: 'ran', both: 'cached' });
  assert.deepEqual(rig.counts(), { a: 1, low: 1 });
  assert.notEqual(fpOf(r, 'low'), fpOf(first, 'low'));
  assert.equal(r.stages.find((s) => s.name === 'low')!.contentHash, first.stages.find((s) => s.name === 'low')!.contentHash);
  assert.equal(fpOf(r, 'both'), fpOf(first, 'both'));
  // A non-semantic param (emit.threads) changes nothing at all.
  rig.resetCounts();
  const r2 = await rig.run('p.yaml', { overrides: ['a.threads=8'] });
  assert.equal(statusOf(r2).a, 'cached');
  assert.deepEqual(rig.counts(), {});
}));

test('selected stages run with their needs only', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const r = await rig.run('p.yaml', { targets: ['low'] });
  assert.deepEqual(r.stages.map((s) => s.name), ['a', 'low']);
  assert.deepEqual(rig.counts(), { a: 1, low: 1 });
}));

test('external inputs: editing an outside file reruns its reader', withRig(async (rig) => {
  rig.write('input.txt', 'one');
  rig.write('p.yaml', 'stages:\n  r:\n    uses: read\n    with: { path: input.txt }\n  l:\n    uses: join\n    needs: [r]\n');
  await rig.run('p.yaml');
  const again = await rig.run('p.yaml');
  assert.equal(statusOf(again).r, 'cached');
  rig.write('input.txt', 'two');
  utimesSync(join(rig.dir, 'input.txt'), new Date(), new Date(Date.now() + 5000));
  const after = await rig.run('p.yaml');
  assert.deepEqual(statusOf(after), { r: 'ran', l: 'ran' });
  assert.equal(readFileSync(join(after.stages[1]!.outputDir!, 'text.txt'), 'utf8'), 'two');
}));

for (const [what, damage] of [
  ['a changed byte (same size)', (f: string) => { const b = readFileSync(f); b[0] = b[0]! ^ 0xff; writeFileSync(f, b); }],
  ['a truncated file', (f: string) => truncateSync(f, 1)],
  ['a deleted file', (f: string) => rmSync(f)],
  ['a deleted manifest', (f: string) => rmSync(join(f, '..', MANIFEST))],
  ['a garbled manifest', (f: string) => writeFileSync(join(f, '..', MANIFEST), '{"format":1,')],
] as const) {
  test(`a corrupted cache entry (${what}) is detected, reported and recomputed`, withRig(async (rig) => {
    rig.write('p.yaml', DEMO);
    const first = await rig.run('p.yaml');
    const low = first.stages.find((s) => s.name === 'low')!;
    damage(join(low.outputDir!, 'text.txt'));
    rig.resetCounts();
    const warnings: string[] = [];
    const r = await rig.run('p.yaml', { observer: { warn: (m) => warnings.push(m) } });
    assert.equal(r.status, 'ok');
    assert.equal(statusOf(r).low, 'ran');
    assert.equal(statusOf(r).both, 'cached', 'recomputed output is identical, so dependants stay cached');
    assert.deepEqual(rig.counts(), { low: 1 });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`cache entry ${low.fingerprint!.slice(0, 12)} of stage low is corrupt`));
    assert.equal(readFileSync(join(low.outputDir!, 'text.txt'), 'utf8'), 'hello\nhello');
    const clean = await new Cache(rig.cacheDir).lookup(low.fingerprint!, 'full');
    assert.equal(clean.state, 'hit');
  }));
}

test('big entries are CRC-checked on every read; --verify-cache re-hashes them with SHA-256', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  big:\n    uses: blob\n    with: { mb: 40 }\n');
  const first = await rig.run('p.yaml');
  const file = join(first.stages[0]!.outputDir!, 'blob.bin');
  const b = readFileSync(file);
  b[123] = b[123]! ^ 1;
  writeFileSync(file, b);
  const quick = await rig.run('p.yaml');
  assert.equal(quick.stages[0]!.status, 'ran', 'a 40 MiB entry is verified by default too');
  // A damage the CRC cannot see (here: the manifest's CRC rewritten to match) is still caught by --verify-cache.
  writeFileSync(file, b);
  const mPath = join(first.stages[0]!.outputDir!, MANIFEST);
  const m = JSON.parse(readFileSync(mPath, 'utf8'));
  m.files.find((f: { path: string }) => f.path === 'blob.bin').crc32 = crc32(b);
  writeFileSync(mPath, JSON.stringify(m));
  assert.equal((await rig.run('p.yaml')).stages[0]!.status, 'cached');
  const warnings: string[] = [];
  const full = await rig.run('p.yaml', { verifyCache: true, observer: { warn: (m) => warnings.push(m) } });
  assert.equal(full.stages[0]!.status, 'ran');
  assert.match(warnings.join('\n'), /blob\.bin content hash mismatch/);
}));

test('a failing stage publishes nothing, skips its dependants and is reported with its file', withRig(async (rig) => {
  rig.write('p.yaml', DEMO + '  after:\n    uses: join\n    needs: [both]\n');
  const r = await rig.run('p.yaml', { overrides: ['both.fail=true'] });
  assert.equal(r.status, 'failed');
  assert.equal(statusOf(r).both, 'failed');
  assert.equal(statusOf(r).after, 'skipped');
  assert.equal(r.error!.format(), `stage both failed: ${join(rig.dir, 'input.txt')}: asked to fail`);
  const cache = new Cache(rig.cacheDir);
  assert.equal((await cache.lookup(fpOf(r, 'both'))).state, 'miss');
  assert.deepEqual(readdirSync(cache.tmpDir), [], 'its temp dir was removed');
  assert.equal(r.record!.status, 'failed');
}));

test('aborting a run removes the running stage temp dir and leaves no entry', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  s:\n    uses: slow\n    with: { steps: 100, step_ms: 20 }\n');
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 300);
  const r = await rig.run('p.yaml', { signal: ac.signal });
  assert.equal(r.status, 'interrupted');
  assert.equal(r.stages[0]!.status, 'interrupted');
  assert.equal(r.error!.code, 'E_INTERRUPTED');
  const cache = new Cache(rig.cacheDir);
  assert.deepEqual(cache.listEntries(), []);
  assert.deepEqual(readdirSync(cache.tmpDir), []);
  assert.deepEqual(readdirSync(cache.locksDir), [], 'its lock was released');
}));

test('locks: a live holder blocks, a dead holder is stale and broken', withRig(async (rig) => {
  const path = join(rig.dir, 'x.lock');
  const held = tryLock(path)!;
  assert.ok(held);
  assert.equal(tryLock(path), undefined, 'held by a live process (us)');
  held.release();
  assert.equal(existsSync(path), false);
  // A lock left by a process that died (kill -9) is taken over.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  const deadPid = Number(dead.stdout.toString());
  mkdirSync(rig.dir, { recursive: true });
  writeFileSync(path, JSON.stringify({ pid: deadPid, host: (await import('node:os')).hostname(), time: Date.now() }));
  const taken = await acquireLock(path, { pollMs: 10 });
  assert.ok(taken, 'stale lock broken');
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
  taken!.release();
}));

test('two in-process runs of one pipeline at once compute each stage once', withRig(async (rig) => {
  rig.write('p.yaml', DEMO.replace('repeat: 2', 'repeat: 2\n      delay_ms: 300'));
  const [x, y] = await Promise.all([rig.run('p.yaml'), rig.run('p.yaml')]);
  assert.equal(x.status, 'ok');
  assert.equal(y.status, 'ok');
  assert.deepEqual(rig.counts(), { a: 1, b: 1, low: 1, both: 1 });
  assert.equal(x.run, y.run);
}));

test('lock stress: 4 processes × 40 read-modify-write sections lose no update', withRig(async (rig) => {
  const script = join(rig.dir, 'locker.mjs');
  const lockUrl = new URL('../src/engine/lock.js', import.meta.url).href;
  writeFileSync(script, `import { withLock } from ${JSON.stringify(lockUrl)};
import { readFileSync, writeFileSync } from 'node:fs';
const [lock, counter] = process.argv.slice(2);
for (let i = 0; i < 40; i++) {
  await withLock(lock, async () => {
    const n = Number(readFileSync(counter, 'utf8'));
    await new Promise((r) => setTimeout(r, Math.random() * 3));
    writeFileSync(counter, String(n + 1));
  }, { pollMs: 5 });
}
`);
  const counter = join(rig.dir, 'n.txt');
  writeFileSync(counter, '0');
  const { spawn } = await import('node:child_process');
  const procs = [1, 2, 3, 4].map(() => new Promise<number | null>((res) => spawn(process.execPath, [script, join(rig.dir, 'l.lock'), counter], { stdio: 'inherit' }).on('close', res)));
  assert.deepEqual(await Promise.all(procs), [0, 0, 0, 0]);
  assert.equal(readFileSync(counter, 'utf8'), '160');
  assert.equal(existsSync(join(rig.dir, 'l.lock')), false);
}));
