/**
 * The logger and progress reporter a long job writes to. Util-level types so that corpus/,
 * report/ and stages share them without importing the engine; the engine renders them.
 */

/** Reports progress of the current stage; the engine renders it as a bar (TTY) or plain lines. */
export interface ProgressReporter {
  /** Begin a determinate phase, e.g. start(480, 'files') or start(40 * 150, 'batches', 'epoch 1/40'). */
  start(total: number, unit: string, label?: string): void;
  /** Advance by n units; `info` is shown next to the bar (loss, accuracy, samples/s ...). */
  tick(n?: number, info?: Record<string, string | number>): void;
  /** Change the label without advancing (e.g. 'epoch 3/40'). */
  label(text: string): void;
  /** End the current phase. */
  done(): void;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}
