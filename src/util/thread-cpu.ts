/**
 * CPU time of the calling thread in nanoseconds, for splitting a worker's time between phases.
 * process.cpuUsage() covers the whole process (all threads), and Node 20 has no per-thread
 * counter, so on Linux this reads the kernel's exact per-thread runtime from
 * /proc/thread-self/schedstat. Elsewhere it falls back to the wall clock (`threadCpuSource`
 * says which), which overstates CPU when the machine is busy.
 */
import { closeSync, openSync, readSync } from 'node:fs';

let fd: number | undefined;
let source: 'schedstat' | 'wall' | undefined;
const buf = Buffer.alloc(128);

function init(): void {
  try {
    fd = openSync('/proc/thread-self/schedstat', 'r');
    source = 'schedstat';
  } catch {
    source = 'wall';
  }
}

/** Where threadCpuNs() comes from in this thread. */
export function threadCpuSource(): 'schedstat' | 'wall' {
  if (source === undefined) init();
  return source!;
}

export function threadCpuNs(): number {
  if (source === undefined) init();
  if (source === 'schedstat') {
    try {
      const n = readSync(fd!, buf, 0, buf.length, 0);
      const end = buf.indexOf(32);
      return Number(buf.toString('latin1', 0, end > 0 && end < n ? end : n));
    } catch {
      closeSync(fd!);
      source = 'wall';
    }
  }
  return Math.round(performance.now() * 1e6);
}
