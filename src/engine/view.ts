import { copyFileSync, mkdirSync, renameSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { EntryManifest } from './cache.js';

/** A stage's folder in the view: matrix values may hold any character, folders may not hold '/' (or be '..'). */
export function viewDirName(stage: string): string {
  const safe = stage.replace(/[^A-Za-z0-9_.@=,+-]/g, '_');
  return /^\.+$/.test(safe) ? safe.replace(/\./g, '_') : safe;
}

/**
 * `artifacts/<run12>/<stage>/…`: links to the run's cache entry files, for people browsing
 * outputs, plus `artifacts/latest` pointing at the newest run. Built in a temp dir and renamed
 * into place, so a half-built view is never visible. Copies are used where symlinks fail.
 */
export function writeRunView(
  artifactsDir: string,
  run: string,
  stages: { name: string; dir: string; manifest: EntryManifest }[],
): string {
  const name = run.slice(0, 12);
  const target = join(artifactsDir, name);
  // Same run hash ⇒ same entries ⇒ same view: a cached rerun only moves `latest`.
  if (existsSync(target)) {
    pointLatest(artifactsDir, name);
    return target;
  }
  const tmp = join(artifactsDir, `.tmp-${name}.${process.pid}.${randomBytes(3).toString('hex')}`);
  mkdirSync(tmp, { recursive: true });
  try {
    for (const s of stages) {
      for (const f of s.manifest.files) {
        const link = join(tmp, viewDirName(s.name), f.path);
        mkdirSync(dirname(link), { recursive: true });
        const src = join(s.dir, f.path);
        try {
          symlinkSync(src, link);
        } catch {
          copyFileSync(src, link);
        }
      }
    }
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  } catch {
    // A concurrent run wrote the same view (same run hash, same content): keep theirs.
    rmSync(tmp, { recursive: true, force: true });
  }
  pointLatest(artifactsDir, name);
  return target;
}

function pointLatest(artifactsDir: string, name: string): void {
  const latest = join(artifactsDir, 'latest');
  const tmp = `${latest}.${process.pid}.${randomBytes(3).toString('hex')}`;
  try {
    symlinkSync(name, tmp);
    renameSync(tmp, latest);
  } catch {
    rmSync(tmp, { force: true });
  }
}

export function removeRunView(artifactsDir: string, run: string): boolean {
  const dir = join(artifactsDir, run.slice(0, 12));
  if (!existsSync(dir)) return false;
  rmSync(dir, { recursive: true, force: true });
  return true;
}
