import type { Command } from 'commander';
import { Cache } from '../engine/cache.js';
import { defaultLocations } from '../engine/env.js';
import { describeEntry } from '../engine/inspect.js';
import { templateOf } from '../engine/matrix.js';
import { Registry, type RunRecord } from '../engine/registry.js';
import { EmopipeError } from '../util/errors.js';
import { printJson } from './common.js';
import { formatBytes, table } from './format.js';

interface Target {
  label: string;
  fingerprint: string;
}

/** X = RUN:stage | stage of the latest run | run hash prefix | cache fingerprint prefix. */
function resolveTargets(ref: string, registry: Registry, cache: Cache): Target[] {
  const stageTargets = (r: RunRecord, only?: string): Target[] => {
    // A matrix stage's name (`train`) means all its instances (`train@fold=1` …).
    const stages = r.stages.filter((s) => (only === undefined || s.name === only || templateOf(s.name) === only) && s.fingerprint);
    if (only !== undefined && !stages.length) throw new EmopipeError('E_NOT_FOUND', `run ${r.run.slice(0, 12)} has no stage '${only}' with an output`);
    return stages.map((s) => ({ label: `${s.name} (run ${r.run.slice(0, 12)})`, fingerprint: s.fingerprint! }));
  };
  const colon = ref.lastIndexOf(':');
  if (colon > 0) return stageTargets(registry.find(ref.slice(0, colon)), ref.slice(colon + 1));
  const latest = registry.tryFind('latest');
  if (latest?.stages.some((s) => s.name === ref || templateOf(s.name) === ref)) return stageTargets(latest, ref);
  if (/^[0-9a-f]{4,64}$/i.test(ref)) {
    const run = registry.tryFind(ref);
    if (run) return stageTargets(run);
    const fps = cache.listEntries().filter((f) => f.startsWith(ref.toLowerCase()));
    if (fps.length === 1) return [{ label: `entry ${fps[0]!.slice(0, 12)}`, fingerprint: fps[0]! }];
    if (fps.length > 1) throw new EmopipeError('E_USAGE', `'${ref}' matches ${fps.length} cache entries; give more characters`);
  }
  throw new EmopipeError('E_NOT_FOUND', `nothing matches '${ref}': give a run hash, RUN:stage, a stage of the latest run, or a cache fingerprint`);
}

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('an artifact: files, sizes, tensor shapes/dtypes, summary stats')
    .argument('<ref>', 'run hash | RUN:stage | stage name (latest run) | fingerprint')
    .option('--json', 'print the description as JSON')
    .action(async (ref: string, flags: { json?: boolean }) => {
      const loc = defaultLocations();
      const cache = new Cache(loc.cacheDir);
      const targets = resolveTargets(ref, new Registry(loc.artifactsDir), cache);
      const docs = [];
      const out: string[] = [];
      for (const t of targets) {
        const look = await cache.lookup(t.fingerprint, 'size');
        if (look.state !== 'hit') {
          const why = look.state === 'miss' ? 'not in the cache (removed by gc?)' : `corrupt: ${look.reason}`;
          docs.push({ target: t.label, fingerprint: t.fingerprint, error: why });
          out.push(`${t.label}  ${t.fingerprint.slice(0, 12)}  ${why}`);
          continue;
        }
        const files = describeEntry(look.dir, look.manifest);
        const total = files.reduce((a, f) => a + f.size, 0);
        docs.push({ target: t.label, fingerprint: t.fingerprint, dir: look.dir, files });
        out.push(`${t.label}  ${t.fingerprint.slice(0, 12)}  ${files.length} files, ${formatBytes(total)}  ${look.dir}`);
        out.push(table(files.map((f) => [f.path, formatBytes(f.size), f.detail ?? ''])).replace(/^/gm, '  '));
      }
      if (flags.json) printJson(docs);
      else process.stdout.write(out.join('\n') + '\n');
    });
}
