import { Command, CommanderError } from 'commander';
import { exitCodeFor, printError } from './common.js';
import { registerCompareCommand } from './compare.js';
import { registerGcCommand } from './gc.js';
import { registerInspectCommand } from './inspect.js';
import { registerPredictCommand } from './predict.js';
import { registerRunCommands } from './run.js';
import { registerRunsCommands } from './runs.js';
import { registerStatusCommand } from './status.js';
import { registerWorkerCommand } from './worker.js';

/** emopipe's command line. Exit codes: 0 ok, 1 a stage failed, 2 bad usage or invalid pipeline, 130 interrupted. */
export function buildProgram(): Command {
  const program = new Command();
  program
    .name('emopipe')
    .description('declarative, content-hashed pipelines for speech emotion recognition')
    .showHelpAfterError('(see --help)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerRunCommands(program);
  registerStatusCommand(program);
  registerRunsCommands(program);
  registerCompareCommand(program);
  registerInspectCommand(program);
  registerGcCommand(program);
  registerPredictCommand(program);
  registerWorkerCommand(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

export async function runCli(argv: string[] = process.argv): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
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
