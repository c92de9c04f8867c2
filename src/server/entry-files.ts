/**
 * Which files of a run may be served: exactly those listed in the cache entry manifest of one of
 * its stages. A requested path is looked up in that list (never joined blindly onto a directory),
 * so `..`, absolute paths and links out of the entry cannot be reached.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST, type EntryManifest } from '../engine/cache.js';
import type { RunRecord } from '../engine/registry.js';

export interface StageFile {
  path: string;
  size: number;
}

export function stageFiles(outputDir: string | null): StageFile[] {
  if (!outputDir) return [];
  const manifestPath = join(outputDir, MANIFEST);
  if (!existsSync(manifestPath)) return [];
  try {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as EntryManifest;
    return (m.files ?? []).map((f) => ({ path: f.path, size: f.size }));
  } catch {
    return [];
  }
}

/** Every stage's servable files: {stage name: files}. */
export function runFiles(rec: RunRecord): Record<string, StageFile[]> {
  return Object.fromEntries(rec.stages.map((s) => [s.name, stageFiles(s.outputDir)]));
}

/** The absolute path of `file` in the stage's entry, or undefined when the manifest does not list it. */
export function servableFile(rec: RunRecord, stage: string, file: string): string | undefined {
  const s = rec.stages.find((x) => x.name === stage);
  if (!s?.outputDir) return undefined;
  const listed = stageFiles(s.outputDir).some((f) => f.path === file);
  return listed ? join(s.outputDir, file) : undefined;
}

const TYPES: Record<string, string> = {
  json: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  html: 'text/html; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  yaml: 'text/plain; charset=utf-8',
};

export function contentTypeOf(file: string): string {
  const ext = /\.([a-z0-9]+)$/i.exec(file)?.[1]?.toLowerCase() ?? '';
  return TYPES[ext] ?? 'application/octet-stream';
}
