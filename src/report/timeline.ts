/**
 * The emotion timeline of `predict --segments --plot FILE`: one row per file, one bar per speech
 * segment from its start to its end, coloured by emotion, opacity = the emotion's probability.
 * Rendered by the evaluation report's path (vega-lite → SVG, resvg → PNG).
 */
import { writeFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { EmopipeError } from '../util/errors.js';
import { pngFontsAvailable, renderSvg, svgToPng } from './plots.js';

export interface TimelineFile {
  file: string;
  durationS: number;
  segments: { start: number; end: number; emotion: string; probabilities: Record<string, number> }[];
}

export function timelineSpec(files: TimelineFile[], labels: string[]): TopLevelSpec {
  // Two files of the same name in different folders keep distinct rows.
  const names = files.map((f) => f.file);
  const short = names.map((n) => basename(n));
  const rowName = (i: number) => (short.filter((s) => s === short[i]).length > 1 ? names[i]! : short[i]!);
  const values = files.flatMap((f, i) => f.segments.map((s) => ({
    file: rowName(i), start: s.start, end: s.end, emotion: s.emotion,
    confidence: Math.round((s.probabilities[s.emotion] ?? 0) * 1000) / 1000,
  })));
  const longest = Math.max(1, ...files.map((f) => f.durationS));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Emotion per speech segment (opacity = confidence)',
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', background: 'white', view: { stroke: '#ddd' }, title: { fontSize: 14, anchor: 'start' } },
    width: 800,
    height: { step: 28 },
    data: { values },
    mark: { type: 'bar', cornerRadius: 2 },
    encoding: {
      y: { field: 'file', type: 'nominal', sort: files.map((_, i) => rowName(i)), title: null },
      x: { field: 'start', type: 'quantitative', title: 'time (s)', scale: { domain: [0, longest], nice: false } },
      x2: { field: 'end' },
      color: { field: 'emotion', type: 'nominal', scale: { domain: labels, scheme: 'category10' }, title: 'emotion' },
      opacity: { field: 'confidence', type: 'quantitative', scale: { domain: [0, 1], range: [0.15, 1] }, title: 'confidence' },
      tooltip: [{ field: 'file' }, { field: 'start' }, { field: 'end' }, { field: 'emotion' }, { field: 'confidence' }],
    },
  } as TopLevelSpec;
}

/** Writes the timeline to `path`: SVG for .svg, PNG for .png. Returns a warning, if any. */
export async function writeTimeline(path: string, files: TimelineFile[], labels: string[]): Promise<string | undefined> {
  const ext = extname(path).toLowerCase();
  if (ext !== '.png' && ext !== '.svg') throw new EmopipeError('E_USAGE', `--plot ${path}: the file name must end in .png or .svg`);
  const svg = await renderSvg(timelineSpec(files, labels));
  if (ext === '.svg') {
    writeFileSync(path, svg);
    return undefined;
  }
  writeFileSync(path, await svgToPng(svg));
  return (await pngFontsAvailable()) ? undefined : `${path}: no system fonts found, the PNG has no text; write .svg instead`;
}
