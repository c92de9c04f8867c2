/**
 * Issue #11, engine side: gc never deletes outside its directories nor claims removals that did
 * not happen, a read-only cache serves a fully cached run, locks are leases that expire (with a
 * waiting message naming the lock file), SIGTERM ends a stuck run, `inspect latest` works.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join, resolve, sep } from 'node:path';
import { Cache, MANIFEST } from '../src/engine/cache.js';
import { collectGarbage } from '../src/engine/gc.js';
import { acquireLock, tryLock } from '../src/engine/lock.js';
import { Registry, type RunRecord } from '../src/engine/registry.js';
import { DEMO, finished, lastJson, withRig, type Rig } from './helpers/rig.js';

function record(run: string): RunRecord {
  return { run, pipeline: 'x', file: 'x.yaml', pipelineDir: '.', startedAt: new Date().toISOString(), seconds: 0, status: 'ok', seed: 1, resolvedYaml: '', stages: [], metrics: {}, artifactsDir: null };
}

/**
 * Make every write under `root` fail with EROFS, as on a read-only mount (tests run as root, so
 * permissions cannot do it). Patches node:fs and syncs the ESM named exports the code imports.
 */
function readOnly(root: string): () => void {
  const under = (p: unknown) => typeof p === 'string' && (resolve(p) + sep).startsWith(resolve(root) + sep);
  const names = ['mkdirSync', 'writeFileSync', 'rmSync', 'renameSync', 'linkSync', 'unlinkSync', 'utimesSync', 'symlinkSync', 'copyFileSync'] as const;
  const saved = new Map<string, unknown>();
  const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const n of names) {
    const orig = f[n]!;
    saved.set(n, orig);
    f[n] = (...a: unknown[]) => {
      if (under(a[0]) || under(a[1])) throw Object.assign(new Error(`EROFS: read-only file system, ${n} '${String(a[0])}'`), { code: 'EROFS' });
      return orig(...a);
    };
  }
  syncBuiltinESMExports();
  return () => {
    for (const [n, orig] of saved) f[n] = orig as (...a: unknown[]) => unknown;
    syncBuiltinESMExports();
  };
}

async function twoRunsForGc(rig: Rig): Promise<void> {
  rig.write('p.yaml', DEMO);
  await rig.run('p.yaml');
  await rig.run('p.yaml', { overrides: ['a.text=Other'] });
}

test('#11.2 gc never deletes outside the artifacts dir: a registry record with run "../victimdir" deletes nothing', withRig(async (rig) => {
  const victim = join(rig.dir, 'victimdir');
  mkdirSync(victim);
  writeFileSync(join(victim, 'precious.txt'), 'keep me');
  await new Registry(rig.artifactsDir).add(record('../victimdir'));
  await new Registry(rig.artifactsDir).add(record('../victimdir/../../x'));
  await twoRunsForGc(rig);
  const r = collectGarbage({ cacheDir: rig.cacheDir, artifactsDir: rig.artifactsDir, keepLast: 1 });
  assert.equal(readFileSync(join(victim, 'precious.txt'), 'utf8'), 'keep me');
  assert.deepEqual(r.invalidRuns.sort(), ['../victimdir', '../victimdir/../../x']);
  assert.equal(r.removedViews.length, 1, 'the genuine dropped run view is still removed');
  assert.deepEqual(r.failed, []);
  // Through the CLI: the bad record is named, nothing outside is touched.
  const cli = await rig.cli(['gc']);
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stderr, /run id "\.\.\/victimdir" is not a run hash/);
  assert.ok(existsSync(join(victim, 'precious.txt')));
}));

test('#11.2 cache paths are only ever named by fingerprints', () => {
  const cache = new Cache('/tmp/nowhere');
  assert.throws(() => cache.entryDir('../../etc'), /not a cache fingerprint/);
  assert.throws(() => cache.lockPath('a'.repeat(63) + '/'), /not a cache fingerprint/);
});

