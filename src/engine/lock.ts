import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EmopipeError } from '../util/errors.js';

/**
 * Cross-process advisory locks. A lock is a file holding its owner's pid, host, time and a
 * random token. It is created atomically *with* its content (written to a private temp file,
 * then link()ed into place, which fails if the lock exists), so nobody ever sees an empty lock.
 * A lock whose owner is a dead process on this host is stale; it is removed under a second,
 * short-lived "breaker" lock after re-checking that it is still the same stale lock, so a live
 * lock is never taken away from its owner.
 *
 * Correctness of the cache never depends on these locks (entries are published by atomic
 * rename, and a losing publisher discards its copy); they make concurrent runs compute a stage
 * once instead of twice, and serialize registry updates.
 */
export interface LockOwner {
  pid: number;
  host: string;
  time: number;
  token: string;
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

/** Stale: owned by a dead process on this host (locks of other hosts are never broken). */
function isStale(owner: LockOwner): boolean {
  return owner.host === HOST && !pidAlive(owner.pid);
}

/** Create `path` with an owner record, atomically; undefined if it already exists. */
function create(path: string): LockOwner | undefined {
  const owner: LockOwner = { pid: process.pid, host: HOST, time: Date.now(), token: randomBytes(8).toString('hex') };
  const tmp = `${path}.${process.pid}.${owner.token}.tmp`;
  writeFileSync(tmp, JSON.stringify(owner));
  try {
    linkSync(tmp, path);
    return owner;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

/** Remove `path` if it still holds exactly `owner`'s token. */
function removeIfOwned(path: string, token: string): void {
  if (readOwner(path)?.token !== token) return;
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/** Unreadable lock files (damaged from outside; ours never are) count as stale after this long. */
const GARBAGE_STALE_MS = 10_000;

function garbageStale(path: string): boolean {
  try {
    return readOwner(path) === undefined && Date.now() - statSync(path).mtimeMs > GARBAGE_STALE_MS;
  } catch {
    return false;
  }
}

/** Remove a stale lock, under the breaker lock, if it is still the one we judged stale. */
function breakStale(path: string, seen: LockOwner | undefined): void {
  const breakerPath = `${path}.break`;
  let breaker = create(breakerPath);
  if (!breaker) {
    const other = readOwner(breakerPath);
    // A breaker that died mid-way (a window of microseconds) would block everyone: clear it.
    if (other && isStale(other)) removeIfOwned(breakerPath, other.token);
    breaker = create(breakerPath);
    if (!breaker) return; // someone else is breaking it; we will look again
  }
  try {
    const now = readOwner(path);
    const still = seen ? now !== undefined && now.token === seen.token && isStale(now) : garbageStale(path);
    if (still) unlinkSync(path);
  } finally {
    removeIfOwned(breakerPath, breaker.token);
  }
}

/** Try once to take the lock; undefined if someone alive holds it. */
export function tryLock(path: string): Lock | undefined {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    const owner = create(path);
    if (owner) {
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          removeIfOwned(path, owner.token);
        },
      };
    }
    const holder = readOwner(path);
    if (holder ? !isStale(holder) : !garbageStale(path)) return undefined;
    breakStale(path, holder);
  }
  return undefined;
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called between polls; return true to stop waiting (e.g. the entry got published). */
  shouldStop?: () => boolean | Promise<boolean>;
  pollMs?: number;
  /** Called once, the first time the lock is found busy. */
  onWait?: (owner: LockOwner | undefined) => void;
}

/** Wait until the lock is ours (returns it) or `shouldStop` says waiting is pointless (returns undefined). */
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
    // Jitter keeps several waiters from polling in lockstep.
    await new Promise((r) => setTimeout(r, poll * (0.5 + Math.random())));
  }
}

/** Run `fn` holding the lock at `path` (short critical sections like registry updates). */
export async function withLock<T>(path: string, fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<T> {
  const lock = await acquireLock(path, { pollMs: 20, ...opts });
  if (!lock) throw new Error(`could not take lock ${path}`);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
