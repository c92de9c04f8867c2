import type { Command } from 'commander';
import { loadPipeline, selectStages } from '../engine/config.js';
import { defaultLocations } from '../engine/env.js';
import { describeExpansion, planPipeline } from '../engine/status.js';
import { collect, printJson } from './common.js';
import { loadKinds } from './kinds.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('what `run` would do: per stage, cached or will run, and why')
    .argument('<pipeline>', 'pipeline YAML file')
    .argument('[stages...]', 'only these stages and what they need')
    .option('--set <key=value>', 'parameter override, as for run; repeatable', collect, [])
    .option('--json', 'print the plan as JSON on stdout')
    .action(async (file: string, stages: string[], flags: { set: string[]; json?: boolean }) => {
      const kinds = await loadKinds();
      const pipeline = selectStages(loadPipeline(file, { kinds, overrides: flags.set }), stages);
      const plan = await planPipeline(pipeline, defaultLocations());
      if (flags.json) {
        printJson({ pipeline: pipeline.name, stages: plan });
        return;
      }
      const expansion = describeExpansion(pipeline);
      if (expansion.length) process.stdout.write(`matrix:\n${expansion.map((l) => `  ${l}\n`).join('')}\n`);
      const width = Math.max(...plan.map((p) => p.name.length));
      for (const p of plan) {
        const mark = p.state === 'cached' ? '•' : p.state === 'will run' ? '▶' : '?';
        const why = p.reasons.length ? `  ${p.reasons.join('; ')}` : '';
        process.stdout.write(`${mark} ${p.name.padEnd(width)}  ${p.state.padEnd(8)}${why}`.trimEnd() + '\n');
      }
    });
}
