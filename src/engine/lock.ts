import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { EmopipeError } from '../util/errors.js';

/**
 * Cross-process advisory locks. A lock is a file holding its owner's pid, host, time and a
 * random token. It is created atomically *with* its content (written to a private temp file,
 * then link()ed into place, which fails if the lock exists), so nobody ever sees an empty lock.
 * Every lock is a lease: its holder renews it (touches the file) every `leaseMs / 4`, and a lock
 * not renewed for `leaseMs` is stale, whoever and wherever its owner was (another host, a dead
 * container, a frozen machine). A lock of a dead process on this host is stale at once. A stale
 * lock is removed under a second, short-lived "breaker" lock after re-checking that it is still
 * the same stale lock, so a renewed lock is never taken away from its owner.
 *
 * The rules need only create-if-absent, compare-token-and-delete, renew and an expiry, so the
 * same protocol maps onto a store shared by several machines (e.g. Redis SET NX PX / PEXPIRE)
 * when the cache becomes shared; there the store's clock replaces file mtimes.
 *
 * Correctness of the cache never depends on these locks (entries are published by atomic
 * rename, and a losing publisher discards its copy); they make concurrent runs compute a stage
 * once instead of twice.
 */
export interface LockOwner {
  pid: number;
  host: string;
  time: number;
  token: string;
  /** The lease: without a renewal for this long the lock is stale. Absent in old lock files (DEFAULT_LEASE_MS). */
  leaseMs?: number;
}

/** How long a lock lives without a heartbeat. Long enough for a busy event loop, short enough to wait out. */
export const DEFAULT_LEASE_MS = 60_000;

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

function leaseOf(owner: LockOwner | undefined): number {
  const l = owner?.leaseMs;
  return typeof l === 'number' && Number.isFinite(l) && l > 0 ? l : DEFAULT_LEASE_MS;
}

/** Milliseconds since the lock file was created or last renewed (Infinity if it is gone). */
function sinceRenewal(path: string): number {
  try {
    return Math.max(0, Date.now() - statSync(path).mtimeMs);
  } catch {
    return Infinity;
  }
}

/** Stale: owned by a dead process on this host, or its lease ran out without a renewal. */
function isStale(owner: LockOwner, path: string): boolean {
  if (owner.host === HOST && !pidAlive(owner.pid)) return true;
  return sinceRenewal(path) > leaseOf(owner);
}

/** Create `path` with an owner record, atomically; undefined if it already exists. */
function create(path: string, leaseMs = DEFAULT_LEASE_MS): LockOwner | undefined {
  const owner: LockOwner = { pid: process.pid, host: HOST, time: Date.now(), token: randomBytes(8).toString('hex'), leaseMs };
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
    if (other ? isStale(other, breakerPath) : garbageStale(breakerPath)) {
      if (other) removeIfOwned(breakerPath, other.token);
      else unlinkQuiet(breakerPath);
    }
    breaker = create(breakerPath);
    if (!breaker) return; // someone else is breaking it; we will look again
  }
  try {
    const now = readOwner(path);
    const still = seen ? now !== undefined && now.token === seen.token && isStale(now, path) : garbageStale(path);
    if (still) unlinkSync(path);
  } finally {
    removeIfOwned(breakerPath, breaker.token);
  }
}

function unlinkQuiet(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/** Keep our lease alive: touch the lock file while it still holds our token. */
function startHeartbeat(path: string, owner: LockOwner): NodeJS.Timeout {
  const timer = setInterval(() => {
    if (readOwner(path)?.token !== owner.token) return; // taken over after we stalled: not ours to renew
    try {
      const now = new Date();
      utimesSync(path, now, now);
    } catch {
      /* gone or unwritable: the next holder's problem, not a reason to fail the stage */
    }
  }, Math.max(10, Math.floor(leaseOf(owner) / 4)));
  timer.unref();
  return timer;
}

/** Try once to take the lock; undefined if someone holds it whose lease is alive. */
export function tryLock(path: string, leaseMs = DEFAULT_LEASE_MS): Lock | undefined {
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    const owner = create(path, leaseMs);
    if (owner) {
      const heartbeat = startHeartbeat(path, owner);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          clearInterval(heartbeat);
          removeIfOwned(path, owner.token);
        },
      };
    }
    const holder = readOwner(path);
    if (holder ? !isStale(holder, path) : !garbageStale(path)) return undefined;
    breakStale(path, holder);
  }
  return undefined;
}

/**
 * What a waiter tells the user: whose lock, how old its last renewal is, when it expires, and
 * how to clear it by hand.
 */
export function describeLockWait(path: string, owner: LockOwner | undefined): string {
  const lease = Math.round(leaseOf(owner) / 1000);
  const age = sinceRenewal(path);
  const who = owner ? `pid ${owner.pid} on host ${owner.host}` : 'an unreadable owner record';
  const renewed = Number.isFinite(age) ? `, last renewed ${Math.round(age / 1000)} s ago` : '';
  return (
    `waiting for lock ${path} (held by ${who}${renewed}; it expires after ${lease} s without renewal). ` +
    `If no emopipe process is using it (e.g. a dead container), delete ${path}.`
  );
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Called between polls; return true to stop waiting (e.g. the entry got published). */
  shouldStop?: () => boolean | Promise<boolean>;
  pollMs?: number;
  /** The lease this process takes (tests use short ones). */
  leaseMs?: number;
  /** Called once, the first time the lock is found busy, with the message to show (see describeLockWait). */
  onWait?: (owner: LockOwner | undefined, message: string) => void;
}

const QUIET_WAIT_MS = 2000;

/** Wait until the lock is ours (returns it) or `shouldStop` says waiting is pointless (returns undefined). */
export async function acquireLock(path: string, opts: WaitOptions = {}): Promise<Lock | undefined> {
  const poll = opts.pollMs ?? 100;
  const started = Date.now();
  let notified = false;
  for (;;) {
    if (opts.signal?.aborted) throw new EmopipeError('E_INTERRUPTED', `interrupted while waiting for lock ${path}`);
    const lock = tryLock(path, opts.leaseMs);
    if (lock) return lock;
    // Without a caller to tell, speak up on stderr only when the wait is not a blink.
    if (!notified && (opts.onWait || Date.now() - started >= QUIET_WAIT_MS)) {
      notified = true;
      const owner = readOwner(path);
      const message = describeLockWait(path, owner);
      if (opts.onWait) opts.onWait(owner, message);
      else process.stderr.write(`emopipe: ${message}\n`);
    }
    if (opts.shouldStop && (await opts.shouldStop())) return undefined;
    // Jitter keeps several waiters from polling in lockstep; an abort ends the wait at once.
    await sleep(poll * (0.5 + Math.random()), opts.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((res) => {
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      res();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Run `fn` holding the lock at `path` (short critical sections). */
export async function withLock<T>(path: string, fn: () => T | Promise<T>, opts: WaitOptions = {}): Promise<T> {
  const lock = await acquireLock(path, { pollMs: 20, ...opts });
  if (!lock) throw new Error(`could not take lock ${path}`);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
