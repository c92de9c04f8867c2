import type { Command } from 'commander';
import { defaultLocations } from '../engine/env.js';
import { collectGarbage } from '../engine/gc.js';
import { isRemoteCache, openCacheBackend } from '../engine/remote/location.js';
import { nonNegativeInt, printJson } from './common.js';
import { formatBytes } from './format.js';

export function registerGcCommand(program: Command): void {
  program
    .command('gc')
    .description('drop cache entries that no kept run references (an s3:// cache: its objects too)')
    .option('--keep-last <n>', 'keep entries of the last N distinct runs (default: every recorded run)', nonNegativeInt)
    .option('--dry-run', 'say what would be removed, remove nothing')
    .option('--json', 'print the result as JSON')
    .action(async (flags: { keepLast?: number; dryRun?: boolean; json?: boolean }) => {
      const r = collectGarbage({ ...defaultLocations(), keepLast: flags.keepLast, dryRun: flags.dryRun });
      // Something could not be removed (a read-only cache …): say so and fail, never claim it.
      if (r.failed.length) process.exitCode = 1;
      for (const id of r.invalidRuns) process.stderr.write(`emopipe: gc: ignoring a registry record whose run id ${JSON.stringify(id)} is not a run hash\n`);
      let remote;
      if (isRemoteCache()) {
        const { collectGarbageS3 } = await import('../engine/remote/remote-gc.js');
        const backend = (await openCacheBackend()) as import('../engine/remote/s3-backend.js').S3Backend;
        try {
          remote = await collectGarbageS3(backend, { artifactsDir: defaultLocations().artifactsDir, keepLast: flags.keepLast, dryRun: flags.dryRun });
        } finally {
          backend.close();
        }
      }
      if (flags.json) {
        printJson(remote ? { ...r, remote } : r);
        return;
      }
      const bytes = r.removedEntries.reduce((a, e) => a + e.bytes, 0);
      const verb = r.dryRun ? 'would remove' : 'removed';
      for (const e of r.removedEntries) process.stdout.write(`${verb} ${e.fingerprint.slice(0, 12)}  ${formatBytes(e.bytes)}\n`);
      process.stdout.write(
        `${verb} ${r.removedEntries.length} entries (${formatBytes(bytes)}), ${r.removedViews.length} run views, ${r.removedTmp.length} stale temp dirs; kept ${r.keptEntries} entries of ${r.keptRuns.length} runs\n`,
      );
      if (r.failed.length) {
        process.stderr.write(`emopipe: gc could not remove ${r.failed.length} item(s):\n`);
        for (const f of r.failed.slice(0, 10)) process.stderr.write(`  ${f.what}: ${f.error}\n`);
        if (r.failed.length > 10) process.stderr.write(`  … and ${r.failed.length - 10} more\n`);
      }
      if (remote) {
        const rb = remote.removedEntries.reduce((a, e) => a + e.bytes, 0);
        for (const e of remote.removedEntries) process.stdout.write(`${verb} ${e.fingerprint.slice(0, 12)}  ${formatBytes(e.bytes)}  (${remote.store})\n`);
        process.stdout.write(`${remote.store}: ${verb} ${remote.removedEntries.length} entries (${formatBytes(rb)}) and ${remote.removedBlobs} unreferenced objects; kept ${remote.keptEntries} entries\n`);
      }
    });
}
