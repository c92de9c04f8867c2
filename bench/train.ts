/**
 * bench:train — training and inference throughput of the real train-stage code path (trainModel:
 * batching, dropout masks, the ONNX step graph) on the reference architecture, batch 32, input
 * 174x40, 8 classes, synthetic features. The first epoch (session creation, warm-up) is excluded;
 * the figure is the median of the remaining epochs of 16 steps each (ORT's first runs after
 * session creation are slow for several steps: with 6-step epochs that bled into epoch 2).
 * Usage: npm run bench:train [-- --threads N --steps S --epochs E --ensemble K --profile PREFIX]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ARCHITECTURE } from '../src/model/architecture.js';
import { inferenceModel } from '../src/model/artifacts.js';
import { loadClassifier } from '../src/model/infer.js';
import { trainModel } from '../src/model/trainer.js';
import { Rng } from '../src/util/rng.js';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const threads = arg('threads', 2);
const steps = arg('steps', 16);
const epochs = arg('epochs', 4);
const B = 32;
const frames = 174;
const coeffs = 40;
const classes = 8;
const n = B * steps;

const rng = new Rng('bench-train');
const features = new Float32Array(n * frames * coeffs);
for (let i = 0; i < features.length; i++) features[i] = rng.normal() * 10;
const labels = Int32Array.from({ length: n }, () => rng.int(classes));

// CPU time of this process per wall second during training: ~threads when the cores are ours,
// lower when other work shares them (the figure is then a contended one).
const cpuStart = process.cpuUsage();
const wallStart = performance.now();
const result = await trainModel({
  features, frames, coefficients: coeffs, labels, classes,
  trainRows: Array.from({ length: n }, (_, i) => i), validationRows: [],
  architecture: DEFAULT_ARCHITECTURE, epochs, batchSize: B,
  lr: { schedule: 'constant', initial: 1e-3 },
  adam: { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 },
  rng, session: { threads },
  onEpoch: (e) => console.error(`epoch ${e.epoch}: ${(n / e.seconds).toFixed(1)} samples/s (${e.seconds.toFixed(2)} s for ${steps} steps)`),
});

const cpu = process.cpuUsage(cpuStart);
const cpuPerWall = (cpu.user + cpu.system) / 1000 / (performance.now() - wallStart);
console.error(`cpu/wall during training: ${cpuPerWall.toFixed(2)} (${threads} threads; lower means the CPU was shared)`);

/** Median of 3 timed predicts over up to 256 samples of an inference model (after a warm-up). */
async function inferenceRate(modelBytes: Uint8Array): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'emopipe-bench-'));
  try {
    const model = join(dir, 'model.onnx');
    writeFileSync(model, modelBytes);
    const clf = await loadClassifier(model, { threads });
    const m = Math.min(256, n);
    const x = features.subarray(0, m * frames * coeffs);
    await clf.predict(x, m); // warm-up
    const rates: number[] = [];
    for (let r = 0; r < 3; r++) {
      const t0 = performance.now();
      await clf.predict(x, m);
      rates.push(m / ((performance.now() - t0) / 1000));
    }
    await clf.close();
    return rates.sort((a, b) => a - b)[1]!;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const inferRate = await inferenceRate(inferenceModel(result.layout, result.best, result.normalizer));
// --ensemble K: the same for a K-checkpoint ensemble model.onnx (train.checkpoint_ensemble), as a ratio to the single model.
const members = arg('ensemble', 1);
if (members > 1) {
  const rate = await inferenceRate(inferenceModel(result.layout, Array.from({ length: members }, () => result.best), result.normalizer));
  console.error(`ensemble of ${members}: ${rate.toFixed(1)} samples/s, ${(inferRate / rate).toFixed(2)}x the single model's time per sample`);
}
console.log(
  `train_samples_per_s=${result.samplesPerSecond.toFixed(1)} infer_samples_per_s=${inferRate.toFixed(1)} ` +
    `backend=onnxruntime-node-cpu threads=${threads} batch=${B}`,
);

// --profile PREFIX: a few more steps with ORT's per-op profiler, summarised by op type.
const profIdx = process.argv.indexOf('--profile');
if (profIdx >= 0) {
  const { TrainSession } = await import('../src/model/train-session.js');
  const { summariseProfile } = await import('./lib/profile.js');
  const { fillDropoutMask } = await import('../src/model/data.js');
  const prefix = process.argv[profIdx + 1] ?? 'train-profile';
  const s = await TrainSession.create(result.layout, { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 }, result.final, { threads, profilePrefix: prefix });
  const x = features.subarray(0, B * frames * coeffs);
  const onehot = new Float32Array(B * classes).map((_, i) => (i % classes === 0 ? 1 : 0));
  const masks = result.layout.masks.map((mk) => {
    const m = new Float32Array(B * mk.shape.reduce((a, b) => a * b, 1));
    fillDropoutMask(rng, m, mk.rate);
    return m;
  });
  for (let i = 0; i < 16; i++) await s.step(B, x, onehot, masks, 1e-3);
  const sessions = (s as unknown as { sessions: Map<number, Promise<{ endProfiling(): void }>> }).sessions;
  for (const p of sessions.values()) (await p).endProfiling();
  await s.close();
  const { readdirSync } = await import('node:fs');
  const { basename, dirname, join: joinPath } = await import('node:path');
  const found = readdirSync(dirname(prefix)).filter((f) => f.startsWith(basename(prefix)) && f.endsWith('.json')).sort().pop();
  const file = found && joinPath(dirname(prefix), found);
  if (file) {
    const sum = summariseProfile(file);
    const perRun = (us: number) => (us / sum.runs / 1000).toFixed(1);
    console.error(`profile ${file}: ${sum.runs} runs, ${perRun(sum.totalMicros)} ms/step`);
    for (const t of sum.byOp.slice(0, 25)) console.error(`  ${t.op.padEnd(18)} ${perRun(t.micros).padStart(7)} ms/step  ${t.calls / sum.runs} nodes`);
  }
}
