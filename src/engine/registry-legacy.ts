import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { EmopipeError } from '../util/errors.js';
import type { RunRecord } from './run-record.js';

/**
 * The registry before SQLite: `artifacts/runs.json`, `{"runs": [RunRecord...]}` (lowdb). Read once
 * to migrate it; its shape is validated so that a file of the wrong shape (`[]`, `{"runs": 5}`,
 * `{"runs": [null]}`) is an error naming the file, never silently an empty registry.
 */
const STAGE_SCHEMA = {
  type: 'object',
  required: ['name', 'status', 'seconds'],
  properties: {
    name: { type: 'string' },
    status: { type: 'string' },
    seconds: { type: 'number' },
    parts: { type: ['object', 'null'] },
  },
};

const LEGACY_SCHEMA = {
  type: 'object',
  required: ['runs'],
  properties: {
    runs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['run', 'pipeline', 'file', 'pipelineDir', 'startedAt', 'seconds', 'status', 'seed', 'resolvedYaml', 'stages', 'metrics'],
        properties: {
          run: { type: 'string', minLength: 1 },
          pipeline: { type: 'string' },
          experiment: { type: 'string' },
          file: { type: 'string' },
          pipelineDir: { type: 'string' },
          startedAt: { type: 'string' },
          seconds: { type: 'number' },
          status: { type: 'string' },
          seed: { type: 'number' },
          resolvedYaml: { type: 'string' },
          stages: { type: 'array', items: STAGE_SCHEMA },
          metrics: { type: 'object', additionalProperties: { type: 'object' } },
          artifactsDir: { type: ['string', 'null'] },
        },
      },
    },
  },
};

function recoveryHint(file: string): string {
  return `It was not migrated. Repair it, or move it away to start a new registry without its runs (mv ${file} ${file}.broken).`;
}

/** The runs recorded in a legacy `runs.json`, oldest first; throws E_REGISTRY_INVALID on anything else. */
export function readLegacyRuns(file: string): RunRecord[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new EmopipeError('E_REGISTRY_INVALID', `run registry is not valid JSON (${(e as Error).message}). ${recoveryHint(file)}`, { file, cause: e });
  }
  // ajv loads in ~50 ms: only here, once, not on every open of the registry.
  const { Ajv } = createRequire(import.meta.url)('ajv') as typeof import('ajv');
  const validate = new Ajv({ allErrors: false, strict: false }).compile(LEGACY_SCHEMA);
  if (!validate(data)) {
    const err = validate.errors?.[0];
    const where = err?.instancePath ? `at ${err.instancePath}` : 'at the top level';
    const expected = Array.isArray(data) ? 'expected an object {"runs": [...]}, found an array' : (err?.message ?? 'invalid');
    throw new EmopipeError('E_REGISTRY_INVALID', `run registry has the wrong shape ${where}: ${expected}. ${recoveryHint(file)}`, { file });
  }
  return (data as { runs: RunRecord[] }).runs;
}
