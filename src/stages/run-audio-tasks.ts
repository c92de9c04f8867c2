import type { StageContext } from '../engine/stage.js';
import { runPool, type PoolOutcome } from '../util/pool.js';
import type * as AudioTasks from './audio-tasks.js';

const TASKS = new URL('./audio-tasks.js', import.meta.url);

type TaskName = 'loadTask' | 'augmentTask' | 'mfccTask';
type TaskOf<N extends TaskName> = Parameters<(typeof AudioTasks)[N]>[0];
type ResultOf<N extends TaskName> = ReturnType<(typeof AudioTasks)[N]>;

/**
 * Runs one of audio-tasks.ts's per-file functions over all tasks on the stage's worker threads
 * (the calling thread, which would only wait, takes a share too), with a progress bar in `unit`s.
 * A failed task is an {ok: false} outcome; the caller decides whether that is fatal.
 */
export async function runAudioTasks<N extends TaskName>(ctx: StageContext<unknown>, fn: N, tasks: TaskOf<N>[], unit: string): Promise<PoolOutcome<ResultOf<N>>[]> {
  ctx.progress.start(tasks.length, unit, ctx.stageName);
  try {
    return await runPool<TaskOf<N>, ResultOf<N>>({
      module: TASKS,
      fn,
      tasks,
      jobs: ctx.jobs,
      signal: ctx.signal,
      useCallingThread: true,
      onResult: () => ctx.progress.tick(1),
    });
  } finally {
    ctx.progress.done();
  }
}
