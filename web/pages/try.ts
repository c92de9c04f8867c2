/**
 * "Try it": pick a trained run, then drop a WAV or record from the microphone; the model runs in
 * this page (ONNX Runtime Web) on features from emopipe's own front end.
 */
import type { RunSummary } from '../../src/server/summaries.js';
import { errorMessage } from '../../src/util/errors.js';
import { getJson, h, shortDate } from '../dom.js';
import { loadModel, predictSamples, predictWav, type BrowserModel, type BrowserPrediction } from '../inference.js';

const RECORD_SECONDS = 3;

function bars(p: BrowserPrediction): HTMLElement {
  const ranked = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1]);
  return h('div', { class: 'bars', 'data-testid': 'prediction', 'data-emotion': p.emotion, 'data-probabilities': JSON.stringify(Object.fromEntries(Object.keys(p.probabilities).map((l, i) => [l, p.raw[i]]))) },
    h('div', { class: 'top-emotion', 'data-testid': 'top-emotion' }, p.emotion),
    ranked.map(([label, v]) => h('div', { class: `bar${label === p.emotion ? ' top' : ''}` },
      h('span', {}, label), h('div', { class: 'track' }, h('div', { class: 'fill', style: `width:${(v * 100).toFixed(1)}%` })), h('span', { class: 'num' }, `${(v * 100).toFixed(1)} %`))));
}

/** Records `seconds` of mono audio from the microphone at the AudioContext's rate. */
async function record(seconds: number, onLevel: (s: string) => void): Promise<{ y: Float32Array; rate: number }> {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 } });
  const ctx = new AudioContext();
  try {
    await ctx.audioWorklet.addModule('/capture-worklet.js');
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, 'emopipe-capture');
    const chunks: Float32Array[] = [];
    let total = 0;
    const want = Math.round(seconds * ctx.sampleRate);
    await new Promise<void>((resolve) => {
      node.port.onmessage = (e: MessageEvent<Float32Array>) => {
        chunks.push(e.data);
        total += e.data.length;
        onLevel(`recording… ${(total / ctx.sampleRate).toFixed(1)} s`);
        if (total >= want) {
          node.port.onmessage = null;
          resolve();
        }
      };
      source.connect(node);
    });
    source.disconnect();
    const y = new Float32Array(total);
    let at = 0;
    for (const c of chunks) { y.set(c, at); at += c.length; }
    return { y: y.subarray(0, want), rate: ctx.sampleRate };
  } finally {
    for (const t of stream.getTracks()) t.stop();
    await ctx.close();
  }
}

export async function tryPage(view: HTMLElement, preselect?: string): Promise<void> {
  const { runs } = await getJson<{ runs: RunSummary[] }>('/api/runs');
  const trained = runs.filter((r) => r.trainStage && r.status === 'ok').reverse();
  if (trained.length === 0) {
    view.replaceChildren(h('h1', {}, 'Try it'), h('p', { class: 'muted' }, 'No trained model yet: run a pipeline with a train stage first (npx emopipe run pipelines/demo.yaml).'));
    return;
  }
  let model: BrowserModel | undefined;
  const status = h('p', { class: 'muted', 'data-testid': 'status' });
  const result = h('div', { id: 'result' });
  const picker = h('select', { id: 'model', 'aria-label': 'model', onchange: () => void choose() },
    trained.map((r) => h('option', { value: r.run.slice(0, 12), selected: preselect !== undefined && r.run.startsWith(preselect) },
      `${r.run.slice(0, 12)} · ${r.pipeline} · ${shortDate(r.startedAt)}${r.headline.accuracy !== undefined ? ` · val acc ${(r.headline.accuracy * 100).toFixed(1)} %` : ''}`)));
  const fileInput = h('input', { type: 'file', accept: '.wav,audio/wav', id: 'wav-file', onchange: () => { const f = fileInput.files?.[0]; if (f) void fromFile(f); } });
  const recordButton = h('button', { class: 'primary', id: 'record', onclick: () => void fromMic() }, `Record ${RECORD_SECONDS} s`);
  const drop = h('div', { class: 'drop', id: 'drop' }, 'Drop a WAV file here, or ', fileInput);
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); const f = e.dataTransfer?.files[0]; if (f) void fromFile(f); });

  const show = (p: BrowserPrediction, what: string) => { status.textContent = what; result.replaceChildren(bars(p)); };
  // errorMessage: "file.wav: what is wrong", as the CLI prints it.
  const fail = (e: unknown) => { status.textContent = ''; result.replaceChildren(h('p', { class: 'error', 'data-testid': 'error' }, errorMessage(e))); };

  async function choose(): Promise<void> {
    const r = trained.find((x) => x.run.startsWith(picker.value))!;
    status.textContent = `loading model ${r.run.slice(0, 12)}…`;
    model = undefined;
    recordButton.disabled = true;
    try {
      model = await loadModel(r.run.slice(0, 12), r.trainStage!);
      status.textContent = `model ${r.run.slice(0, 12)} ready: ${model.labels.length} classes, ${model.frontend.sampleRate} Hz, ${model.frontend.nMfcc} MFCCs × ${model.frontend.frames} frames`;
      status.setAttribute('data-ready', r.run.slice(0, 12));
      recordButton.disabled = false;
    } catch (e) {
      fail(e);
    }
  }

  async function fromFile(f: File): Promise<void> {
    if (!model) return;
    try {
      const t0 = performance.now();
      const p = await predictWav(model, new Uint8Array(await f.arrayBuffer()), f.name);
      show(p, `${f.name}: ${(performance.now() - t0).toFixed(0)} ms in this page`);
    } catch (e) {
      fail(e);
    }
  }

  async function fromMic(): Promise<void> {
    if (!model) return;
    recordButton.disabled = true;
    try {
      const { y, rate } = await record(RECORD_SECONDS, (s) => (status.textContent = s));
      show(await predictSamples(model, y, rate), `microphone: ${(y.length / rate).toFixed(1)} s at ${rate} Hz`);
    } catch (e) {
      fail(e);
    } finally {
      recordButton.disabled = false;
    }
  }

  view.replaceChildren(
    h('h1', {}, 'Try it'),
    h('p', { class: 'muted' }, 'The model and the feature extraction run in this page; no audio leaves the browser.'),
    h('div', { class: 'toolbar' }, h('label', {}, 'Model ', picker)),
    h('div', { class: 'toolbar' }, recordButton), drop, status, result,
  );
  await choose();
}
