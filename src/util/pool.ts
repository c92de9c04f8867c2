/**
 * A small pool of worker threads for per-file work (decode, MFCC, prediction ...), independent of
 * the engine. Each task is a call `fn(task)` of a function exported by an ES module; results come
 * back in task order, a failing task yields {ok: false} without disturbing the others, typed arrays
 * in results are transferred rather than copied, and aborting terminates the workers.
 *
 * With jobs <= 1 the tasks run in this thread (no worker start-up, no copying), one at a time,
 * yielding to the event loop between tasks so progress and Ctrl-C are still handled.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { EmopipeError, errorMessage } from './errors.js';

export type PoolOutcome<R> = { ok: true; value: R } | { ok: false; error: string; code?: string };

/** The error of one failed task, as given to onResult. */
export class PoolTaskError extends Error {
  readonly code?: string;
  constructor(message: string, code?: string) {
    super(message);
    this.name = 'PoolTaskError';
    this.code = code;
  }
}

export interface PoolOptions<T, R> {
  /** File URL (string or URL) of an ES module exporting `fn`, e.g. new URL('../audio/features-worker.js', import.meta.url). */
  module: string | URL;
  /** Name of the exported function: (task: T) => R | Promise<R>. */
  fn: string;
  tasks: readonly T[];
  /** Worker threads (default: available cores); <= 1 runs in this thread. Never more than tasks. */
  jobs?: number;
  /** Aborting terminates the workers and rejects with EmopipeError E_INTERRUPTED. */
  signal?: AbortSignal;
  /**
   * Count the calling thread as one of the `jobs` and run tasks on it too, between event-loop
   * turns (default false). Saves one worker's start-up and JIT warm-up (measured: the first ~60
   * files of a worker run at half speed), but blocks the event loop for one task at a time.
   */
  useCallingThread?: boolean;
  /** Called as each task finishes (in completion order). */
  onResult?(index: number, result: R | undefined, error: PoolTaskError | undefined): void;
}

/** Messages between pool and worker (shared with pool-worker.ts). */
export interface PoolRequest {
  id: number;
  module: string;
  fn: string;
  task: unknown;
}
export type PoolResponse = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string; code?: string };

const WORKER_URL = new URL('./pool-worker.js', import.meta.url);

function interrupted(): EmopipeError {
  return new EmopipeError('E_INTERRUPTED', 'interrupted');
}

/** Calls a module's exported function, turning a missing export into a clear error. */
export async function loadTaskFunction(module: string, fn: string): Promise<(task: unknown) => unknown> {
  const mod = (await import(module)) as Record<string, unknown>;
  const f = mod[fn];
  if (typeof f !== 'function') throw new Error(`pool: ${module} does not export a function named ${JSON.stringify(fn)}`);
  return f as (task: unknown) => unknown;
}

/** The message and, when the error has a string `code` (EmopipeError, Node system errors), that code. */
export function failureOf(e: unknown): { error: string; code?: string } {
  const code = e && typeof e === 'object' && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
  return failureFields(errorMessage(e), code);
}

function failureFields(error: string, code: string | undefined): { error: string; code?: string } {
  return code === undefined ? { error } : { error, code };
}

/**
 * ArrayBuffers behind the typed arrays in a result (plain objects and arrays, a few levels deep)
 * that can be moved to the receiving thread instead of copied. Only buffers a view covers whole:
 * a view into a larger buffer (e.g. Node's Buffer pool) or a SharedArrayBuffer is left to cloning.
 */
export function transferListOf(value: unknown): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  const walk = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== 'object' || depth > 4) return;
    if (ArrayBuffer.isView(v)) {
      const buf = v.buffer;
      if (buf instanceof ArrayBuffer && v.byteOffset === 0 && v.byteLength === buf.byteLength) out.add(buf);
    } else if (v instanceof ArrayBuffer) {
      out.add(v);
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
    } else if (Object.getPrototypeOf(v) === Object.prototype) {
      for (const x of Object.values(v)) walk(x, depth + 1);
    }
  };
  walk(value, 0);
  return [...out];
}

export async function runPool<T, R>(opts: PoolOptions<T, R>): Promise<PoolOutcome<R>[]> {
  const module = String(opts.module);
  const tasks = opts.tasks;
  const jobs = Math.max(1, Math.min(Math.floor(opts.jobs ?? availableParallelism()), tasks.length));
  if (opts.signal?.aborted) throw interrupted();
  if (tasks.length === 0) return [];
  return jobs <= 1 ? runInThread(module, opts) : runInWorkers(module, jobs, opts);
}

