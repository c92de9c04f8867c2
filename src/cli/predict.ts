import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Cache, defaultLocations, Registry } from '../engine/index.js';
import { EmopipeError } from '../util/errors.js';
import { printJson, positiveInt } from './common.js';
import { printSegments, segmentOptionsOf, writeSegmentOutputs, type SegmentFlags } from './predict-segments.js';
import { predictFiles } from '../predict/predict.js';
import { readFrontend, type FrontendConfig } from '../audio/frontend.js';

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
    .option('--separate-speakers', 'a model trained with mfcc.cmvn speaker: the files are different voices (normalise each by the average training speaker, not the files pooled)')
    .option('--segments', 'find the speech segments of recordings of any length and classify each one (see also --vad, --window, --hop)')
    .option('--vad <kind>', 'voice activity detector for --segments: silero or energy', 'silero')
    .option('--min-speech <s>', 'with --segments: drop speech shorter than this (s)', '0.25')
    .option('--min-silence <s>', 'with --segments: a pause this long (s) ends a segment', '0.5')
    .option('--max-segment <s>', 'with --segments: cut longer segments into equal parts (s; 0 = never)', '30')
    .option('--window <s>', "with --segments: window length (s); default and maximum: the model's input length")
    .option('--hop <s>', 'with --segments: step between windows of a long segment (s); default half the window')
    .option('--csv <file>', 'with --segments: write one row per segment to this CSV file')
    .option('--plot <file>', 'with --segments: draw the emotion timeline (.png or .svg)')
    .action(async (files: string[], o: { run?: string; model?: string; threads?: number; json?: boolean; separateSpeakers?: boolean } & SegmentFlags) => {
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
      if ((o.csv || o.plot) && !o.segments) throw new EmopipeError('E_USAGE', '--csv and --plot need --segments');
      if (o.segments) {
        const { predictSegments } = await import('../predict/segments.js');
        const out = await predictSegments(modelDir, files, frontend, segmentOptionsOf(o));
        await writeSegmentOutputs(out, o);
        if (o.json) printJson(out);
        else printSegments(out);
        for (const e of out.errors) process.stderr.write(`emopipe: ${e.file}: ${e.error}\n`);
        if (out.errors.length > 0) process.exitCode = 1;
        return;
      }
      const out = await predictFiles(modelDir, files, frontend, { threads: o.threads, separateSpeakers: o.separateSpeakers });
      if (o.json) {
        printJson(out);
      } else {
        for (const p of out.predictions) {
          const ranked = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]);
          const rest = ranked.map(([l, v]) => `${l} ${v.toFixed(3)}`).join('  ');
          process.stdout.write(`${p.file}: ${p.emotion} (${(ranked[0]![1] * 100).toFixed(1)}%)\n    ${rest}\n`);
        }
      }
      for (const p of out.predictions) if (p.note) process.stderr.write(`emopipe: ${p.file}: ${p.note}\n`);
      if (out.normalisation) process.stderr.write(`emopipe: ${out.normalisation}\n`);
      for (const e of out.errors) process.stderr.write(`emopipe: ${e.file}: ${e.error}\n`);
      // Some files failed: the others were still classified, but the exit code says so.
      if (out.errors.length > 0) process.exitCode = 1;
    });
}

/** The run's model (its cache entry, verified like any cache read) and the front end it was trained on (its frontend.json). */
async function modelOfRun(ref: string): Promise<{ modelDir: string; frontend: FrontendConfig }> {
  const loc = defaultLocations();
  const registry = new Registry(loc.artifactsDir);
  const run = registry.find(ref);
  const trains = run.stages.filter((s) => s.kind === 'train');
  if (trains.length > 1) {
    // A matrix run (k-fold CV) trained one model per instance: which one is the user's call.
    throw new EmopipeError('E_USAGE', `run ${run.run.slice(0, 12)} trained ${trains.length} models (${trains.map((s) => s.name).join(', ')}); choose one with --model DIR (its output directory: \`emopipe show ${run.run.slice(0, 12)}\`)`);
  }
  const train = trains[0];
  if (!train || !train.fingerprint) throw new EmopipeError('E_NOT_FOUND', `run ${run.run.slice(0, 12)} has no train stage output`);
  const entry = await new Cache(loc.cacheDir).require(train.fingerprint, `the model of run ${run.run.slice(0, 12)}`, `run \`emopipe reproduce ${run.run.slice(0, 12)}\` to recompute it`);
  return { modelDir: entry.dir, frontend: readFrontend(entry.dir) };
}
