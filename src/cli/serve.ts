import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { defaultLocations } from '../engine/env.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return n;
}

/** `emopipe serve [--port 4800] [--host 127.0.0.1]` */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('browse runs, reports and experiments, and try a trained model, in the browser')
    .option('--port <n>', 'port to listen on', port, 4800)
    .option('--host <address>', 'address to bind (127.0.0.1: this machine only; 0.0.0.0 exposes it)', '127.0.0.1')
    .action(async (o: { port: number; host: string }) => {
      const { buildServer } = await import('../server/app.js');
      const { artifactsDir, cacheDir } = defaultLocations();
      const app = await buildServer({ artifactsDir, cacheDir });
      const address = await app.listen({ port: o.port, host: o.host });
      process.stderr.write(`emopipe serve: ${address}  (runs in ${artifactsDir}; Ctrl-C stops)\n`);
      if (!['127.0.0.1', '::1', 'localhost'].includes(o.host)) {
        process.stderr.write(`emopipe serve: listening on ${o.host}: anyone who can reach this address can read the runs and use the models (no authentication)\n`);
      }
      await new Promise<void>((resolve) => {
        const stop = () => void app.close().then(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
