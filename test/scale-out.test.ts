/**
 * Scale-out on real parts over loopback: the S3 cache against s3rver, and BullMQ stage workers
 * against Debian's redis-server (started on a free port, stopped after). The CLI runs as
 * child processes with the test stage kinds. Queue tests are skipped when redis-server is absent.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Queue } from 'bullmq';
import { Rig, lastJson, finished, DEMO } from './helpers/rig.js';
import { hasRedisServer, startRedis, startS3, type RedisService, type S3Service } from './helpers/services.js';
import { S3Backend } from '../src/engine/remote/s3-backend.js';
import { BullmqExecutor, jobIdOf } from '../src/engine/remote/bullmq-executor.js';
import { QUEUE_NAME, parseRedisUrl, connectionOf } from '../src/engine/remote/redis.js';
import { EmopipeError } from '../src/util/errors.js';

let s3: S3Service;

before(async () => {
  s3 = await startS3();
  // This process's own S3 client (assertions on the bucket) takes the same credentials.
  Object.assign(process.env, s3.env);
});
after(async () => {
  await s3?.stop();
});

/** Each test's cache is its own prefix of the bucket (the rig's name), e.g. team/emopipe-test-XXXX. */
const prefixOf = (rig: Rig) => `team/${basename(rig.dir)}`;

/** CLI environment for the S3 cache, with its own local read-through copy. */
function s3env(rig: Rig, local: string, extra: Record<string, string> = {}): Record<string, string> {
  return { ...s3.env, EMOPIPE_CACHE: `s3://${s3.bucket}/${prefixOf(rig)}`, EMOPIPE_LOCAL_CACHE: join(rig.dir, local), ...extra };
}

function client(): S3Client {
  return new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
}

async function remoteEntries(rig: Rig): Promise<string[]> {
  const b = new S3Backend({ bucket: s3.bucket, prefix: prefixOf(rig) }, join(rig.dir, 'unused'));
  try {
    return await b.list();
  } finally {
    b.close();
  }
}

const statuses = (doc: { stages: { name: string; status: string }[] }) => Object.fromEntries(doc.stages.map((s) => [s.name, s.status]));