test('#11.8 gc on a read-only cache removes nothing and says so (no "removed N entries")', withRig(async (rig) => {
  await twoRunsForGc(rig);
  const cache = new Cache(rig.cacheDir);
  const before = cache.listEntries().length;
  const restore = readOnly(rig.cacheDir);
  let r;
  try {
    r = collectGarbage({ cacheDir: rig.cacheDir, artifactsDir: rig.artifactsDir, keepLast: 1 });
  } finally {
    restore();
  }
  assert.equal(cache.listEntries().length, before, 'nothing was removed');
  assert.deepEqual(r.removedEntries, [], 'and nothing is reported as removed');
  assert.equal(r.failed.length, 3);
  assert.match(r.failed[0]!.error, /read-only here \(EROFS\)/);
  assert.match(r.failed[0]!.error, new RegExp(rig.cacheDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
}));

test('#11 EROFS: a fully cached run on a read-only cache succeeds (reading needs no write)', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const first = await rig.run('p.yaml');
  assert.equal(first.status, 'ok');
  // A leftover temp dir of a dead process: a writable cache would clean it, a read-only one keeps it.
  mkdirSync(join(rig.cacheDir, 'tmp', 'x.999999999.dead'), { recursive: true });
  const restore = readOnly(rig.cacheDir);
  try {
    const again = await rig.run('p.yaml');
    assert.equal(again.status, 'ok', again.error?.message);
    assert.ok(again.stages.every((s) => s.status === 'cached'));
  } finally {
    restore();
  }
}));

test('#11.4 a corrupted entry over 32 MB is detected by default (CRC-32 of every file), as is an entry without CRCs (SHA-256)', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  big:\n    uses: blob\n    with: { mb: 40 }\n  after:\n    uses: join\n    needs: [big]\n');
  const first = await rig.run('p.yaml');
  const dir = first.stages[0]!.outputDir!;
  const flip = () => {
    const file = join(dir, 'blob.bin');
    const b = readFileSync(file);
    b[30 << 20] = b[30 << 20]! ^ 1; // past the old 32 MB full-check limit's reach: deep inside a 40 MiB file
    writeFileSync(file, b);
  };
  flip();
  const warnings: string[] = [];
  const second = await rig.run('p.yaml', { observer: { warn: (m) => warnings.push(m) } });
  assert.equal(second.stages[0]!.status, 'ran', 'the damaged entry is not trusted');
  assert.match(warnings.join('\n'), /blob\.bin fails its CRC-32 check/);
  assert.equal(second.stages[1]!.status, 'cached', 'recomputed bytes are identical: the dependant stays cached');

  // An entry written before manifests had CRCs falls back to SHA-256.
  const mPath = join(dir, MANIFEST);
  const m = JSON.parse(readFileSync(mPath, 'utf8'));
  for (const f of m.files) delete f.crc32;
  writeFileSync(mPath, JSON.stringify(m));
  assert.equal((await new Cache(rig.cacheDir).lookup(m.fingerprint)).state, 'hit');
  flip();
  const look = await new Cache(rig.cacheDir).lookup(m.fingerprint);
  assert.equal(look.state, 'corrupt');
  assert.match((look as { reason: string }).reason, /content hash mismatch/);
}));

test('#11.4 a stage about to read an input CRC-checks it even when its stat looks unchanged; a bad input is refused, removed, then recomputed', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  big:\n    uses: blob\n    with: { mb: 40 }\n  after:\n    uses: join\n    needs: [big]\n');
  const first = await rig.run('p.yaml');
  const big = first.stages[0]!;
  const file = join(big.outputDir!, 'blob.bin');
  const b = readFileSync(file);
  b[20 << 20] = b[20 << 20]! ^ 0x10;
  writeFileSync(file, b);
  // Damage below the filesystem (bit rot) leaves the stat as it was: pretend so by re-recording the signature.
  const sigFile = join(rig.cacheDir, 'verified', `${big.fingerprint}.json`);
  const sig = JSON.parse(readFileSync(sigFile, 'utf8'));
  const st = fs.statSync(file);
  sig['blob.bin'] = [st.size, st.mtimeMs, st.ctimeMs, st.ino];
  writeFileSync(sigFile, JSON.stringify(sig));
  const r = await rig.run('p.yaml', { overrides: ['after.sep=x'] });
  assert.equal(r.status, 'failed');
  assert.equal(r.stages[0]!.status, 'cached');
  assert.equal(r.stages[1]!.status, 'failed');
  assert.equal(r.error!.code, 'E_CACHE_CORRUPT');
  assert.match(r.error!.message, new RegExp(`input big \\(cache entry ${big.fingerprint!.slice(0, 12)}\\) is corrupt: file blob\\.bin fails its CRC-32 check`));
  assert.equal((await new Cache(rig.cacheDir).lookup(big.fingerprint!)).state, 'miss', 'the bad entry was removed');
  const again = await rig.run('p.yaml', { overrides: ['after.sep=x'] });
  assert.equal(again.status, 'ok');
  assert.deepEqual(again.stages.map((s) => s.status), ['ran', 'ran']);
}));

