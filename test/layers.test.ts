/**
 * The layer rules of the README's Architecture section, checked on the source: every static
 * import, dynamic import() and worker `new URL('…', import.meta.url)` between src/ folders.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import { packageRoot } from '../src/util/paths.js';

/** For each layer (a folder under src/), the folders it must not import from. */
const FORBIDDEN: Record<string, string[]> = {
  util: ['engine', 'stages', 'cli', 'audio', 'model', 'report', 'corpus', 'predict'],
  engine: ['audio', 'model', 'stages', 'report', 'corpus', 'predict', 'cli'],
  audio: ['engine', 'stages', 'cli', 'model', 'report', 'corpus', 'predict'],
  model: ['engine', 'stages', 'cli', 'audio', 'report', 'corpus', 'predict'],
  report: ['engine', 'stages', 'cli', 'predict'],
  corpus: ['engine', 'stages', 'cli', 'predict', 'report', 'model'],
  predict: ['engine', 'stages', 'cli'],
  server: ['stages', 'cli'],
};

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bnew URL\(\s*)(['"])(\.{1,2}\/[^'"]+)\1/g;

/**
 * Relative import specifiers of one module's text (comments left out: they may show examples).
 * `workers: false` leaves out `new URL(…)` worker entry points, which run in another thread.
 */
export function relativeImports(source: string, { workers = true } = {}): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
  return [...code.matchAll(SPECIFIER)].filter((m) => workers || !m[0].startsWith('new URL')).map((m) => m[2]!);
}

/** The src/ folder a specifier in src/<from>/… resolves to, or undefined outside src/. */
function targetLayer(fromFile: string, specifier: string): string | undefined {
  const target = posix.normalize(posix.join(posix.dirname(fromFile), specifier));
  return target.startsWith('../') || !target.includes('/') ? undefined : target.split('/')[0];
}

/** "file → specifier" for every import that breaks FORBIDDEN. */
export function violations(files: { path: string; source: string }[]): string[] {
  const out: string[] = [];
  for (const { path, source } of files) {
    const layer = path.split('/')[0]!;
    for (const spec of relativeImports(source)) {
      const to = targetLayer(path, spec);
      if (to && to !== layer && FORBIDDEN[layer]?.includes(to)) out.push(`src/${path} imports ${spec} (${layer} → ${to})`);
    }
  }
  return out;
}

function sourceFiles(dir: string): { path: string; source: string }[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => ({ path: relative(dir, join(dir, f)).split(sep).join('/'), source: readFileSync(join(dir, f), 'utf8') }));
}

test('no src/ module imports across a forbidden layer boundary', () => {
  const files = sourceFiles(join(packageRoot(), 'src'));
  assert.ok(files.length > 50, `found only ${files.length} modules under src/`);
  assert.deepEqual(violations(files), []);
});

test('the layer check catches static, dynamic and worker imports', () => {
  const bad = [
    { path: 'corpus/x.ts', source: "import type { Logger } from '../engine/stage.js';" },
    { path: 'report/y.ts', source: "const m = await import('../stages/train.js');" },
    { path: 'engine/z.ts', source: "const w = new URL('../audio/features-worker.js', import.meta.url);" },
    { path: 'audio/w.ts', source: "import '../engine/side-effect.js';" },
  ];
  assert.deepEqual(violations([{ path: 'util/c.ts', source: "/** e.g. new URL('../audio/w.js', import.meta.url) */\n// import('../engine/x.js')" }]), []);
  assert.equal(violations(bad).length, 4);
  const good = [
    { path: 'stages/a.ts', source: "import { x } from '../engine/stage.js';\nimport { y } from './b.js';" },
    { path: 'corpus/b.ts', source: "import { readWavMono } from '../audio/wav.js';\nimport { z } from 'node:fs';" },
  ];
  assert.deepEqual(violations(good), []);
});

/** Import cycles among src/ modules (type-only imports included: they couple the modules as much; worker entry points not). */
export function importCycles(files: { path: string; source: string }[]): string[][] {
  const known = new Set(files.map((f) => f.path));
  const edges = new Map<string, string[]>();
  for (const { path, source } of files) {
    const to = relativeImports(source, { workers: false })
      .map((spec) => posix.normalize(posix.join(posix.dirname(path), spec)).replace(/\.js$/, '.ts'))
      .filter((t) => known.has(t));
    edges.set(path, to);
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (m: string): void => {
    state.set(m, 'open');
    stack.push(m);
    for (const next of edges.get(m) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(m, 'done');
  };
  for (const m of [...edges.keys()].sort()) if (!state.has(m)) visit(m);
  return cycles;
}

test('no import cycles among src/ modules', () => {
  const cycles = importCycles(sourceFiles(join(packageRoot(), 'src')));
  assert.deepEqual(cycles.map((c) => c.join(' → ')), []);
});

test('the cycle check finds a two-module cycle', () => {
  const files = [
    { path: 'engine/observer.ts', source: "import type { StageOutcome } from './run.js';" },
    { path: 'engine/run.ts', source: "import { silentLogger } from './observer.js';" },
  ];
  assert.deepEqual(importCycles(files), [['engine/observer.ts', 'engine/run.ts', 'engine/observer.ts']]);
});