describe('S3 cache (s3rver on loopback)', () => {
  test('publish, a fresh local copy served from S3, a corrupted object detected and recomputed, gc --dry-run and gc', { timeout: 120_000 }, async () => {
    const rig = new Rig();
    try {
      rig.write('p.yaml', DEMO);
      const first = await rig.cli(['run', 'p.yaml', '--json'], s3env(rig, 'local1'));
      assert.equal(first.code, 0, first.stderr);
      const doc = lastJson(first.stdout);
      assert.deepEqual(statuses(doc), { a: 'ran', b: 'ran', low: 'ran', both: 'ran' });
      assert.ok(doc.stages.every((s: { worker: unknown }) => s.worker === null), 'in-process stages have worker null');
      assert.deepEqual((await remoteEntries(rig)).sort(), doc.stages.map((s: { fingerprint: string }) => s.fingerprint).sort(), 'every entry is in the bucket');

      // Another machine (an empty local copy): every stage a hit, downloaded and verified.
      rig.resetCounts();
      const second = await rig.cli(['run', 'p.yaml', '--json'], s3env(rig, 'local2'));
      assert.equal(second.code, 0, second.stderr);
      assert.deepEqual(statuses(lastJson(second.stdout)), { a: 'cached', b: 'cached', low: 'cached', both: 'cached' });
      assert.deepEqual(rig.counts(), {}, 'nothing recomputed');
      const low = doc.stages.find((s: { name: string }) => s.name === 'low');
      assert.ok(lastJson(second.stdout).stages.find((s: { name: string }) => s.name === 'low').outputDir.startsWith(join(rig.dir, 'local2')), 'served from the new local copy');
      assert.equal(readFileSync(join(lastJson(second.stdout).stages.find((s: { name: string }) => s.name === 'low').outputDir, 'text.txt'), 'utf8'), readFileSync(join(low.outputDir, 'text.txt'), 'utf8'));

      // Damage the object holding low's text.txt (same size, other bytes): detected, recomputed.
      const c = client();
      const manifest = JSON.parse(await (await c.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${prefixOf(rig)}/entries/${low.fingerprint}.json` }))).Body!.transformToString());
      const file = manifest.files.find((f: { path: string }) => f.path === 'text.txt');
      await c.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${prefixOf(rig)}/blobs/${file.sha256}`, Body: Buffer.alloc(file.size, 0x58) }));
      c.destroy();
      const third = await rig.cli(['run', 'p.yaml', '--json'], s3env(rig, 'local3'));
      assert.equal(third.code, 0, third.stderr);
      assert.match(third.stderr, /corrupt \(object .*blobs\/[0-9a-f]{64} \(file text\.txt\) content hash mismatch\); recomputing/);
      assert.deepEqual(statuses(lastJson(third.stdout)), { a: 'cached', b: 'cached', low: 'ran', both: 'cached' });
      assert.deepEqual(rig.counts(), { low: 1 });

      // Every entry now verifies from an empty copy again (full re-hash of what was downloaded).
      const fourth = await rig.cli(['run', 'p.yaml', '--json', '--verify-cache'], s3env(rig, 'local4'));
      assert.equal(fourth.code, 0, fourth.stderr);
      assert.deepEqual(statuses(lastJson(fourth.stdout)), { a: 'cached', b: 'cached', low: 'cached', both: 'cached' });

      // No credential in anything the run recorded.
      for (const f of readdirSync(rig.artifactsDir)) {
        const p = join(rig.artifactsDir, f);
        if (f.endsWith('.json') && existsSync(p)) assert.doesNotMatch(readFileSync(p, 'utf8'), /S3RVER/);
      }

      const dry = await rig.cli(['gc', '--keep-last', '0', '--dry-run'], s3env(rig, 'local4'));
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`s3://${s3.bucket}/${prefixOf(rig)}.*: would remove 4 entries`));
      assert.equal((await remoteEntries(rig)).length, 4, 'dry run removes nothing');
      const gc = await rig.cli(['gc', '--keep-last', '0'], s3env(rig, 'local4'));
      assert.equal(gc.code, 0, gc.stderr);
      assert.match(gc.stdout, /: removed 4 entries/);
      assert.deepEqual(await remoteEntries(rig), []);
    } finally {
      rig.cleanup();
    }
  });

  test('two writers of one fingerprint at once: both publish, a reader verifies one whole entry', { timeout: 60_000 }, async () => {
    const rig = new Rig();
    const backends = ['x', 'y', 'reader'].map((l) => new S3Backend({ bucket: s3.bucket, prefix: prefixOf(rig) }, join(rig.dir, l)));
    try {
      const fp = 'c'.repeat(64);
      // Different bytes under one key (a stage that is not bit-reproducible): either may win, never a mix.
      const published = await Promise.all(
        backends.slice(0, 2).map((b, i) => {
          const st = b.begin(fp);
          writeFileSync(join(st.dir, 'a.txt'), `writer ${i}\n`.repeat(1000));
          writeFileSync(join(st.dir, 'b.txt'), `writer ${i} b`);
          return b.publish(st, { stage: 's', kind: 'k', seconds: 0, result: {} });
        }),
      );
      const look = await backends[2]!.lookup(fp, 'full');
      assert.equal(look.state, 'hit');
      if (look.state !== 'hit') return;
      assert.ok(published.some((p) => p.manifest.contentHash === look.manifest.contentHash), 'the entry read is one writer\'s whole entry');
      const a = readFileSync(join(look.dir, 'a.txt'), 'utf8');
      const b = readFileSync(join(look.dir, 'b.txt'), 'utf8');
      assert.equal(a.slice(0, 8), b.slice(0, 8), 'both files from the same writer');
      assert.deepEqual(await remoteEntries(rig), [fp]);
    } finally {
      for (const b of backends) b.close();
      rig.cleanup();
    }
  });

  test('a missing bucket, rejected credentials and an unreachable endpoint are named errors (exit 1, no stack, no secret)', { timeout: 60_000 }, async () => {
    const rig = new Rig();
    try {
      rig.write('p.yaml', DEMO);
      const cases: [Record<string, string>, RegExp][] = [
        [{ EMOPIPE_CACHE: 's3://no-such-bucket/x' }, /S3 bucket 'no-such-bucket' does not exist/],
        [{ AWS_ACCESS_KEY_ID: 'WRONGKEY', AWS_SECRET_ACCESS_KEY: 'TOPSECRET' }, /S3 credentials rejected for bucket/],
        [{ AWS_ENDPOINT_URL: 'http://127.0.0.1:9' }, /cannot reach the S3 endpoint .*127\.0\.0\.1:9/],
      ];
      for (const [extra, message] of cases) {
        const r = await rig.cli(['run', 'p.yaml'], s3env(rig, 'local', extra));
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, message);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.doesNotMatch(r.stderr, /TOPSECRET|S3RVER/, 'credentials never printed');
      }
    } finally {
      rig.cleanup();
    }
  });
});

