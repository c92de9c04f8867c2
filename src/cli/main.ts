import { runCli } from './program.js';

// The executable entry (bin/emopipe.js imports this module).
const code = await runCli();
process.exitCode = code;
// Stage code may leave handles open (thread pools, native sessions); do not let them keep a
// finished command alive. The timer is unref'd, so a clean process exits before it fires.
setTimeout(() => process.exit(code), 2000).unref();
