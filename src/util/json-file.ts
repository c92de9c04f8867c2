/**
 * Reading the JSON files stages pass each other: a missing or unparsable file is a typed error
 * naming the file, never a stack trace.
 */
import { existsSync, readFileSync } from 'node:fs';
import { EmopipeError } from './errors.js';

export function readJson<T>(path: string, what: string): T {
  if (!existsSync(path)) throw new EmopipeError('E_INPUT_MISSING', `${what} not found`, { file: path });
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (e) {
    throw new EmopipeError('E_INPUT_MISSING', `${what} is not valid JSON: ${(e as Error).message}`, { file: path, cause: e });
  }
}

export function readOptionalJson<T>(path: string, what: string): T | undefined {
  return existsSync(path) ? readJson<T>(path, what) : undefined;
}
