import { canonicalJson } from '../util/hash.js';
import { Cache } from './cache.js';
import type { Pipeline } from './config.js';
import type { FingerprintParts } from './fingerprint.js';
import { Registry, type StageRecord } from './registry.js';
import { resolvePathFrom } from './run.js';
import { stageKey } from './stage-key.js';

export interface StagePlan {
  name: string;
  kind: string;
  /** null when an upstream stage will run, so this stage's inputs are not known yet. */
  fingerprint: string | null;
  state: 'cached' | 'will run' | 'may run';
  /** Why it will (or may) run: which param, input, code or external file changed. */
  reasons: string[];
  /** For a matrix instance: the stage as written and the instance's values. */
  template?: string;
  matrix?: Record<string, unknown>;
}

function show(v: unknown): string {
  if (v === undefined) return '(unset)';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Leaf-level differences between two param objects, as 'stage.a.b changed X → Y'. */
export function paramChanges(prefix: string, before: unknown, after: unknown): string[] {
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObj(before) && isObj(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => paramChanges(prefix ? `${prefix}.${k}` : k, before[k], after[k]));
  }
  if (before !== undefined && after !== undefined && canonicalJson(before) === canonicalJson(after)) return [];
  if (before === undefined && after === undefined) return [];
  return [`${prefix} changed ${show(before)} → ${show(after)}`];
}

/** Why `now` differs from `before` (both fingerprint parts of the same stage). */
export function explainChange(stage: string, before: FingerprintParts, now: Partial<FingerprintParts>): string[] {
  const reasons: string[] = [];
  if (now.kind !== undefined && before.kind !== now.kind) reasons.push(`kind changed ${before.kind} → ${now.kind}`);
  else if (now.version !== undefined && before.version !== now.version) reasons.push(`code of kind ${now.kind} changed`);
  if (now.params) reasons.push(...paramChanges(stage, before.params, now.params).map((r) => `param ${r}`));
  if ('seed' in now && before.seed !== now.seed) reasons.push(`seed changed ${show(before.seed)} → ${show(now.seed)}`);
  if ('external' in now && before.external !== now.external) reasons.push('external files changed');
  if (now.inputs) {
    const prev = new Map(before.inputs.map((i) => [i.name, i.contentHash]));
    for (const i of now.inputs) {
      if (!prev.has(i.name)) reasons.push(`new input ${i.name}`);
      else if (prev.get(i.name) !== i.contentHash) reasons.push(`input ${i.name} changed`);
    }
    for (const name of prev.keys()) if (!now.inputs.some((i) => i.name === name)) reasons.push(`input ${name} removed`);
  }
  return reasons;
}

/**
 * What `run` would do, without running anything: per stage cached / will run and why,
 * comparing against the most recent recorded run of the same pipeline.
 */
export async function planPipeline(
  pipeline: Pipeline,
  opts: { cacheDir: string; artifactsDir: string; dataDir: string },
): Promise<StagePlan[]> {
  const cache = new Cache(opts.cacheDir);
  const registry = new Registry(opts.artifactsDir);
  const keyEnv = { seed: pipeline.seed, resolvePath: resolvePathFrom(pipeline.dir), dataDir: opts.dataDir };
  const known = new Map<string, { kind: string; contentHash: string } | null>();
  const plans: StagePlan[] = [];
  for (const s of pipeline.stages) {
    const prev: StageRecord | undefined = registry.lastStageRecord(pipeline.name, s.name);
    const ups = s.needs.map((n) => ({ name: n, up: known.get(n) }));
    const pending = ups.filter((u) => !u.up).map((u) => u.name);
    const instance = s.template ? { template: s.template, matrix: s.matrix ?? {} } : {};
    if (pending.length) {
      // Inputs unknown until upstream runs: compare everything else.
      const { parts: own } = await stageKey(s, [], keyEnv);
      const reasons = prev?.parts ? explainChange(s.name, prev.parts, { ...own, inputs: undefined }) : ['no previous run of this stage'];
      known.set(s.name, null);
      plans.push({
        name: s.name,
        kind: s.kind.kind,
        fingerprint: null,
        state: reasons.length ? 'will run' : 'may run',
        reasons: reasons.length ? reasons : [`will run if upstream output changes (${pending.join(', ')})`],
        ...instance,
      });
      continue;
    }
    const { parts, fingerprint: fp } = await stageKey(s, ups.map((u) => ({ name: u.name, kind: u.up!.kind, contentHash: u.up!.contentHash })), keyEnv);
    const look = await cache.lookup(fp, 'size');
    if (look.state === 'hit') {
      known.set(s.name, { kind: s.kind.kind, contentHash: look.manifest.contentHash });
      plans.push({ name: s.name, kind: s.kind.kind, fingerprint: fp, state: 'cached', reasons: [], ...instance });
      continue;
    }
    known.set(s.name, null);
    let reasons: string[];
    if (look.state === 'corrupt') reasons = [`cache entry corrupt (${look.reason})`];
    else if (!prev?.parts) reasons = ['no entry'];
    else {
      reasons = explainChange(s.name, prev.parts, parts);
      if (!reasons.length) reasons = ['no entry (removed by gc or a cleared cache)'];
    }
    plans.push({ name: s.name, kind: s.kind.kind, fingerprint: fp, state: 'will run', reasons, ...instance });
  }
  return plans;
}

/** How matrix stages expanded: one line per stage as written that has instances (or fans in). */
export function describeExpansion(pipeline: Pipeline): string[] {
  const lines: string[] = [];
  const byTemplate = new Map<string, typeof pipeline.stages>();
  for (const s of pipeline.stages) {
    const t = s.template ?? s.name;
    byTemplate.set(t, [...(byTemplate.get(t) ?? []), s]);
  }
  for (const [t, list] of byTemplate) {
    const first = list[0]!;
    if (first.template) {
      const dims = Object.keys(first.matrix ?? {});
      lines.push(`${t}: ${list.length} instance${list.length === 1 ? '' : 's'} over ${dims.join(' × ')} (${list.map((s) => s.name.slice(t.length + 1)).join('; ')})`);
    } else if (first.kind.fanIn && first.needs.some((n) => n.includes('@'))) {
      lines.push(`${t}: fans in ${first.needs.length} inputs (${first.needs.join(', ')})`);
    }
  }
  return lines;
}
