import { Command, CommanderError } from 'commander';
import { exitCodeFor, printError } from './common.js';

type Register = (program: Command) => void;

/**
 * Each command's module, loaded only when that command runs: `runs` or `show` need not load the
 * pipeline validator, the engine or the server (their imports cost ~0.3 s of start-up).
 */
const COMMAND_MODULES: { names: string[]; load: () => Promise<Register> }[] = [
  { names: ['run', 'reproduce'], load: async () => (await import('./run.js')).registerRunCommands },
  { names: ['status'], load: async () => (await import('./status.js')).registerStatusCommand },
  { names: ['runs', 'show', 'diff'], load: async () => (await import('./runs.js')).registerRunsCommands },
  { names: ['compare'], load: async () => (await import('./compare.js')).registerCompareCommand },
  { names: ['inspect'], load: async () => (await import('./inspect.js')).registerInspectCommand },
  { names: ['gc'], load: async () => (await import('./gc.js')).registerGcCommand },
  { names: ['predict'], load: async () => (await import('./predict.js')).registerPredictCommand },
  { names: ['serve'], load: async () => (await import('./serve.js')).registerServeCommand },
  { names: ['worker'], load: async () => (await import('./worker.js')).registerWorkerCommand },
];

/** emopipe's command line. Exit codes: 0 ok, 1 a stage failed, 2 bad usage or invalid pipeline, 130 interrupted. */
export async function buildProgram(argv: readonly string[] = process.argv): Promise<Command> {
  const program = new Command();
  program
    .name('emopipe')
    .description('declarative, content-hashed pipelines for speech emotion recognition')
    .showHelpAfterError('(see --help)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  // The command is the first argument that is not an option; help, unknown commands and no
  // command at all load every module, so --help lists them all.
  const name = argv.slice(2).find((a) => !a.startsWith('-'));
  const known = COMMAND_MODULES.filter((m) => name !== undefined && m.names.includes(name));
  for (const m of known.length ? known : COMMAND_MODULES) (await m.load())(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function runCli(argv: string[] = process.argv): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and --version end here with exit code 0.
      return e.exitCode === 0 ? 0 : 2;
    }
    printError(e);
    return exitCodeFor(e);
  }
}
