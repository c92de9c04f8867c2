/**
 * Report plots: vega-lite specs rendered to SVG by vega's headless View (no canvas needed),
 * and SVG → PNG through resvg with the system fonts. The plotting libraries are imported
 * lazily so that loading this module (and the CLI) stays cheap.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { SplitMetrics } from './metrics.js';

/** One row of train's history.json. Missing or null values are simply not drawn. */
export interface HistoryRow {
  epoch: number;
  loss?: number | null;
  accuracy?: number | null;
  val_loss?: number | null;
  val_accuracy?: number | null;
  lr?: number | null;
  seconds?: number | null;
}

/** Fonts named first exist on most Linux boxes (and resvg matches them); browsers fall back. */
const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';
const CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, anchor: 'start' as const },
};

/**
 * Heatmap of a confusion matrix: cells coloured by the row-normalised fraction (share of the
 * true class), labelled with the raw count; rows = true class, columns = predicted class.
 */
export function confusionSpec(m: Pick<SplitMetrics, 'labels' | 'confusionMatrix'>, title: string): TopLevelSpec {
  const values: { truth: string; predicted: string; count: number; fraction: number }[] = [];
  m.labels.forEach((truth, r) => {
    const row = m.confusionMatrix[r]!;
    const total = row.reduce((a, b) => a + b, 0);
    m.labels.forEach((predicted, c) => {
      values.push({ truth, predicted, count: row[c]!, fraction: total > 0 ? row[c]! / total : 0 });
    });
  });
  const cell = Math.max(28, Math.min(56, Math.floor(480 / Math.max(1, m.labels.length))));
  const size = cell * m.labels.length;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    config: CONFIG,
    width: size,
    height: size,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: m.labels, title: 'predicted', axis: { labelAngle: -40, orient: 'bottom' } },
      y: { field: 'truth', type: 'nominal', sort: m.labels, title: 'true' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'fraction',
            type: 'quantitative',
            title: 'share of row',
            scale: { domain: [0, 1], scheme: 'blues' },
            legend: { format: '.0%' },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: Math.max(10, Math.min(14, Math.floor(cell / 3))) },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.fraction > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

/**
 * Training curves per epoch: loss and val_loss, accuracy and val_accuracy, and the learning
 * rate, each panel with the best epoch (the one whose weights were kept) marked by a dashed rule.
 */
export function curvesSpec(history: HistoryRow[], bestEpoch?: number | null): TopLevelSpec {
  const panel = (fields: string[], title: string, yTitle: string, format?: string, step = false) => {
    const layers: any[] = [
      {
        transform: [{ fold: fields, as: ['series', 'value'] }, { filter: 'isValid(datum.value) && isFinite(datum.value)' }],
        // The learning rate holds for a whole epoch, so it is drawn as a step.
        mark: { type: 'line', point: history.length <= 60, ...(step ? { interpolate: 'step-after' } : {}) },
        encoding: {
          x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1 } },
          y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false }, axis: format ? { format } : {} },
          color: { field: 'series', type: 'nominal', title: null, sort: fields, ...(fields.length === 1 ? { legend: null } : {}) },
        },
      },
    ];
    if (bestEpoch !== undefined && bestEpoch !== null) {
      layers.push({
        data: { values: [{ epoch: bestEpoch, label: `best epoch ${bestEpoch}` }] },
        layer: [
          { mark: { type: 'rule', strokeDash: [4, 3], color: '#666' }, encoding: { x: { field: 'epoch', type: 'quantitative' } } },
          {
            mark: { type: 'text', align: 'left', dx: 3, dy: -4, baseline: 'bottom', color: '#444', fontSize: 10 },
            encoding: { x: { field: 'epoch', type: 'quantitative' }, y: { value: 0 }, text: { field: 'label' } },
          },
        ],
      });
    }
    return { title, width: 280, height: 200, layer: layers };
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    config: CONFIG,
    data: { values: history.map((r) => ({ ...r })) },
    hconcat: [
      panel(['loss', 'val_loss'], 'Loss', 'loss'),
      panel(['accuracy', 'val_accuracy'], 'Accuracy', 'accuracy', '.0%'),
      panel(['lr'], 'Learning rate', 'lr', '.1e', true),
    ],
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}

/** Render a vega-lite spec to a standalone SVG document. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return canonicalIds(await view.toSVG());
  } finally {
    view.finalize();
  }
}

/**
 * vega numbers gradient/clip ids with a process-wide counter, so the same plot rendered twice
 * in one process differs. Renumber them per document so equal inputs give equal files.
 */
function canonicalIds(svg: string): string {
  const ids = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) if (!ids.has(m[1]!)) ids.set(m[1]!, `vg${ids.size}`);
  if (ids.size === 0) return svg;
  return svg.replace(/(\sid="|url\(#|href="#)([^")]+)/g, (whole, lead: string, id: string) => {
    const mapped = ids.get(id);
    return mapped ? lead + mapped : whole;
  });
}

const RESVG_FONTS = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' };

/** Rasterise an SVG at `scale` × its own size. Text needs system fonts: check {@link pngFontsAvailable}. */
export async function svgToPng(svg: string, scale = 2): Promise<Buffer> {
  const { Resvg } = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, { font: RESVG_FONTS, fitTo: { mode: 'zoom', value: scale }, background: 'white' });
  return resvg.render().asPng();
}

let fontsProbe: Promise<boolean> | undefined;

/**
 * Whether resvg finds a font to draw text with: renders one line of text and looks for ink.
 * Without fonts a PNG would silently lose every label, so callers write SVG only instead.
 */
export function pngFontsAvailable(): Promise<boolean> {
  fontsProbe ??= (async () => {
    const { Resvg } = await import('@resvg/resvg-js');
    const probe = `<svg xmlns="http://www.w3.org/2000/svg" width="60" height="20"><text x="2" y="15" font-size="14" font-family="${FONT}">Ag8</text></svg>`;
    const pixels = new Resvg(probe, { font: RESVG_FONTS }).render().pixels;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) return true;
    return false;
  })().catch(() => false);
  return fontsProbe;
}
