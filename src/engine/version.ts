import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256 } from '../util/hash.js';
import { EmopipeError } from '../util/errors.js';

/**
 * The implementation version of a stage kind: a hash of its compiled module and of every
 * project module it imports, followed statically and transitively. Editing any of that code
 * invalidates the kind's cache entries; nobody has to remember to bump a number.
 *
 * Only relative specifiers are followed (packages in node_modules are pinned by the lockfile).
 * Recognised forms: `import … from './x.js'`, `import './x.js'`, `export … from './x.js'`,
 * `import('./x.js')` and `new URL('./x.js', import.meta.url)` (worker scripts).
 */
const IMPORT_PATTERNS = [
  /\b(?:import|export)\s[^'"`;]*?\bfrom\s*(['"])(\.{1,2}\/[^'"]+)\1/g,
  /\bimport\s*(['"])(\.{1,2}\/[^'"]+)\1/g,
  /\bimport\s*\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*\)/g,
  /\bnew\s+URL\s*\(\s*(['"])(\.{1,2}\/[^'"]+)\1\s*,\s*import\.meta\.url\s*\)/g,
];

const fileHashes = new Map<string, { hash: string; deps: string[] }>();
const versions = new Map<string, string>();

function scan(file: string): { hash: string; deps: string[] } {
  let hit = fileHashes.get(file);
  if (hit) return hit;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new EmopipeError('E_NOT_FOUND', `cannot read stage module ${file}: ${(e as Error).message}`);
  }
  const deps = new Set<string>();
  for (const re of IMPORT_PATTERNS) {
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const target = resolve(dirname(file), m[2]!);
      if (!target.includes(`${'/'}node_modules${'/'}`)) deps.add(target);
    }
  }
  hit = { hash: sha256(text), deps: [...deps].sort() };
  fileHashes.set(file, hit);
  return hit;
}

/** The files a module pulls in (itself included), absolute paths, sorted. */
export function moduleClosure(moduleUrl: string): string[] {
  const root = moduleUrl.startsWith('file:') ? fileURLToPath(moduleUrl) : resolve(moduleUrl);
  const seen = new Set<string>();
  const todo = [root];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const d of scan(f).deps) if (!seen.has(d)) todo.push(d);
  }
  return [...seen].sort();
}

/** Memoized per process: the CLI computes it once per kind. */
export function implementationVersion(moduleUrl: string): string {
  let v = versions.get(moduleUrl);
  if (v) return v;
  const root = moduleUrl.startsWith('file:') ? fileURLToPath(moduleUrl) : resolve(moduleUrl);
  const base = dirname(root);
  // Paths relative to the module keep the version stable when the checkout moves.
  const parts = moduleClosure(moduleUrl).map((f) => `${relative(base, f)}\u0000${scan(f).hash}`);
  v = sha256(parts.join('\n'));
  versions.set(moduleUrl, v);
  return v;
}

/** For tests that rewrite module files: forget what was hashed. */
export function clearVersionCache(): void {
  fileHashes.clear();
  versions.clear();
}