async function runInThread<T, R>(module: string, opts: PoolOptions<T, R>): Promise<PoolOutcome<R>[]> {
  const results: PoolOutcome<R>[] = [];
  let fn: ((task: unknown) => unknown) | undefined;
  let loadError: unknown;
  try {
    fn = await loadTaskFunction(module, opts.fn);
  } catch (e) {
    loadError = e;
  }
  for (let i = 0; i < opts.tasks.length; i++) {
    if (opts.signal?.aborted) throw interrupted();
    let outcome: PoolOutcome<R>;
    try {
      if (!fn) throw loadError;
      outcome = { ok: true, value: (await fn(opts.tasks[i])) as R };
    } catch (e) {
      outcome = { ok: false, ...failureOf(e) };
    }
    results.push(outcome);
    report(opts, i, outcome);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  if (opts.signal?.aborted) throw interrupted();
  return results;
}

function report<T, R>(opts: PoolOptions<T, R>, index: number, o: PoolOutcome<R>): void {
  if (!opts.onResult) return;
  if (o.ok) opts.onResult(index, o.value, undefined);
  else opts.onResult(index, undefined, new PoolTaskError(o.error, o.code));
}

function runInWorkers<T, R>(module: string, jobs: number, opts: PoolOptions<T, R>): Promise<PoolOutcome<R>[]> {
  const tasks = opts.tasks;
  const results = new Array<PoolOutcome<R>>(tasks.length);
  const workers = new Set<Worker>();
  let next = 0;
  let done = 0;
  let settled = false;

  return new Promise<PoolOutcome<R>[]>((resolve, reject) => {
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      const all = [...workers].map((w) => w.terminate());
      workers.clear();
      // Resolve only once every worker is gone, so callers never leave threads behind.
      void Promise.allSettled(all).then(() => (err ? reject(err) : resolve(results)));
    };
    const onAbort = () => finish(interrupted());
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const record = (index: number, outcome: PoolOutcome<R>) => {
      results[index] = outcome;
      done++;
      try {
        report(opts, index, outcome);
      } catch (e) {
        finish(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (done === tasks.length) finish();
    };

    const spawn = () => {
      const worker = new Worker(WORKER_URL);
      workers.add(worker);
      let current = -1;
      const send = () => {
        if (settled) return;
        if (next >= tasks.length) {
          workers.delete(worker);
          void worker.terminate();
          return;
        }
        current = next++;
        const req: PoolRequest = { id: current, module, fn: opts.fn, task: tasks[current] };
        try {
          worker.postMessage(req);
        } catch (e) {
          // The task itself cannot be cloned (e.g. holds a function): fail it, keep the worker.
          const index = current;
          current = -1;
          record(index, { ok: false, error: `pool: task ${index} cannot be sent to a worker: ${errorMessage(e)}` });
          send();
        }
      };
      worker.on('message', (msg: PoolResponse) => {
        if (settled || msg.id !== current) return;
        current = -1;
        record(msg.id, msg.ok ? { ok: true, value: msg.value as R } : { ok: false, ...failureFields(msg.error, msg.code) });
        send();
      });
      const lost = (why: string) => {
        if (!workers.delete(worker) || settled) return;
        if (current >= 0) {
          const index = current;
          current = -1;
          record(index, { ok: false, error: `worker thread died while running task ${index}: ${why}` });
        }
        // Replace the lost worker while work remains.
        if (!settled && next < tasks.length) spawn();
      };
      worker.on('error', (e) => lost(errorMessage(e)));
      worker.on('exit', (code) => lost(`exit code ${code}`));
      send();
    };

    const workerCount = opts.useCallingThread ? jobs - 1 : jobs;
    for (let i = 0; i < workerCount; i++) spawn();
    if (opts.useCallingThread) void runHere();

    // The calling thread takes tasks from the same queue, one at a time, yielding in between.
    async function runHere(): Promise<void> {
      let fn: ((task: unknown) => unknown) | undefined;
      let loadError: unknown;
      try {
        fn = await loadTaskFunction(module, opts.fn);
      } catch (e) {
        loadError = e;
      }
      while (!settled && next < tasks.length) {
        const index = next++;
        let outcome: PoolOutcome<R>;
        try {
          if (!fn) throw loadError;
          outcome = { ok: true, value: (await fn(tasks[index])) as R };
        } catch (e) {
          outcome = { ok: false, ...failureOf(e) };
        }
        if (settled) return;
        record(index, outcome);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
  });
}