test('#11.9 a lock of another host is a lease: expired (no renewal) it is taken over at once', withRig(async (rig) => {
  const path = join(rig.dir, 'locks', 'x.lock');
  mkdirSync(join(rig.dir, 'locks'));
  writeFileSync(path, JSON.stringify({ pid: 12345, host: 'old' }));
  const old = new Date(Date.now() - 120_000);
  utimesSync(path, old, old);
  const lock = tryLock(path);
  assert.ok(lock, 'a lock not renewed for 2 minutes is stale, whatever host wrote it');
  assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
  lock.release();
  assert.equal(existsSync(path), false);
}));

test('#11.9 waiting names the lock file and how to clear it; a fresh foreign lock expires after its lease; holders renew theirs', withRig(async (rig) => {
  const path = join(rig.dir, 'y.lock');
  writeFileSync(path, JSON.stringify({ pid: 12345, host: 'old', time: Date.now(), token: 't', leaseMs: 400 }));
  const messages: string[] = [];
  const t0 = performance.now();
  const lock = await acquireLock(path, { pollMs: 20, onWait: (_o, m) => messages.push(m) });
  const waited = performance.now() - t0;
  assert.ok(lock);
  assert.ok(waited >= 300 && waited < 5000, `waited ${waited.toFixed(0)} ms for a 400 ms lease`);
  assert.equal(messages.length, 1);
  assert.ok(messages[0]!.includes(`waiting for lock ${path}`), messages[0]);
  assert.match(messages[0]!, /pid 12345 on host old/);
  assert.ok(messages[0]!.includes(`delete ${path}`), messages[0]);
  lock!.release();

  // A live holder with a short lease keeps it by renewing: a waiter does not take it over.
  const held = tryLock(path, 200)!;
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(tryLock(path), undefined, 'renewed every lease/4, so never stale while held');
  held.release();
}));

test('#11.9 a run stuck on a foreign lock says which file; SIGTERM ends it (exit 130) like SIGINT', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  s:\n    uses: emit\n    with: { text: hi }\n');
  // A stage's lock held by a process of another host (a dead container), renewed just now.
  const first = lastJson((await rig.cli(['run', 'p.yaml', '--json'])).stdout);
  const fp = first.stages[0].fingerprint as string;
  rmSync(join(rig.cacheDir, 'entries', fp), { recursive: true });
  const lockFile = join(rig.cacheDir, 'locks', `${fp}.lock`);
  writeFileSync(lockFile, JSON.stringify({ pid: 12345, host: 'old-container', time: Date.now(), token: 'x' }));
  const child = rig.spawn(['run', 'p.yaml']);
  const done = finished(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const t0 = Date.now();
  while (!stderr.includes('waiting for lock') && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(stderr.includes(`waiting for lock ${lockFile}`), stderr);
  assert.ok(stderr.includes(`delete ${lockFile}`), stderr);
  const killedAt = Date.now();
  child.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  assert.ok(Date.now() - killedAt < 15_000, 'SIGTERM ended the process');
}));

test('#11.9 a stage whose lock is held by another host waits with a message naming it, then takes over when the lease ends', withRig(async (rig) => {
  rig.write('p.yaml', 'stages:\n  s:\n    uses: emit\n    with: { text: hi }\n');
  const first = lastJson((await rig.cli(['run', 'p.yaml', '--json'])).stdout);
  const fp = first.stages[0].fingerprint as string;
  rmSync(join(rig.cacheDir, 'entries', fp), { recursive: true });
  const lockFile = join(rig.cacheDir, 'locks', `${fp}.lock`);
  writeFileSync(lockFile, JSON.stringify({ pid: 12345, host: 'old', time: Date.now(), token: 'x', leaseMs: 2500 }));
  const r = await rig.cli(['run', 'p.yaml', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(r.stderr.includes(`waiting for lock ${lockFile}`), r.stderr);
  assert.equal(lastJson(r.stdout).stages[0].status, 'ran');
}));

test('inspect latest (documented for RUN) describes the latest run', withRig(async (rig) => {
  rig.write('p.yaml', DEMO);
  const run = await rig.cli(['run', 'p.yaml']);
  assert.equal(run.code, 0, run.stderr);
  const r = await rig.cli(['inspect', 'latest', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const docs = JSON.parse(r.stdout) as { target: string }[];
  assert.deepEqual(docs.map((d) => d.target.split(' ')[0]), ['a', 'b', 'low', 'both']);
}));
