import { Redis } from 'ioredis';
import { EmopipeError } from '../../util/errors.js';

/** The BullMQ queue that carries stage jobs. */
export const QUEUE_NAME = 'emopipe-stages';

export interface RedisTarget {
  host: string;
  port: number;
  password?: string;
  username?: string;
  db?: number;
  /** For messages: redis://host:port (no password). */
  display: string;
}

export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new EmopipeError('E_USAGE', `--queue ${url}: expected redis://HOST:PORT`);
  }
  if (u.protocol !== 'redis:' || !u.hostname) throw new EmopipeError('E_USAGE', `--queue ${url}: expected redis://HOST:PORT`);
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 6379,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(db ? { db: Number(db) } : {}),
    display: `redis://${u.hostname}:${u.port || 6379}`,
  };
}

/** Connection options for BullMQ (it requires maxRetriesPerRequest: null on blocking connections). */
export function connectionOf(t: RedisTarget) {
  return { host: t.host, port: t.port, password: t.password, username: t.username, db: t.db, maxRetriesPerRequest: null };
}

/** Fail fast with a named error when Redis is not there (BullMQ itself would retry forever). */
export async function checkRedis(t: RedisTarget, timeoutMs = 3000): Promise<void> {
  const r = new Redis({ ...connectionOf(t), lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    throw new EmopipeError('E_QUEUE', `cannot reach the queue at ${t.display} (${(e as Error).message})`);
  } finally {
    r.disconnect();
  }
}

/** A worker's error travels as text: `[E_CODE] message`, turned back into a typed error by the coordinator. */
export function encodeError(code: string, message: string): string {
  return `[${code}] ${message}`;
}

export function decodeError(text: string): { code: string; message: string } {
  const m = /^\[(E_[A-Z_]+)\] ([\s\S]*)$/.exec(text);
  return m ? { code: m[1]!, message: m[2]! } : { code: 'E_QUEUE', message: text };
}
