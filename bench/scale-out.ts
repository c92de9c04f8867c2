/**
 * Scale-out overheads on loopback (needs redis-server on PATH):
 *   - enqueue → start of a stage job (BullMQ job `timestamp` → `processedOn`), for trivial stages
 *     run one after the other through an in-process worker on a local cache dir;
 *   - MB/s through the S3 backend (s3rver): publish an entry of one big file, then read it into an
 *     empty local copy (download + hash verification + local publish).
 * Ends with `queue_enqueue_to_start_ms_median=… p90=… s3_publish_mb_per_s=… s3_fetch_mb_per_s=…`.
 *
 *   npm run bench:scale-out [-- --jobs 40 --mb 64]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Job, Queue } from 'bullmq';
import { kindRegistry } from '../src/engine/kinds.js';
import { fingerprintOf, fingerprintParts } from '../src/engine/fingerprint.js';
import { LocalBackend } from '../src/engine/remote/local-backend.js';
import { S3Backend } from '../src/engine/remote/s3-backend.js';
import { BullmqExecutor, jobIdOf } from '../src/engine/remote/bullmq-executor.js';
import { startStageWorker } from '../src/engine/remote/stage-worker.js';
import { QUEUE_NAME, connectionOf, parseRedisUrl } from '../src/engine/remote/redis.js';
import { emitKind, stageKinds } from '../test/fixtures/kinds.js';
import { startRedis, startS3 } from '../test/helpers/services.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

const nJobs = arg('jobs', 40);
const mb = arg('mb', 64);
const dir = mkdtempSync(join(tmpdir(), 'emopipe-bench-scale-'));
const redis = await startRedis();
const s3 = await startS3();
Object.assign(process.env, s3.env);
try {
  // Queue overhead.
  const worker = await startStageWorker({ queue: redis.url, kinds: kindRegistry(stageKinds), cache: new LocalBackend(join(dir, 'cache')), concurrency: 1, jobs: 1, log: () => undefined });
  const ex = await BullmqExecutor.connect(redis.url);
  const queue = new Queue(QUEUE_NAME, { connection: connectionOf(parseRedisUrl(redis.url)) });
  const waits: number[] = [];
  const rounds: number[] = [];
  for (let i = 0; i < nJobs; i++) {
    const params = { text: `t${i}`, repeat: 1, upper: false, tags: [], format: { sep: '\n', mode: 'plain', scale: 1 }, delay_ms: 0, threads: 1 };
    const parts = fingerprintParts(emitKind, params, 1, [], undefined);
    const fp = fingerprintOf(parts);
    const t0 = performance.now();
    await ex.compute({ fingerprint: fp, parts, stage: { name: `e${i}`, kind: 'emit', params, needs: [] }, seed: 1, pipelineDir: dir, dataDir: dir, inputs: [] }, {});
    rounds.push(performance.now() - t0);
    const j = await Job.fromId(queue, jobIdOf(fp));
    if (j?.processedOn && j.timestamp) waits.push(j.processedOn - j.timestamp);
  }
  await queue.close();
  await ex.close();
  await worker.close();

  // S3 throughput.
  const writer = await new S3Backend({ bucket: s3.bucket, prefix: 'bench' }, join(dir, 'w')).open();
  const fp = 'b'.repeat(64);
  const staging = writer.begin(fp);
  const buf = Buffer.alloc(mb << 20);
  for (let i = 0; i < buf.length; i += 4) buf.writeUInt32LE((i * 2654435761) >>> 0, i);
  writeFileSync(join(staging.dir, 'blob.bin'), buf);
  let t = performance.now();
  await writer.publish(staging, { stage: 'blob', kind: 'blob', seconds: 0, result: {} });
  const putS = (performance.now() - t) / 1000;
  const reader = new S3Backend({ bucket: s3.bucket, prefix: 'bench' }, join(dir, 'r'));
  t = performance.now();
  const look = await reader.lookup(fp, 'auto');
  const getS = (performance.now() - t) / 1000;
  if (look.state !== 'hit') throw new Error(`read back: ${look.state}`);
  writer.close();
  reader.close();

  console.log(`jobs=${nJobs} round_trip_ms_median=${quantile(rounds, 0.5).toFixed(1)} mb=${mb} publish_s=${putS.toFixed(2)} fetch_s=${getS.toFixed(2)}`);
  console.log(
    `queue_enqueue_to_start_ms_median=${quantile(waits, 0.5).toFixed(1)} p90=${quantile(waits, 0.9).toFixed(1)} s3_publish_mb_per_s=${(mb / putS).toFixed(1)} s3_fetch_mb_per_s=${(mb / getS).toFixed(1)}`,
  );
} finally {
  await s3.stop();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
}
