/**
 * Feature front-end benchmark: decode + resample to 22050 Hz + 40 MFCCs + pad to 174 frames over
 * every WAV under a corpus directory, on worker threads.
 *
 *   npm run bench:features [-- CORPUS_DIR] [--jobs N] [--caller-thread]   (default ../shared/data/ravdess)
 *
 * --caller-thread: the main thread works too, with jobs-1 workers (one worker's warm-up less).
 *
 * cpu_s is process.cpuUsage() (user + system of every thread of the process: main and workers,
 * including worker start-up). The per-phase split is CPU time measured on each worker's own thread.
 * Last line: audio_s=<n> cpu_s=<n> wall_s=<n> realtime_per_cpu_s=<n>
 */
import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { runPool } from '../src/util/pool.js';
import { sharedDir } from '../src/util/paths.js';
import { threadCpuNs, threadCpuSource } from '../src/util/thread-cpu.js';
import type { FeatureResult, FeatureTask } from '../src/audio/features-worker.js';

function parseArgs(argv: string[]): { dir: string; jobs: number; callerThread: boolean } {
  let dir = join(sharedDir(), 'data', 'ravdess');
  let jobs = availableParallelism();
  let callerThread = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--jobs' || a === '-j') jobs = Number(argv[++i]);
    else if (a.startsWith('--jobs=')) jobs = Number(a.slice(7));
    else if (a === '--caller-thread') callerThread = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench:features [-- CORPUS_DIR] [--jobs N] [--caller-thread]');
      process.exit(0);
    } else dir = resolve(a);
  }
  if (!Number.isInteger(jobs) || jobs < 1) {
    console.error(`bench:features: --jobs must be a positive integer`);
    process.exit(2);
  }
  return { dir, jobs, callerThread };
}

function findWavs(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...findWavs(p));
    else if (e.isFile() && e.name.toLowerCase().endsWith('.wav')) out.push(p);
  }
  return out.sort();
}

async function main(): Promise<void> {
  const { dir, jobs, callerThread } = parseArgs(process.argv.slice(2));
  let files: string[];
  try {
    files = findWavs(dir);
  } catch (e) {
    console.error(`bench:features: cannot read corpus directory ${dir}: ${(e as Error).message}`);
    process.exit(2);
  }
  if (files.length === 0) {
    console.error(`bench:features: no .wav files under ${dir}`);
    process.exit(2);
  }
  const tasks: FeatureTask[] = files.map((path) => ({ path, sampleRate: 22050, mfcc: { nMfcc: 40, frames: 174 } }));
  const threads = jobs === 1 ? 'this thread only' : callerThread ? `${jobs - 1} worker thread${jobs > 2 ? 's' : ''} + this thread` : `${jobs} worker threads`;
  console.log(`corpus: ${dir} (${files.length} files), jobs: ${jobs} (${threads})`);

  const cpu0 = process.cpuUsage();
  const main0 = threadCpuNs();
  const t0 = performance.now();
  const results = await runPool<FeatureTask, FeatureResult>({
    module: new URL('../src/audio/features-worker.js', import.meta.url),
    fn: 'extractFeatures',
    tasks,
    jobs,
    useCallingThread: callerThread,
  });
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const mainS = (threadCpuNs() - main0) / 1e9;
  const cpuS = (cpu.user + cpu.system) / 1e6;

  let audioS = 0;
  const phase = { decode: 0, resample: 0, mfcc: 0 };
  const failures: string[] = [];
  results.forEach((r, i) => {
    if (!r.ok) {
      failures.push(`${files[i]}: ${r.error}`);
      return;
    }
    audioS += r.value.durationS;
    phase.decode += r.value.cpuNs.decode / 1e9;
    phase.resample += r.value.cpuNs.resample / 1e9;
    phase.mfcc += r.value.cpuNs.mfcc / 1e9;
  });
  for (const f of failures) console.log(`failed: ${f}`);
  const inPhases = phase.decode + phase.resample + phase.mfcc;
  const pct = (x: number) => `${((100 * x) / cpuS).toFixed(1)}%`;
  console.log(`files: ${results.length - failures.length} ok, ${failures.length} failed`);
  console.log(`per-phase CPU, summed over the threads that ran tasks (${threadCpuSource()}):`);
  for (const [name, s] of Object.entries(phase)) {
    console.log(`  ${name.padEnd(8)} ${s.toFixed(3)} s  ${pct(s)}  ${(audioS / s).toFixed(0)}x real time`);
  }
  const otherS = cpuS - inPhases - (jobs > 1 && !callerThread ? mainS : 0);
  if (jobs > 1 && !callerThread) console.log(`  main     ${mainS.toFixed(3)} s  ${pct(mainS)}  (main thread: dispatch, receiving results)`);
  console.log(`  other    ${otherS.toFixed(3)} s  ${pct(otherS)}  (worker start-up, V8 compiler and GC threads)`);
  console.log(`cpu/wall: ${(cpuS / wallS).toFixed(2)} cores busy on average`);
  console.log(
    `audio_s=${audioS.toFixed(1)} cpu_s=${cpuS.toFixed(3)} wall_s=${wallS.toFixed(3)} realtime_per_cpu_s=${(audioS / cpuS).toFixed(1)}`,
  );
  if (failures.length === results.length) process.exitCode = 1;
}

await main();
