import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Cache, defaultLocations, Registry } from '../engine/index.js';
import { EmopipeError } from '../util/errors.js';
import { printJson, positiveInt } from './common.js';
import { predictFiles, readFrontend } from '../predict/predict.js';
import { frontendOf, type FrontendConfig, type MfccParams } from '../stages/mfcc.js';
import type { ResampleParams } from '../stages/resample.js';

/** `emopipe predict (--run HASH | --model DIR) FILE... [--json]` */
export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('classify WAV files with a trained model, using the front end (rate, MFCC parameters) of the run that trained it')
    .argument('<files...>', 'WAV files to classify')
    .option('--run <hash>', 'a recorded run (hash prefix or "latest") whose train stage made the model')
    .option('--model <dir>', 'a train stage output directory (model.onnx, labels.json, frontend.json)')
    .option('--threads <n>', 'inference threads', positiveInt)
    .option('--json', 'print one JSON document {predictions, errors} on stdout')
    .action(async (files: string[], o: { run?: string; model?: string; threads?: number; json?: boolean }) => {
      if (!!o.run === !!o.model) throw new EmopipeError('E_USAGE', 'predict needs exactly one of --run HASH or --model DIR');
      let modelDir: string;
      let frontend: FrontendConfig;
      if (o.model) {
        modelDir = resolve(o.model);
        await Cache.requireIfEntry(modelDir, `the model in ${modelDir}`);
        frontend = readFrontend(modelDir);
      } else {
        ({ modelDir, frontend } = await modelOfRun(o.run!));
      }
      const out = await predictFiles(modelDir, files, frontend, { threads: o.threads });
      if (o.json) {
        printJson(out);
      } else {
        for (const p of out.predictions) {
          const ranked = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]);
          const rest = ranked.map(([l, v]) => `${l} ${v.toFixed(3)}`).join('  ');
          process.stdout.write(`${p.file}: ${p.emotion} (${(ranked[0]![1] * 100).toFixed(1)}%)\n    ${rest}\n`);
        }
      }
      for (const e of out.errors) process.stderr.write(`emopipe: ${e.file}: ${e.error}\n`);
      // Some files failed: the others were still classified, but the exit code says so.
      if (out.errors.length > 0) process.exitCode = 1;
    });
}

/** The run's model (its cache entry, verified like any cache read) and the front end its resample and mfcc stages used. */
async function modelOfRun(ref: string): Promise<{ modelDir: string; frontend: FrontendConfig }> {
  const loc = defaultLocations();
  const registry = new Registry(loc.artifactsDir);
  const run = registry.find(ref);
  const resample = run.stages.find((s) => s.kind === 'resample');
  const mfcc = run.stages.find((s) => s.kind === 'mfcc');
  if (!resample || !mfcc) throw new EmopipeError('E_NOT_FOUND', `run ${run.run.slice(0, 12)} has no resample and mfcc stages to take the front end from`);
  const train = run.stages.find((s) => s.kind === 'train');
  if (!train || !train.fingerprint) throw new EmopipeError('E_NOT_FOUND', `run ${run.run.slice(0, 12)} has no train stage output`);
  const entry = await new Cache(loc.cacheDir).require(train.fingerprint, `the model of run ${run.run.slice(0, 12)}`, `run \`emopipe reproduce ${run.run.slice(0, 12)}\` to recompute it`);
  const frontend = frontendOf(mfcc.params as unknown as MfccParams, (resample.params as unknown as ResampleParams).rate);
  return { modelDir: entry.dir, frontend };
}
