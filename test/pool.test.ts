import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPool, transferListOf, type PoolTaskError } from '../src/util/pool.js';

/** Task functions as an ES module in a data: URL, so the worker imports them like any module file. */
const TASKS = 'data:text/javascript,' + encodeURIComponent(`
import { threadId } from 'node:worker_threads';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export async function square(i) {
  await sleep(i === 0 ? 400 : 1); // task 0 finishes last
  const arr = new Float32Array(1000).fill(i);
  return { i, sq: i * i, arr, threadId };
}
export function flaky(i) {
  if (i === 3) { const e = new Error('bad file 3.wav'); e.code = 'E_WAV_INVALID'; throw e; }
  if (i === 5) process.exit(7);
  if (i === 7) throw 'a string';
  return i * 10;
}
export async function nap(i) { await sleep(25); return { sq: i * i, threadId }; }
export async function slow() { await sleep(20000); return 1; }
`);

test('results come back in task order, typed arrays intact, work spread over threads', async () => {
  const tasks = Array.from({ length: 20 }, (_, i) => i);
  const seen: number[] = [];
  const res = await runPool<number, { i: number; sq: number; arr: Float32Array; threadId: number }>({
    module: TASKS, fn: 'square', tasks, jobs: 2, onResult: (i, r, e) => { assert.equal(e, undefined); assert.equal(r?.i, i); seen.push(i); },
  });
  assert.equal(res.length, 20);
  res.forEach((r, i) => {
    assert.ok(r.ok);
    assert.equal(r.value.sq, i * i);
    assert.ok(r.value.arr instanceof Float32Array);
    assert.equal(r.value.arr.length, 1000);
    assert.ok(r.value.arr.every((v) => v === i));
  });
  assert.deepEqual([...seen].sort((a, b) => a - b), tasks);
  assert.notDeepEqual(seen, tasks, 'completion order differs from task order here');
  const threads = new Set(res.map((r) => (r.ok ? r.value.threadId : -1)));
  assert.equal(threads.size, 2, 'two worker threads shared the work');
  assert.ok(!threads.has(0), 'nothing ran on the main thread');
});

test('a failing task is reported without stopping the others, even when it kills its worker', async () => {
  const errors = new Map<number, PoolTaskError>();
  const tasks = Array.from({ length: 10 }, (_, i) => i);
  const res = await runPool<number, number>({
    module: TASKS, fn: 'flaky', tasks, jobs: 2, onResult: (i, _r, e) => { if (e) errors.set(i, e); },
  });
  for (const [i, r] of res.entries()) {
    if (i === 3) {
      assert.deepEqual(r, { ok: false, error: 'bad file 3.wav', code: 'E_WAV_INVALID' });
      assert.equal(errors.get(3)?.code, 'E_WAV_INVALID');
    } else if (i === 5) {
      assert.ok(!r.ok && /worker thread died while running task 5: exit code 7/.test(r.error), JSON.stringify(r));
    } else if (i === 7) {
      assert.deepEqual(r, { ok: false, error: 'a string' });
    } else {
      assert.deepEqual(r, { ok: true, value: i * 10 });
    }
  }
  assert.deepEqual([...errors.keys()].sort(), [3, 5, 7]);
});

test('a missing export fails every task with a message that says so', async () => {
  for (const jobs of [1, 2]) {
    const res = await runPool({ module: TASKS, fn: 'nope', tasks: [1, 2, 3], jobs });
    assert.equal(res.length, 3);
    for (const r of res) assert.ok(!r.ok && /does not export a function named "nope"/.test(r.error), JSON.stringify(r));
  }
});

test('jobs=1 runs in this thread with the same results', async () => {
  const res = await runPool<number, { sq: number; threadId: number }>({ module: TASKS, fn: 'square', tasks: [1, 2, 3], jobs: 1 });
  assert.deepEqual(res.map((r) => (r.ok ? [r.value.sq, r.value.threadId] : null)), [[1, 0], [4, 0], [9, 0]]);
});

test('useCallingThread: jobs counts this thread, which takes tasks alongside one worker', async () => {
  const tasks = Array.from({ length: 12 }, (_, i) => i + 1);
  const res = await runPool<number, { sq: number; threadId: number }>({ module: TASKS, fn: 'nap', tasks, jobs: 2, useCallingThread: true });
  assert.deepEqual(res.map((r) => (r.ok ? r.value.sq : null)), tasks.map((i) => i * i));
  const threads = new Set(res.map((r) => (r.ok ? r.value.threadId : -1)));
  assert.equal(threads.size, 2);
  assert.ok(threads.has(0), 'the calling thread ran some tasks');
});

test('abort terminates the workers and rejects with E_INTERRUPTED', async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 300);
  await assert.rejects(
    runPool({ module: TASKS, fn: 'slow', tasks: [1, 2, 3, 4], jobs: 2, signal: ac.signal }),
    (e: unknown) => (e as { code?: string }).code === 'E_INTERRUPTED',
  );
  assert.ok(Date.now() - t0 < 5000, 'did not wait for the 20 s tasks');
  // An already aborted signal runs nothing.
  await assert.rejects(runPool({ module: TASKS, fn: 'square', tasks: [1], jobs: 2, signal: ac.signal }), /interrupted/);
});

test('typed arrays that own their whole buffer are transferred; views into shared or larger buffers are copied', () => {
  const own = new Float32Array(8);
  const big = new ArrayBuffer(64);
  const view = new Uint8Array(big, 8, 8);
  const shared = new Int16Array(new SharedArrayBuffer(16));
  const list = transferListOf({ a: own, nested: [{ b: own }, view, shared, 3, 'x'], buf: big });
  assert.deepEqual(list, [own.buffer, big]);
});

test('no tasks, no workers: the task module is never loaded', async () => {
  // A module that does not exist: loading it (which every worker does first) would fail.
  const missing = new URL('./no-such-task-module.js', import.meta.url);
  assert.deepEqual(await runPool({ module: missing, fn: 'square', tasks: [], jobs: 4 }), []);
  const [one] = await runPool({ module: missing, fn: 'square', tasks: [1], jobs: 4 });
  assert.ok(one && !one.ok && /no-such-task-module/.test(one.error), 'with a task, the module is loaded (and fails)');
});
