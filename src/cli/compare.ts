import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultLocations } from '../engine/env.js';
import { compareRuns, resolveRuns } from '../engine/experiment.js';
import { Registry } from '../engine/registry.js';
import { compareHtml, comparisonTable } from '../server/compare-view.js';
import { EmopipeError } from '../util/errors.js';
import { collect, printJson } from './common.js';
import { table } from './format.js';

interface CompareFlags {
  sort?: string;
  asc?: boolean;
  metric: string[];
  html?: string;
  json?: boolean;
}

export function registerCompareCommand(program: Command): void {
  program
    .command('compare')
    .description('compare runs: the parameters that differ, then the metrics, sorted by one metric')
    .argument('<refs...>', 'experiment ids (from --sweep) and/or run hashes (prefixes) or latest')
    .option('--sort <metric>', 'sort by this metric (STAGE.KEY or a unique KEY; default: a fold summary\'s test accuracy mean, else accuracy)')
    .option('--asc', 'ascending (default: best, i.e. highest, first)')
    .option('--metric <metric>', 'show this metric (repeatable; default: the sort metric\'s stage)', collect, [])
    .option('--html <file>', 'also write a page with the table and the sort metric plotted against each varied parameter')
    .option('--json', 'print the comparison as JSON on stdout')
    .action(async (refs: string[], flags: CompareFlags) => {
      const records = resolveRuns(new Registry(defaultLocations().artifactsDir), refs);
      if (!records.length) throw new EmopipeError('E_NOT_FOUND', `no runs for ${refs.join(' ')}`);
      const c = compareRuns(records, { sort: flags.sort, metrics: flags.metric, ascending: flags.asc });
      if (flags.html) {
        writeFileSync(flags.html, await compareHtml(c));
        process.stderr.write(`wrote ${flags.html}\n`);
      }
      if (flags.json) {
        printJson(c);
        return;
      }
      const { header, rows } = comparisonTable(c);
      const note = c.varied.length ? '' : '(no parameter differs between these runs)\n';
      process.stdout.write(`${note}${table(rows, header)}\nsorted by ${c.sortedBy ?? '(no metric)'}${c.ascending ? ' ascending' : ''}\n`);
    });
}
