import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, mkdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EmopipeError } from '../util/errors.js';

/**
 * Cross-process advisory locks: a lock is a file created with O_EXCL holding the owner's
 * pid, host and start time. A lock whose owner pid is dead (same host) is stale and is broken.
 *
 * Correctness of the cache never depends on these locks (entries are published by atomic
 * rename, and a losing publisher discards its copy); they exist so that concurrent runs
 * compute a stage once instead of twice, and so that registry updates are serialized.
 */
export interface LockOwner {
  pid: number;
  host: string;
  time: number;
}

export interface Lock {
  path: string;
  release(): void;
}

const HOST = hostname();

export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/** A lock is stale when its owner is a dead process on this host, or its content is unreadable. */
function isStale(owner: LockOwner | undefined): boolean {
  if (!owner) return true;
  if (owner.host !== HOST) return false;
  return !pidAlive(owner.pid);
}

/** Try once to take the lock; returns undefined if someone alive holds it. */
export function tryLock(path: string): Lock | undefined {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      const owner: LockOwner = { pid: process.pid, host: HOST, time: Date.now() };
      writeSync(fd, JSON.stringify(owner));
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          try {
            const cur = readOwner(path);
            if (cur && cur.pid === process.pid && cur.host === HOST) unlinkSync(path);
          } catch {
            /* already gone */
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readOwner(path);
      // A lock file being written right now has no content yet: give its creator a moment.
      if (!owner && Date.now() - safeMtime(path) < 2000) return undefined;
      if (!isStale(owner)) return undefined;
      breakStaleLock(path);
    }
  }
  return undefined;
}

function safeMtime(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Move the stale lock aside, then check what was moved: if another breaker raced us and we
 * moved a fresh, live lock, put it back with link() (which fails rather than overwrite).
 */
function breakStaleLock(path: string): void {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke it already
  }
  const moved = readOwner(aside);
  if (moved && !isStale(moved)) {
    try {
      linkSync(aside, path);
    } catch {
      /* a third party holds it now; theirs stands */
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    /* ignore */
  }
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called between polls; return true to stop waiting (e.g. the entry got published). */
  shouldStop?: () => boolean | Promise<boolean>;
  pollMs?: number;
  /** Called once, the first time the lock is found busy. */
  onWait?: (owner: LockOwner | undefined) => void;
}

/** Wait until the lock is ours (returns the lock) or `shouldStop` says waiting is pointless (returns undefined). */
export async function acquireLock(path: string, opts: WaitOptions = {}): Promise<Lock | undefined> {
  const poll = opts.pollMs ?? 100;
  let notified = false;
  for (;;) {
    if (opts.signal?.aborted) throw new EmopipeError('E_INTERRUPTED', 'interrupted while waiting for a lock');
    const lock = tryLock(path);
    if (lock) return lock;
    if (!notified) {
      notified = true;
      opts.onWait?.(readOwner(path));
    }
    if (opts.shouldStop && (await opts.shouldStop())) return undefined;
    await new Promise((r) => setTimeout(r, poll));
  }
}

/** Run `fn` holding the lock at `path` (used for short critical sections like registry updates). */
export async function withLock<T>(path: string, fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<T> {
  const lock = await acquireLock(path, { pollMs: 20, ...opts });
  if (!lock) throw new Error(`could not take lock ${path}`);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
