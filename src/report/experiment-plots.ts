/**
 * vega-lite specs for experiments: the spread of a metric over folds, and a metric against a
 * varied parameter (compare). Rendered by plots.ts's renderSvg like every other report plot.
 */
import type { TopLevelSpec } from 'vega-lite';

const CONFIG = {
  font: 'DejaVu Sans, Helvetica, Arial, sans-serif',
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const },
};

/** Per metric: one dot per fold, the mean as a tick and mean ± std as a bar. */
export function spreadSpec(rows: { metric: string; fold: string; value: number }[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    config: CONFIG,
    width: 360,
    height: 220,
    data: { values: rows },
    encoding: { x: { field: 'metric', type: 'nominal', title: null, axis: { labelAngle: 0 } } },
    layer: [
      {
        mark: { type: 'errorbar', extent: 'stdev', ticks: true },
        encoding: { y: { field: 'value', type: 'quantitative', title: 'value', scale: { domain: [0, 1] }, axis: { format: '.0%' } } },
      },
      { mark: { type: 'tick', color: '#b00020', thickness: 2 }, encoding: { y: { aggregate: 'mean', field: 'value', type: 'quantitative' } } },
      {
        mark: { type: 'point', filled: true, size: 60, opacity: 0.8 },
        encoding: { y: { field: 'value', type: 'quantitative' }, color: { field: 'fold', type: 'nominal', title: 'instance' } },
      },
    ],
  } as TopLevelSpec;
}

/**
 * A metric against one parameter: one point per run (with ± std bars when the metric is a
 * fold mean), numeric parameters on a linear axis (log when they span more than 20×).
 */
export function metricVsParamSpec(rows: { run: string; x: number | string; y: number; std?: number }[], param: string, metric: string): TopLevelSpec {
  const numeric = rows.every((r) => typeof r.x === 'number');
  const xs = rows.map((r) => r.x).filter((x): x is number => typeof x === 'number' && x > 0);
  const log = numeric && xs.length === rows.length && Math.max(...xs) / Math.min(...xs) > 20;
  const x = numeric
    ? { field: 'x', type: 'quantitative', title: param, scale: { zero: false, ...(log ? { type: 'log' } : {}) } }
    : { field: 'x', type: 'nominal', title: param, axis: { labelAngle: -30 } };
  const layers: unknown[] = [];
  if (rows.some((r) => r.std !== undefined)) {
    layers.push({
      transform: [{ filter: 'isValid(datum.std)' }, { calculate: 'datum.y - datum.std', as: 'lo' }, { calculate: 'datum.y + datum.std', as: 'hi' }],
      mark: { type: 'rule', color: '#888' },
      encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
    });
  }
  layers.push({
    mark: { type: 'point', filled: true, size: 70 },
    encoding: {
      x,
      y: { field: 'y', type: 'quantitative', title: metric, scale: { zero: false } },
      tooltip: [{ field: 'run' }, { field: 'x', title: param }, { field: 'y', title: metric }],
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${metric} against ${param}`,
    config: CONFIG,
    width: 320,
    height: 220,
    data: { values: rows },
    layer: layers,
  } as TopLevelSpec;
}
