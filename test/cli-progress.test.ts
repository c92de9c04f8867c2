import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressView } from '../src/cli/progress.js';
import type { StageOutcome } from '../src/engine/run.js';

function fakeStream() {
  const chunks: string[] = [];
  return { chunks, stream: { write: (s: string) => (chunks.push(s), true), columns: 80 } as unknown as NodeJS.WriteStream };
}

function outcome(name: string, status: StageOutcome['status'], seconds = 1.5): StageOutcome {
  return { name, kind: 'k', fingerprint: 'abcdef0123456789'.repeat(4), contentHash: null, status, seconds, outputDir: null, params: {}, parts: null, result: {} };
}

test('non-TTY: status lines, and progress every 10 % (at most once a second) or 5 s, with ETA', () => {
  const { chunks, stream } = fakeStream();
  let now = 0;
  const view = new ProgressView(stream, false, () => now);
  view.stageStarted('mfcc', 'mfcc', 'abcdef0123456789'.repeat(4));
  const p = view.progress('mfcc');
  p.start(100, 'files', 'features');
  for (let i = 0; i < 100; i++) {
    now += 100;
    p.tick(1, { rate: 10 });
  }
  p.done();
  view.stageFinished(outcome('mfcc', 'ran', 10));
  view.stageFinished(outcome('ingest', 'cached'));
  const lines = chunks.join('').trim().split('\n');
  assert.equal(lines[0], '▶ mfcc  running  abcdef01');
  const progress = lines.filter((l) => l.startsWith('  mfcc  features'));
  assert.ok(progress.length >= 9 && progress.length <= 11, `${progress.length} progress lines`);
  assert.equal(progress.at(-1), '  mfcc  features 100/100 files (100%)  rate=10');
  assert.equal(progress[0], '  mfcc  features 10/100 files (10%)  rate=10  ETA 9.0s');
  assert.equal(lines.at(-2), '✔ mfcc  ran 10s  abcdef01');
  assert.equal(lines.at(-1), '• ingest  cached  abcdef01');
});

test('non-TTY: a slow phase still reports every 5 s', () => {
  const { chunks, stream } = fakeStream();
  let now = 0;
  const view = new ProgressView(stream, false, () => now);
  view.stageStarted('train', 'train', 'f'.repeat(64));
  const p = view.progress('train');
  p.start(1000, 'batches');
  for (let i = 0; i < 20; i++) {
    now += 1000;
    p.tick(1);
  }
  const progress = chunks.join('').split('\n').filter((l) => l.startsWith('  train'));
  assert.equal(progress.length, 4, 'one line per 5 s over 20 s');
});

test('non-TTY: a fast phase prints no progress lines at all', () => {
  const { chunks, stream } = fakeStream();
  let now = 0;
  const view = new ProgressView(stream, false, () => now);
  view.stageStarted('split', 'split', 'f'.repeat(64));
  const p = view.progress('split');
  p.start(50, 'clips');
  for (let i = 0; i < 50; i++) {
    now += 5;
    p.tick(1);
  }
  p.done();
  assert.equal(chunks.join(''), '▶ split  running  ffffffff\n');
});

test('TTY: a live bar is drawn and cleared, status lines stay', async () => {
  const { chunks, stream } = fakeStream();
  const view = new ProgressView(stream, true);
  view.stageStarted('train', 'train', 'f'.repeat(64));
  const p = view.progress('train');
  p.start(10, 'epochs', 'epoch 1/10');
  p.tick(3, { loss: 0.53 });
  await new Promise((r) => setTimeout(r, 250));
  view.stageFinished(outcome('train', 'ran', 3));
  const all = chunks.join('');
  assert.match(all, /train █+░+ epoch 1\/10 3\/10 epochs \(30%\) {2}loss=0\.53/);
  assert.match(all, /\x1b\[1A\x1b\[J/, 'bars are erased before redraw');
  assert.match(all, /✔ train {2}ran 3\.0s {2}abcdef01\n$/);
});
