/** A small SVG line chart (no library needed for a few series of a few hundred points). */
const NS = 'http://www.w3.org/2000/svg';
const COLOURS = ['#3d63dd', '#e5484d', '#30a46c', '#f76b15'];

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export function lineChart(title: string, x: number[], series: { name: string; values: (number | undefined)[] }[], width = 420, height = 220): SVGElement {
  const pad = { l: 46, r: 10, t: 24, b: 30 };
  const all = series.flatMap((s) => s.values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)));
  const lo = Math.min(...all);
  const hi = Math.max(...all);
  const span = hi - lo || 1;
  const xs = (i: number) => pad.l + ((x[i]! - x[0]!) / Math.max(1, x[x.length - 1]! - x[0]!)) * (width - pad.l - pad.r);
  const ys = (v: number) => height - pad.b - ((v - lo) / span) * (height - pad.t - pad.b);
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title, class: 'chart' });
  svg.append(el('text', { x: pad.l, y: 15, 'font-size': 12, 'font-weight': 600 }, title));
  svg.append(el('line', { x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b, stroke: '#ccc' }));
  for (const v of [lo, lo + span / 2, hi]) svg.append(el('text', { x: pad.l - 4, y: ys(v) + 4, 'font-size': 10, 'text-anchor': 'end', fill: '#687385' }, v.toFixed(2)));
  svg.append(el('text', { x: width - pad.r, y: height - 8, 'font-size': 10, 'text-anchor': 'end', fill: '#687385' }, `epoch ${x[x.length - 1] ?? ''}`));
  series.forEach((s, k) => {
    const pts = s.values.flatMap((v, i) => (typeof v === 'number' && Number.isFinite(v) ? [`${xs(i).toFixed(1)},${ys(v).toFixed(1)}`] : []));
    if (!pts.length) return;
    const colour = COLOURS[k % COLOURS.length]!;
    svg.append(el('polyline', { points: pts.join(' '), fill: 'none', stroke: colour, 'stroke-width': 1.6 }));
    svg.append(el('text', { x: pad.l + 8 + k * 90, y: pad.t + 8, 'font-size': 10, fill: colour }, s.name));
  });
  return svg;
}
