import { InvalidArgumentError } from 'commander';
import { EmopipeError, errorMessage, type ErrorCode } from '../util/errors.js';

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

const USAGE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['E_USAGE', 'E_PIPELINE_INVALID', 'E_PIPELINE_CYCLE', 'E_UNKNOWN_STAGE_KIND', 'E_NOT_FOUND']);

/** 2 for bad usage or an invalid pipeline, 130 for Ctrl-C, 1 for everything else (a stage failed). */
export function exitCodeFor(e: unknown): number {
  if (e instanceof EmopipeError) {
    if (e.code === 'E_INTERRUPTED') return 130;
    return USAGE_CODES.has(e.code) ? 2 : 1;
  }
  return 1;
}

export function printError(e: unknown): void {
  process.stderr.write(`emopipe: ${errorMessage(e)}\n`);
  if (process.env.EMOPIPE_DEBUG === '1' && e instanceof Error && e.stack) process.stderr.write(e.stack + '\n');
}

/** Write a JSON document as the last thing on stdout. */
export function printJson(doc: unknown): void {
  process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
}