const redisMissing = hasRedisServer() ? false : 'redis-server is not installed (apt-get install redis-server; .ci/run does it)';

describe('BullMQ stage workers (redis-server on loopback)', { skip: redisMissing }, () => {
  let redis: RedisService;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis?.stop();
  });

  /** Start `emopipe worker`; resolves once it waits for jobs. */
  async function startWorker(rig: Rig, local: string, stallSeconds = 10): Promise<{ child: ChildProcess; id: string; log: () => string; done: ReturnType<typeof finished> }> {
    const child = rig.spawn(['worker', '--queue', redis.url, '--stall-seconds', String(stallSeconds)], s3env(rig, local));
    const done = finished(child);
    let log = '';
    child.stderr!.on('data', (d) => (log += d));
    const id = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`worker did not start: ${log}`)), 30_000);
      const check = () => {
        const m = /worker (\S+): waiting for jobs/.exec(log);
        if (m) {
          clearTimeout(t);
          res(m[1]!);
        }
      };
      child.stderr!.on('data', check);
      child.once('exit', () => rej(new Error(`worker exited: ${log}`)));
    });
    return { child, id, log: () => log, done };
  }

  async function stopWorker(w: { child: ChildProcess; done: Promise<{ code: number | null }> }): Promise<number | null> {
    if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    return (await w.done).code;
  }

  test('two workers share the stages (--json worker), a user error is not retried and reaches the coordinator, SIGTERM exits 0', { timeout: 120_000 }, async () => {
    const rig = new Rig();
    const w1 = await startWorker(rig, 'w1');
    const w2 = await startWorker(rig, 'w2');
    try {
      // a sleeps, so b (independent) is taken by the other worker meanwhile.
      rig.write('p.yaml', DEMO.replace('repeat: 2', 'repeat: 2\n      delay_ms: 1500'));
      const r = await rig.cli(['run', 'p.yaml', '--queue', redis.url, '--json'], s3env(rig, 'coord'));
      assert.equal(r.code, 0, r.stderr);
      const doc = lastJson(r.stdout);
      assert.deepEqual(statuses(doc), { a: 'ran', b: 'ran', low: 'ran', both: 'ran' });
      const workers = new Set(doc.stages.map((s: { worker: string }) => s.worker));
      assert.deepEqual([...workers].sort(), [w1.id, w2.id].sort(), 'stages ran on both workers');
      assert.match(w1.id, /^.+:\d+$/);
      const pids = new Set(readFileSync(rig.counterFile, 'utf8').trim().split('\n').map((l) => Number(l.split(' ')[1])));
      assert.deepEqual([...pids].sort(), [w1.child.pid, w2.child.pid].sort(), 'computed in the worker processes, not the coordinator');
      assert.equal(w1.log().split('\n').filter((l) => / ran in /.test(l)).length + w2.log().split('\n').filter((l) => / ran in /.test(l)).length, 4, 'one line per job');

      const again = await rig.cli(['run', 'p.yaml', '--queue', redis.url, '--json'], s3env(rig, 'coord2'));
      assert.equal(again.code, 0, again.stderr);
      assert.ok(lastJson(again.stdout).stages.every((s: { status: string; worker: unknown }) => s.status === 'cached' && s.worker === null));

      rig.resetCounts();
      const bad = await rig.cli(['run', 'p.yaml', '--queue', redis.url, '--json', '--set', 'both.fail=true'], s3env(rig, 'coord'));
      assert.equal(bad.code, 1, bad.stderr);
      assert.match(bad.stderr, /stage both failed: .*input\.txt: asked to fail/);
      assert.doesNotMatch(bad.stderr, /\n\s+at /);
      assert.deepEqual(rig.counts(), { both: 1 }, 'a user error is not retried');
      assert.match(w1.log() + w2.log(), /both [0-9a-f]{12} failed in .*asked to fail/);
    } finally {
      assert.equal(await stopWorker(w1), 0, w1.log());
      assert.equal(await stopWorker(w2), 0, w2.log());
      assert.match(w1.log(), /SIGTERM: finishing the current job/);
      rig.cleanup();
    }
  });

  test('matrix instances run on different workers at once', { timeout: 60_000 }, async (t) => {
    const rig = new Rig();
    const w1 = await startWorker(rig, 'w1');
    const w2 = await startWorker(rig, 'w2');
    try {
      rig.write('m.yaml', 'name: m\nstages:\n  a:\n    uses: emit\n    matrix: { fold: [1, 2] }\n    with: { text: "fold ${matrix.fold}", delay_ms: 2000 }\n');
      const r = await rig.cli(['run', 'm.yaml', '--queue', redis.url, '--json'], s3env(rig, 'coord'));
      assert.equal(r.code, 0, r.stderr);
      const doc = lastJson(r.stdout);
      assert.deepEqual(doc.stages.map((s: { name: string }) => s.name), ['a@fold=1', 'a@fold=2']);
      assert.deepEqual(doc.stages.map((s: { worker: string }) => s.worker).sort(), [w1.id, w2.id].sort(), 'one instance per worker');
      t.diagnostic(`two 2-s instances on two workers: ${(r.ms / 1000).toFixed(1)} s wall`);
    } finally {
      assert.equal(await stopWorker(w1), 0);
      assert.equal(await stopWorker(w2), 0);
      rig.cleanup();
    }
  });

  test('SIGTERM mid-job: the worker finishes its job, publishes, then exits 0', { timeout: 60_000 }, async () => {
    const rig = new Rig();
    rig.write('p.yaml', 'name: t\nstages:\n  s:\n    uses: slow\n    with: { steps: 20, step_ms: 100 }\n');
    const w = await startWorker(rig, 'w');
    try {
      const coord = rig.spawn(['run', 'p.yaml', '--queue', redis.url, '--json'], s3env(rig, 'coord'));
      const done = finished(coord);
      for (let i = 0; i < 300 && !rig.counts().s; i++) await new Promise((r) => setTimeout(r, 50));
      w.child.kill('SIGTERM');
      assert.equal((await w.done).code, 0, w.log());
      assert.match(w.log(), /s [0-9a-f]{12} ran in [0-9.]+ s[\s\S]*stopped/, 'the job finished before the worker stopped');
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(lastJson(r.stdout).stages[0].worker, w.id);
      assert.equal(rig.counts().s, 1);
    } finally {
      rig.cleanup();
    }
  });

  test('two coordinators asking for the same stage share one job', { timeout: 60_000 }, async () => {
    const rig = new Rig();
    rig.write('p.yaml', 'name: d\nstages:\n  s:\n    uses: slow\n    with: { steps: 15, step_ms: 100 }\n');
    const w = await startWorker(rig, 'w');
    try {
      const [r1, r2] = await Promise.all(['c1', 'c2'].map((local) => rig.cli(['run', 'p.yaml', '--queue', redis.url, '--json'], s3env(rig, local))));
      for (const r of [r1!, r2!]) {
        assert.equal(r.code, 0, r.stderr);
        const st = lastJson(r.stdout).stages[0];
        assert.ok(st.status === 'ran' || st.status === 'cached', st.status);
      }
      assert.equal(rig.counts().s, 1, 'computed once');
      assert.equal(w.log().split('\n').filter((l) => / s [0-9a-f]{12} (ran|cached) in /.test(l)).length, 1, `one job for both: ${w.log()}`);
    } finally {
      assert.equal(await stopWorker(w), 0);
      rig.cleanup();
    }
  });

  test('a job for another implementation version is refused by name', { timeout: 60_000 }, async () => {
    const rig = new Rig();
    const w = await startWorker(rig, 'w');
    const ex = await BullmqExecutor.connect(redis.url);
    try {
      const fp = 'e'.repeat(64);
      const job = {
        fingerprint: fp,
        parts: { kind: 'emit', version: '0'.repeat(64), params: {}, inputs: [] },
        stage: { name: 'a', kind: 'emit', params: {}, needs: [] },
        seed: 1,
        pipelineDir: rig.dir,
        dataDir: rig.dir,
        inputs: [],
      };
      await assert.rejects(ex.compute(job, {}), (e: unknown) => {
        assert.ok(e instanceof EmopipeError);
        assert.match(e.message, new RegExp(`worker ${w.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} refuses stage a: its 'emit' implementation is version [0-9a-f]{12}, the job needs 000000000000`));
        return true;
      });
      assert.deepEqual(rig.counts(), {});
    } finally {
      await ex.close();
      assert.equal(await stopWorker(w), 0);
      rig.cleanup();
    }
  });

  test('kill -9 of a worker mid-stage: nothing published, the job is retried on another worker, every entry verifies', { timeout: 120_000 }, async () => {
    const rig = new Rig();
    rig.write('p.yaml', 'name: k\nstages:\n  s:\n    uses: slow\n    with: { steps: 30, step_ms: 100 }\n');
    const w1 = await startWorker(rig, 'w1', 2);
    let w2: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const coord = rig.spawn(['run', 'p.yaml', '--queue', redis.url, '--json'], s3env(rig, 'coord'));
      const done = finished(coord);
      for (let i = 0; i < 300 && !rig.counts().s; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(rig.counts().s, 1, 'worker 1 started the stage');
      await new Promise((r) => setTimeout(r, 600));
      w1.child.kill('SIGKILL');
      await w1.done;
      const atKill = await remoteEntries(rig);
      w2 = await startWorker(rig, 'w2', 2);
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
      const doc = lastJson(r.stdout);
      assert.equal(doc.stages[0].status, 'ran');
      assert.equal(doc.stages[0].worker, w2.id, 'finished by the second worker');
      assert.ok(!atKill.includes(doc.stages[0].fingerprint), 'the killed worker published nothing');
      assert.equal(rig.counts().s, 2, 'computed twice: once killed, once retried');
      assert.match(r.stderr, /sleeping/, 'the remote stage’s progress reached the coordinator');
      const lines = readFileSync(join(doc.stages[0].outputDir, 'text.txt'), 'utf8').trim().split('\n');
      assert.equal(lines.length, 30);
      const check = await rig.cli(['run', 'p.yaml', '--json', '--verify-cache'], s3env(rig, 'fresh'));
      assert.equal(check.code, 0, check.stderr);
      assert.equal(lastJson(check.stdout).stages[0].status, 'cached', 'the entry verifies from an empty local copy');
    } finally {
      if (w2) assert.equal(await stopWorker(w2), 0);
      rig.cleanup();
    }
  });

  test('Ctrl-C on the coordinator cancels its queued jobs; an unreachable queue is a named error', { timeout: 60_000 }, async () => {
    const rig = new Rig();
    const queue = new Queue(QUEUE_NAME, { connection: connectionOf(parseRedisUrl(redis.url)) });
    try {
      rig.write('p.yaml', 'name: c\nstages:\n  s:\n    uses: slow\n    with: { steps: 7, step_ms: 10 }\n');
      const coord = rig.spawn(['run', 'p.yaml', '--queue', redis.url], s3env(rig, 'coord'));
      const done = finished(coord);
      let waiting = 0;
      for (let i = 0; i < 200 && waiting === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        waiting = await queue.getWaitingCount();
      }
      assert.equal(waiting, 1, 'the stage is queued (no worker running)');
      const [job] = await queue.getWaiting();
      coord.kill('SIGINT');
      const r = await done;
      assert.equal(r.code, 130, r.stderr);
      assert.equal(await queue.getWaitingCount(), 0, 'its queued job was removed');
      assert.equal(await queue.getJob(job!.id!), undefined);
      assert.match(job!.id!, /^fp-[0-9a-f]{64}$/);
      assert.equal(job!.id, jobIdOf((job!.data as { fingerprint: string }).fingerprint), 'job id from the fingerprint');

      const down = await rig.cli(['run', 'p.yaml', '--queue', 'redis://127.0.0.1:9'], s3env(rig, 'coord'));
      assert.equal(down.code, 1, down.stderr);
      assert.match(down.stderr, /cannot reach the queue at redis:\/\/127\.0\.0\.1:9/);
    } finally {
      await queue.close();
      rig.cleanup();
    }
  });
});
