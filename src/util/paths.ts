import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the directory with package.json above this module), for fixtures and defaults. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return process.cwd();
}

/** `../shared` beside the repository (fixtures, RAVDESS sample), or EMOPIPE_SHARED. */
export function sharedDir(): string {
  return process.env.EMOPIPE_SHARED ? resolve(process.env.EMOPIPE_SHARED) : resolve(packageRoot(), '..', 'shared');
}
