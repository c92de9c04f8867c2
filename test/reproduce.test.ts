/**
 * "Reproducible by hash": two fresh runs of the demo pipeline (small settings, separate caches)
 * give byte-identical entries for every stage, and `reproduce --verify` recomputes them all
 * without the cache and finds the same content hashes. Guards against wall-clock data (epoch
 * seconds, samples/s) creeping back into hashed outputs such as history.json or train.json.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Rig, lastJson } from './helpers/rig.js';
import { packageRoot } from '../src/util/paths.js';
import { MANIFEST } from '../src/engine/cache.js';

const demo = join(packageRoot(), 'pipelines', 'demo.yaml');
const small = [
  'ingest.synth.clips_per_class=2', 'ingest.synth.speakers=4', 'ingest.synth.duration_s=1',
  'split.validation=["s03"]', 'split.test=["s04"]', 'mfcc.frames=40', 'train.epochs=2',
].flatMap((s) => ['--set', s]);

interface StageDoc { name: string; fingerprint: string; outputDir: string }

/** sha256 of every file under dir, by relative path; the cache's own manifest (creation time) aside. */
function fileHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (!(d === dir && e.name === MANIFEST)) out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

test('two fresh demo runs give byte-identical entries for every stage; reproduce --verify passes', { timeout: 300_000 }, async () => {
  const rigs = [new Rig(), new Rig()];
  try {
    const docs = [];
    for (const rig of rigs) {
      const r = await rig.cli(['run', demo, ...small, '--json']);
      assert.equal(r.code, 0, r.stderr);
      docs.push(lastJson<{ run: string; stages: StageDoc[] }>(r.stdout));
    }
    const [a, b] = docs as [{ run: string; stages: StageDoc[] }, { run: string; stages: StageDoc[] }];
    assert.equal(a.stages.length, 7);
    for (const [i, sa] of a.stages.entries()) {
      const sb = b.stages[i]!;
      assert.equal(sb.name, sa.name);
      assert.equal(sb.fingerprint, sa.fingerprint, `${sa.name}: same fingerprint`);
      assert.deepEqual(fileHashes(sb.outputDir), fileHashes(sa.outputDir), `${sa.name}: byte-identical output files`);
    }
    // Content hashes as recorded in the registry agree too (through `show`, not the registry's file).
    const shows = [];
    for (const [i, rig] of rigs.entries()) {
      const r = await rig.cli(['show', docs[i]!.run.slice(0, 12), '--json']);
      assert.equal(r.code, 0, r.stderr);
      shows.push(JSON.parse(r.stdout) as { stages: { name: string; contentHash: string }[]; metrics: Record<string, Record<string, unknown>> });
    }
    const hashes = shows.map((r) => r.stages.map((s) => `${s.name}:${s.contentHash}`));
    assert.deepEqual(hashes[1], hashes[0]);
    // Timings still reach the registry, outside the content hash.
    assert.equal(typeof shows[0]!.metrics.train?.train_samples_per_s, 'number');

    const verify = await rigs[0]!.cli(['reproduce', a.run.slice(0, 12), '--verify', '--json']);
    assert.equal(verify.code, 0, verify.stderr);
    const doc = lastJson<{ reproduced: boolean; stages: { stage: string; match: boolean }[] }>(verify.stdout);
    assert.equal(doc.reproduced, true);
    assert.deepEqual(doc.stages.filter((s) => !s.match), []);
    assert.equal(doc.stages.length, 7);
  } finally {
    for (const rig of rigs) rig.cleanup();
  }
});
