/**
 * The demo pipeline (small settings) through two `emopipe worker` processes sharing an S3
 * cache (s3rver) and a queue (redis-server), then a rerun on "another machine" (an empty
 * local copy, no queue) served entirely from S3. Skipped when redis-server is absent.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rig, lastJson, finished } from './helpers/rig.js';
import { hasRedisServer, startRedis, startS3, type RedisService, type S3Service } from './helpers/services.js';
import { packageRoot } from '../src/util/paths.js';

const demo = join(packageRoot(), 'pipelines', 'demo.yaml');
// As in demo-e2e: 4 speakers x 8 classes x 3 clips, 2 epochs.
const small = ['ingest.synth.clips_per_class=3', 'ingest.synth.speakers=4', 'split.validation=["s03"]', 'split.test=["s04"]', 'train.epochs=2'].flatMap((s) => ['--set', s]);
const skip = hasRedisServer() ? false : 'redis-server is not installed (apt-get install redis-server; .ci/run does it)';

let s3: S3Service;
let redis: RedisService;
before(async () => {
  if (skip) return;
  s3 = await startS3();
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
  await s3?.stop();
});

test('demo pipeline on two workers with a shared S3 cache; a rerun with an empty local cache is served from S3', { skip, timeout: 600_000 }, async (t) => {
  const rig = new Rig();
  const env = (local: string) => ({ ...s3.env, EMOPIPE_CACHE: `s3://${s3.bucket}/demo`, EMOPIPE_LOCAL_CACHE: join(rig.dir, local) });
  const workers = ['w1', 'w2'].map((local) => {
    const child = rig.spawn(['worker', '--queue', redis.url, '--jobs', '1'], env(local));
    return { child, done: finished(child) };
  });
  try {
    const first = await rig.cli(['run', demo, ...small, '--queue', redis.url, '--json'], env('coord'));
    assert.equal(first.code, 0, first.stderr);
    const doc = lastJson(first.stdout);
    assert.ok(doc.stages.every((s: { status: string }) => s.status === 'ran'), first.stderr);
    const used = new Set(doc.stages.map((s: { worker: string | null }) => s.worker));
    assert.ok(!used.has(null), 'every stage ran on a worker');
    assert.equal(used.size, 2, `stages on both workers: ${[...used].join(', ')}`);
    assert.deepEqual([...used].map((w) => Number(String(w).split(':').pop())).sort(), workers.map((w) => w.child.pid).sort());
    assert.match(first.stderr, /train/);
    t.diagnostic(`two workers: ${(first.ms / 1000).toFixed(1)} s: ${doc.stages.map((s: { name: string; worker: string; seconds: number }) => `${s.name}@${s.worker.split(':').pop()} ${s.seconds.toFixed(1)}s`).join(', ')}`);

    const second = await rig.cli(['run', demo, ...small, '--json'], env('laptop'));
    assert.equal(second.code, 0, second.stderr);
    const again = lastJson(second.stdout);
    assert.ok(again.stages.every((s: { status: string; worker: unknown }) => s.status === 'cached' && s.worker === null), 'fully served from S3');
    assert.equal(again.run, doc.run);
    const evalDir = again.stages.find((s: { name: string }) => s.name === 'evaluate').outputDir as string;
    assert.ok(evalDir.startsWith(join(rig.dir, 'laptop')), 'downloaded into the new local copy');
    assert.deepEqual(JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8')), JSON.parse(readFileSync(join(doc.stages.find((s: { name: string }) => s.name === 'evaluate').outputDir, 'metrics.json'), 'utf8')));
    t.diagnostic(`rerun from S3 with an empty local cache: ${(second.ms / 1000).toFixed(1)} s`);
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    for (const w of workers) assert.equal((await w.done).code, 0);
    rig.cleanup();
  }
});
