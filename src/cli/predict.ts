import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultLocations, Registry } from '../engine/index.js';
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
        frontend = readFrontend(modelDir);
      } else {
        ({ modelDir, frontend } = modelOfRun(o.run!));
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

/** The run's model and the front end its resample and mfcc stages used. */
function modelOfRun(ref: string): { modelDir: string; frontend: FrontendConfig } {
  const registry = new Registry(defaultLocations().artifactsDir);
  const run = registry.find(ref);
  const resample = run.stages.find((s) => s.kind === 'resample');
  const mfcc = run.stages.find((s) => s.kind === 'mfcc');
  if (!resample || !mfcc) throw new EmopipeError('E_NOT_FOUND', `run ${run.run.slice(0, 12)} has no resample and mfcc stages to take the front end from`);
  const trains = run.stages.filter((s) => s.kind === 'train');
  if (trains.length > 1) {
    // A matrix run (k-fold CV) trained one model per instance: which one is the user's call.
    throw new EmopipeError('E_USAGE', `run ${run.run.slice(0, 12)} trained ${trains.length} models (${trains.map((s) => s.name).join(', ')}); choose one with --model DIR (its output directory: \`emopipe show ${run.run.slice(0, 12)}\`)`);
  }
  const train = trains[0];
  if (!train || !train.outputDir) throw new EmopipeError('E_NOT_FOUND', `run ${run.run.slice(0, 12)} has no train stage output`);
  if (!existsSync(train.outputDir)) {
    throw new EmopipeError('E_NOT_FOUND', `the model of run ${run.run.slice(0, 12)} is no longer in the cache (gc?): run \`emopipe reproduce ${run.run.slice(0, 12)}\``);
  }
  const frontend = frontendOf(mfcc.params as unknown as MfccParams, (resample.params as unknown as ResampleParams).rate);
  return { modelDir: train.outputDir, frontend };
}
