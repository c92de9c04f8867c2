/**
 * Silero VAD against our energy detector on recordings built from RAVDESS clips (speech spans
 * joined with 0.6-3 s of silence; see test/helpers/recording.ts), clean and under white and pink
 * noise. Run: `node dist/bench/vad.js [RAVDESS_DIR] [RECORDINGS] [CLIPS_PER_RECORDING]`.
 * Per detector and condition: share of clips whose segment starts and ends within ±0.3 s (one
 * segment per clip), median / 90th percentile boundary error, clips missed or split, segments with
 * no speech, frame-level F1 (10 ms), and speed.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDetector, speechSegments, type TimeSpan, type VadKind } from '../src/audio/vad.js';
import { encodeWav } from '../src/audio/wav.js';
import { openWavStream } from '../src/audio/wav-stream.js';
import { Rng } from '../src/util/rng.js';
import { sharedDir } from '../src/util/paths.js';
import { buildRecording, matchSegments } from '../test/helpers/recording.js';

const root = process.argv[2] ?? join(sharedDir(), 'data', 'ravdess');
const recordings = Number(process.argv[3] ?? 4);
const perRecording = Number(process.argv[4] ?? 12);
const all = readdirSync(root).filter((d) => d.startsWith('Actor_')).flatMap((d) => readdirSync(join(root, d)).map((f) => join(root, d, f))).sort();

const conditions: { name: string; noise?: { type: 'white' | 'pink'; snrDb: number } }[] = [
  { name: 'clean' },
  { name: 'white 20 dB', noise: { type: 'white', snrDb: 20 } },
  { name: 'white 10 dB', noise: { type: 'white', snrDb: 10 } },
  { name: 'pink 10 dB', noise: { type: 'pink', snrDb: 10 } },
  { name: 'pink 5 dB', noise: { type: 'pink', snrDb: 5 } },
];

function frameF1(truth: TimeSpan[], found: TimeSpan[], durationS: number): number {
  const n = Math.ceil(durationS / 0.01);
  const mark = (spans: TimeSpan[]) => {
    const m = new Uint8Array(n);
    for (const s of spans) for (let i = Math.floor(s.start / 0.01); i < Math.min(n, Math.ceil(s.end / 0.01)); i++) m[i] = 1;
    return m;
  };
  const t = mark(truth);
  const f = mark(found);
  let tp = 0, fp = 0, fn = 0;
  for (let i = 0; i < n; i++) { if (t[i] && f[i]) tp++; else if (f[i]) fp++; else if (t[i]) fn++; }
  return (2 * tp) / Math.max(1, 2 * tp + fp + fn);
}

const quantile = (v: number[], q: number) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN; };

const dir = mkdtempSync(join(tmpdir(), 'emopipe-vad-bench-'));
try {
  const detectors = { silero: await createDetector('silero'), energy: await createDetector('energy') } as Record<VadKind, Awaited<ReturnType<typeof createDetector>>>;
  console.log('condition | detector | within ±0.3 s | median err s | p90 err s | missed | split | false segments | frame F1 | × real time');
  for (const c of conditions) {
    const rng = new Rng(`vad-bench/${c.name}`);
    const stats: Record<string, { ok: number; errs: number[]; missed: number; split: number; falseSeg: number; f1: number[]; audio: number; wall: number; clips: number }> = {};
    for (let r = 0; r < recordings; r++) {
      const pick = new Rng(`vad-bench/clips/${r}`);
      const clips = Array.from({ length: perRecording }, () => all[pick.int(all.length)]!);
      const gaps = Array.from({ length: perRecording + 1 }, () => rng.uniform(0.6, 3));
      const rec = buildRecording({ clips, gapsS: gaps, noise: c.noise, seed: `${c.name}/${r}` });
      const file = join(dir, `rec${r}.wav`);
      writeFileSync(file, encodeWav(rec.samples, { sampleRate: rec.rate }));
      for (const kind of ['silero', 'energy'] as VadKind[]) {
        const s = (stats[kind] ??= { ok: 0, errs: [], missed: 0, split: 0, falseSeg: 0, f1: [], audio: 0, wall: 0, clips: 0 });
        const stream = openWavStream(file);
        const t0 = performance.now();
        const found = speechSegments(await detectors[kind].detect(stream));
        s.wall += (performance.now() - t0) / 1000;
        stream.close();
        s.audio += stream.info.durationS;
        const m = matchSegments(rec.truth, found);
        for (const x of m) {
          s.clips++;
          if (!x.matched) { s.missed++; continue; }
          if (x.pieces > 1) s.split++;
          if (x.pieces === 1 && x.startErr <= 0.3 && x.endErr <= 0.3) s.ok++;
          s.errs.push(x.startErr, x.endErr);
        }
        s.falseSeg += found.filter((f) => !rec.truth.some((t) => f.end > t.start && f.start < t.end)).length;
        s.f1.push(frameF1(rec.truth, found, stream.info.durationS));
      }
    }
    for (const [kind, s] of Object.entries(stats)) {
      console.log(
        `${c.name} | ${kind} | ${s.ok}/${s.clips} | ${quantile(s.errs, 0.5).toFixed(3)} | ${quantile(s.errs, 0.9).toFixed(3)} | ${s.missed} | ${s.split} | ${s.falseSeg} | ` +
          `${(s.f1.reduce((a, b) => a + b, 0) / s.f1.length).toFixed(3)} | ${Math.round(s.audio / s.wall)}`,
      );
    }
  }
  for (const d of Object.values(detectors)) await d.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
