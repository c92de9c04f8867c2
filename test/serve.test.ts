/**
 * `emopipe serve`: the HTTP API (every endpoint, with bad input) and the pages in a real browser
 * (Chromium via playwright-core), on one small trained demo run shared by all tests.
 * The browser's features must equal Node's within 1e-4 and its probabilities `predict --json`'s.
 * EMOPIPE_UPDATE_SCREENSHOTS=1 writes the two screenshots into docs/ (committed, shown in the README).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { Rig, lastJson } from './helpers/rig.js';
import { chromiumPath, launchChromium, NO_CHROMIUM } from './helpers/browser.js';
import { packageRoot, sharedDir } from '../src/util/paths.js';
import { buildServer } from '../src/server/app.js';
import { loadAudio } from '../src/audio/frontend.js';
import { mfccFrames } from '../src/audio/mfcc.js';
import { mfccOptionsOf, type FrontendConfig } from '../src/stages/mfcc.js';
import { featuresOfWav } from '../src/predict/wav-features.js';
import { Registry, type RunRecord } from '../src/engine/registry.js';

const demo = join(packageRoot(), 'pipelines', 'demo.yaml');
// As small as a run with every stage gets: 3 speakers x 8 classes x 2 clips, no augmentation, 1 epoch.
const small = ['ingest.synth.clips_per_class=2', 'ingest.synth.speakers=3', 'split.validation=["s02"]', 'split.test=["s03"]', 'augment.copies=[]', 'train.epochs=1'];
const set = (list: string[]) => list.flatMap((s) => ['--set', s]);

interface Trained {
  run: string;
  id: string;
  second: string;
  trainDir: string;
  evalDir: string;
  frontend: FrontendConfig;
  labels: string[];
  wav: string;
  cliPrediction: { emotion: string; probabilities: Record<string, number> };
}

const rig = new Rig();
let trained: Trained;
let app: FastifyInstance;
let base: string;

before(async () => {
  const first = await rig.cli(['run', demo, ...set(small), '--json']);
  assert.equal(first.code, 0, first.stderr);
  const doc = lastJson(first.stdout);
  // A second run differing only in evaluate's parameters: something to diff, cheaply.
  const second = await rig.cli(['run', demo, ...set([...small, 'evaluate.png=false']), '--json']);
  assert.equal(second.code, 0, second.stderr);
  const dirOf = (name: string) => doc.stages.find((s: { name: string }) => s.name === name).outputDir as string;
  // A shared RAVDESS clip (48 kHz: the resampler runs) where the shared data is present, else a demo clip.
  const ravdess = join(sharedDir(), 'data', 'ravdess', 'Actor_01', '03-01-05-01-01-01-01.wav');
  const ingest = JSON.parse(readFileSync(join(dirOf('ingest'), 'manifest.json'), 'utf8'));
  const wav = existsSync(ravdess) ? ravdess : join(dirOf('ingest'), ingest.root, ingest.rows[0].path);
  const pred = await rig.cli(['predict', '--run', doc.run.slice(0, 12), wav, '--json']);
  assert.equal(pred.code, 0, pred.stderr);
  trained = {
    run: doc.run,
    id: doc.run.slice(0, 12),
    second: lastJson(second.stdout).run.slice(0, 12),
    trainDir: dirOf('train'),
    evalDir: dirOf('evaluate'),
    frontend: JSON.parse(readFileSync(join(dirOf('train'), 'frontend.json'), 'utf8')),
    labels: JSON.parse(readFileSync(join(dirOf('train'), 'labels.json'), 'utf8')),
    wav,
    cliPrediction: JSON.parse(pred.stdout).predictions[0],
  };
  app = await buildServer({ artifactsDir: rig.artifactsDir, cacheDir: rig.cacheDir });
  base = await app.listen({ port: 0, host: '127.0.0.1' });
});

after(async () => {
  await app?.close();
  rig.cleanup();
});

const json = async (path: string, init?: RequestInit) => {
  const res = await fetch(base + path, init);
  const text = await res.text();
  assert.doesNotMatch(text, /\n\s+at /, `${path}: no stack trace in the response`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: JSON.parse(text) };
};
const wavPost = (query: string, body: Uint8Array | string, type = 'audio/wav') =>
  json(`/api/predict${query}`, { method: 'POST', headers: { 'content-type': type }, body: body as unknown as BodyInit });

describe('API', () => {
  test('GET /api/runs lists both runs with headline metrics and the model to try', async () => {
    const { status, body } = await json('/api/runs');
    assert.equal(status, 200);
    assert.equal(body.runs.length, 2);
    const r = body.runs.find((x: { run: string }) => x.run === trained.run);
    const metrics = JSON.parse(readFileSync(join(trained.evalDir, 'metrics.json'), 'utf8'));
    assert.equal(r.pipeline, 'demo');
    assert.equal(r.status, 'ok');
    assert.equal(r.trainStage, 'train');
    assert.equal(r.headline.accuracy, metrics.validation.accuracy);
    assert.equal(r.headline.testUar, metrics.test.uar);
    assert.equal(r.experiment, null);
  });

  test('GET /api/runs/:id: the record (as `show --json`), by prefix or latest, with servable files', async () => {
    const { status, body } = await json(`/api/runs/${trained.id}`);
    assert.equal(status, 200);
    assert.equal(body.run, trained.run);
    assert.match(body.resolvedYaml, /uses: train/);
    assert.deepEqual(body.stages.map((s: { name: string }) => s.name), ['ingest', 'split', 'resample', 'augment', 'mfcc', 'train', 'evaluate']);
    assert.ok(body.files.train.some((f: { path: string }) => f.path === 'model.onnx'));
    assert.equal((await json('/api/runs/latest')).body.run.slice(0, 12), trained.second);
  });

  test('GET /api/runs/:id rejects malformed and unknown ids with a JSON 404', async () => {
    for (const id of ['zz', 'abc', '..%2F..%2Fetc', 'ffffffffffff', '%00', 'a'.repeat(65)]) {
      const { status, body } = await json(`/api/runs/${id}`);
      assert.equal(status, 404, id);
      assert.equal(body.code, 'E_NOT_FOUND');
      assert.match(body.error, /no run matches/);
    }
  });

  test('files: only those in a stage\'s cache entry manifest are served; no traversal', async () => {
    const ok = await fetch(`${base}/api/runs/${trained.id}/files/train/frontend.json`);
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('content-type')!, /application\/json/);
    assert.deepEqual(await ok.json(), trained.frontend);
    const svg = await fetch(`${base}/api/runs/${trained.id}/files/evaluate/curves.svg`);
    assert.equal(svg.headers.get('content-type'), 'image/svg+xml');
    for (const bad of [
      'train/..%2F..%2F..%2Fartifacts%2Fruns.json', 'train/%2Fetc%2Fpasswd', 'train/.emopipe-entry.json',
      'nosuchstage/model.onnx', 'train/model.onnx%00', '..%2Ftrain/model.onnx', 'train/weights.bin/..%2Fmodel.onnx',
    ]) {
      const { status, body } = await json(`/api/runs/${trained.id}/files/${bad}`);
      assert.equal(status, 404, bad);
      assert.equal(body.code, 'E_NOT_FOUND');
    }
  });

  test('GET /api/diff: parameter and metric changes like `emopipe diff`; bad input is a JSON error', async () => {
    const { status, body } = await json(`/api/diff?a=${trained.id}&b=${trained.second}`);
    assert.equal(status, 200);
    assert.ok(body.params.some((p: string) => p.includes('evaluate.png')), JSON.stringify(body.params));
    assert.equal(body.a.run, trained.run);
    assert.equal((await json('/api/diff?a=' + trained.id)).status, 400);
    assert.equal((await json(`/api/diff?a=${trained.id}&b=../x`)).status, 404);
  });

  test('GET /api/experiments groups runs by their experiment', async () => {
    assert.deepEqual((await json('/api/experiments')).body, { experiments: [] });
    const rec = new Registry(rig.artifactsDir).list()[0]!;
    const fake: RunRecord[] = ['lr-sweep', 'lr-sweep', null].map((experiment, i) => ({ ...rec, run: `${i}`.repeat(64), experiment }) as RunRecord);
    const other = await buildServer({ artifactsDir: rig.artifactsDir, cacheDir: rig.cacheDir, runs: { list: () => fake, find: () => undefined } });
    try {
      const res = await other.inject({ url: '/api/experiments' });
      const body = res.json();
      assert.deepEqual(body.experiments.map((e: { name: string; runs: unknown[] }) => [e.name, e.runs.length]), [['lr-sweep', 2]]);
      // One experiment compared: `emopipe compare`'s JSON and page; an unknown id is a JSON 404.
      const cmp = await other.inject({ url: '/api/experiments/lr-sweep/compare' });
      assert.equal(cmp.statusCode, 200);
      assert.equal(cmp.json().runs.length, 2);
      const page = await other.inject({ url: '/experiments/lr-sweep/compare.html' });
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['content-type']), /text\/html/);
      assert.match(page.body, /<table/);
      assert.match(String(page.headers['content-security-policy']), /sandbox/);
      const missing = await other.inject({ url: '/api/experiments/..%2F..%2Fetc/compare' });
      assert.equal(missing.statusCode, 404);
      assert.equal(missing.json().code, 'E_NOT_FOUND');
    } finally {
      await other.close();
    }
  });

  test('a run recorded while the server is up appears in /api/runs (the kept list follows the registry)', async () => {
    const dir = join(rig.dir, 'live-artifacts');
    const registry = new Registry(dir);
    const live = await buildServer({ artifactsDir: dir, cacheDir: rig.cacheDir });
    try {
      assert.deepEqual((await live.inject({ url: '/api/runs' })).json(), { runs: [] });
      const rec = new Registry(rig.artifactsDir).list()[0]!;
      await registry.add(rec);
      assert.equal((await live.inject({ url: '/api/runs' })).json().runs.length, 1);
      await registry.add({ ...rec, run: 'ab'.repeat(32) });
      assert.equal((await live.inject({ url: '/api/runs' })).json().runs.length, 2);
      assert.equal((await live.inject({ url: '/api/runs/abab' })).json().run, 'ab'.repeat(32));
      assert.equal((await live.inject({ url: '/api/runs/latest' })).json().run, 'ab'.repeat(32));
    } finally {
      await live.close();
    }
  });

  test('POST /api/predict?run= and ?model= give `predict --json`\'s answer', async () => {
    const bytes = readFileSync(trained.wav);
    for (const q of [`?run=${trained.id}`, `?model=${encodeURIComponent(trained.trainDir)}`]) {
      const { status, body } = await wavPost(q, bytes);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.emotion, trained.cliPrediction.emotion);
      for (const l of trained.labels) assert.ok(Math.abs(body.probabilities[l] - trained.cliPrediction.probabilities[l]!) < 1e-4, l);
    }
  });

  test('POST /api/predict: bad input gets a JSON error naming the problem', async () => {
    const bytes = readFileSync(trained.wav);
    const cases: [string, Uint8Array | string, string, number, RegExp][] = [
      [`?run=${trained.id}`, 'RIFF\x10\0\0\0WAVEfmt junk', 'audio/wav', 422, /WAV|RIFF|fmt|truncated/i],
      [`?run=${trained.id}`, 'hello, not audio at all', 'audio/wav', 422, /RIFF|WAV/i],
      [`?run=${trained.id}`, '', 'audio/wav', 400, /body must be a WAV/],
      [`?run=${trained.id}`, 'x', 'image/png', 415, /Content-Type/],
      ['', bytes, 'audio/wav', 400, /exactly one of/],
      [`?run=${trained.id}&model=${encodeURIComponent(trained.trainDir)}`, bytes, 'audio/wav', 400, /exactly one of/],
      ['?run=ffffffffffff', bytes, 'audio/wav', 404, /no run matches/],
      ['?run=../../etc', bytes, 'audio/wav', 404, /no run matches/],
      ['?model=/etc', bytes, 'audio/wav', 403, /not a train stage output/],
      [`?model=${encodeURIComponent(join(trained.trainDir, '..', '..', '..'))}`, bytes, 'audio/wav', 403, /not a train stage output/],
    ];
    for (const [q, body, type, status, message] of cases) {
      const res = await wavPost(q, body, type);
      assert.equal(res.status, status, `${q} ${type}: ${JSON.stringify(res.body)}`);
      assert.match(res.body.error, message, q);
      assert.equal(typeof res.body.code, 'string');
    }
  });

  test('POST /api/predict: uploads over the limit are refused with 413', async () => {
    const small = await buildServer({ artifactsDir: rig.artifactsDir, cacheDir: rig.cacheDir, uploadLimit: 4096 });
    try {
      const res = await small.inject({ method: 'POST', url: `/api/predict?run=${trained.id}`, headers: { 'content-type': 'audio/wav' }, payload: readFileSync(trained.wav) });
      assert.equal(res.statusCode, 413);
      assert.match(res.json().error, /larger than the limit/);
    } finally {
      await small.close();
    }
  });

  test('pages and every asset they load are served locally (no CDN); unknown paths are JSON 404s', async () => {
    const res = await fetch(base + '/');
    assert.match(res.headers.get('content-security-policy')!, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
    const index = await res.text();
    assert.match(index, /<script type="module" src="\/app.js">/);
    assert.doesNotMatch(index, /(src|href)="(https?:)?\/\//, 'no external scripts or styles');
    const urls = ['/app.js', '/style.css', '/capture-worklet.js', '/vendor/ort/ort-wasm-simd-threaded.wasm', '/vendor/pffft/simd/pffft.wasm', '/vendor/pffft/simd/pffft.js'];
    for (const u of urls) assert.equal((await fetch(base + u)).status, 200, u);
    const missing = await json('/nope/../../etc/passwd');
    assert.equal(missing.status, 404);
  });

  test('`emopipe serve` binds 127.0.0.1 by default', async () => {
    const child = rig.spawn(['serve', '--port', '0']);
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d) => {
          err += d;
          const m = /(http:\/\/\S+)/.exec(err);
          if (m) resolve(m[1]!);
        });
        child.on('close', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
      });
      assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${address}/api/runs`);
      assert.equal((await res.json()).runs.length, 2);
      child.kill('SIGTERM');
      const code = await new Promise((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, 'SIGTERM closes the server cleanly');
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('the shared feature code equals predict\'s path (loadAudio + mfccOptionsOf) exactly', () => {
    const node = mfccFrames(loadAudio(trained.wav, trained.frontend.sampleRate).y, mfccOptionsOf(trained.frontend)).data;
    assert.deepEqual(featuresOfWav(readFileSync(trained.wav), trained.frontend), node);
  });
});

describe('pages in Chromium', { skip: chromiumPath() ? false : NO_CHROMIUM }, () => {
  let browser: Browser;
  const shots = process.env.EMOPIPE_UPDATE_SCREENSHOTS ? join(packageRoot(), 'docs') : join(rig.dir, 'shots');

  before(async () => {
    browser = await launchChromium();
    mkdirSync(shots, { recursive: true });
  });
  after(async () => browser?.close());

  test('the runs list shows the demo run', async () => {
    const page = await browser.newPage({ viewport: { width: 1100, height: 260 } });
    await page.goto(`${base}/#/runs`);
    const row = page.locator(`#runs tr[data-run="${trained.run}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /demo\s+ok/);
    assert.equal(await page.locator('#runs tbody tr').count(), 2);
    await page.screenshot({ path: join(shots, 'serve-runs.png') });
    // Tick both runs and diff them: the one parameter that differs is listed.
    const boxes = page.locator('#runs tbody input[type=checkbox]');
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await page.getByRole('button', { name: 'Diff the two selected' }).click();
    await page.locator('#param-changes').waitFor();
    assert.match(await page.locator('#param-changes').innerText(), /evaluate\.png/);
    await page.close();
  });

  test('the run page shows its confusion matrix', async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/#/run/${trained.id}`);
    const table = page.locator('[data-testid=confusion-validation]');
    await table.waitFor();
    const metrics = JSON.parse(readFileSync(join(trained.evalDir, 'metrics.json'), 'utf8'));
    const cells = (await table.locator('tbody td').allInnerTexts()).map(Number);
    assert.deepEqual(cells, metrics.validation.confusionMatrix.flat());
    assert.match(await page.locator('#reproduce').innerText(), new RegExp(`emopipe reproduce ${trained.id}`));
    assert.match(await page.locator('#yaml').innerText(), /uses: evaluate/);
    assert.equal(await page.locator('[data-testid=curves-train] svg polyline').count(), 4, 'loss and accuracy, train and validation');
    await page.close();
  });

  test('the browser\'s features equal Node\'s within 1e-4', async (t) => {
    const page = await browser.newPage();
    await page.goto(`${base}/#/runs`);
    await page.waitForFunction(() => 'emopipe' in window);
    const t0 = performance.now();
    const browserFeatures = await page.evaluate(({ base64, frontend }) => {
      const api = (window as unknown as { emopipe: { featuresOfWav(b: Uint8Array, f: unknown): Float32Array } }).emopipe;
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      return Array.from(api.featuresOfWav(bytes, frontend));
    }, { base64: readFileSync(trained.wav).toString('base64'), frontend: trained.frontend });
    t.diagnostic(`browser features of ${trained.wav}: ${(performance.now() - t0).toFixed(0)} ms`);
    const node = mfccFrames(loadAudio(trained.wav, trained.frontend.sampleRate).y, mfccOptionsOf(trained.frontend)).data;
    assert.equal(browserFeatures.length, node.length);
    let worst = 0;
    node.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - browserFeatures[i]!))));
    t.diagnostic(`max |browser - node| = ${worst}`);
    assert.ok(worst <= 1e-4, `max difference ${worst}`);
    await page.close();
  });

  test('Try it with a WAV file: same answer as `emopipe predict --json`', async () => {
    const page = await browser.newPage({ viewport: { width: 900, height: 600 } });
    // Any script, wasm or CSP failure (a fallback taken silently, a blocked file) shows up here.
    const problems: string[] = [];
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${base}/#/try/${trained.id}`);
    await page.locator(`[data-testid=status][data-ready="${trained.id}"]`).waitFor();
    await page.setInputFiles('#wav-file', trained.wav);
    const prediction = page.locator('[data-testid=prediction]');
    await prediction.waitFor();
    const shown = await page.locator('[data-testid=top-emotion]').innerText();
    const ranked = Object.values(trained.cliPrediction.probabilities).sort((a, b) => b - a);
    // A one-epoch model can be nearly uniform: where the CLI's top two tie within rounding, either is the same answer.
    if (ranked[0]! - ranked[1]! > 2e-6) assert.equal(shown, trained.cliPrediction.emotion);
    else assert.equal(trained.cliPrediction.probabilities[shown], ranked[0]);
    const probs = JSON.parse((await prediction.getAttribute('data-probabilities'))!) as Record<string, number>;
    for (const l of trained.labels) assert.ok(Math.abs(probs[l]! - trained.cliPrediction.probabilities[l]!) < 1e-4, `${l}: ${probs[l]} vs ${trained.cliPrediction.probabilities[l]}`);
    assert.deepEqual(problems, []);
    await page.screenshot({ path: join(shots, 'serve-try.png') });
    // A file that is not a WAV: the page says what is wrong with it.
    await page.setInputFiles('#wav-file', { name: 'notes.wav', mimeType: 'audio/wav', buffer: Buffer.from('these are not audio samples') });
    assert.match(await page.locator('[data-testid=error]').innerText(), /notes\.wav: .*(RIFF|WAV)/);
    await page.close();
  });

  test('Try it from the microphone (Chromium\'s fake capture of a WAV) produces a prediction', async () => {
    const fake = join(rig.dir, 'mic.wav');
    copyFileSync(trained.wav, fake);
    const mic = await launchChromium(['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', `--use-file-for-fake-audio-capture=${fake}`]);
    try {
      const page = await mic.newPage();
      await page.goto(`${base}/#/try/${trained.id}`);
      await page.locator(`[data-testid=status][data-ready="${trained.id}"]`).waitFor();
      await page.click('#record');
      const prediction = page.locator('[data-testid=prediction]');
      await prediction.waitFor({ timeout: 20_000 });
      assert.ok(trained.labels.includes((await prediction.getAttribute('data-emotion'))!));
      assert.match(await page.locator('[data-testid=status]').innerText(), /microphone: 3\.0 s at \d+ Hz/);
      const probs = Object.values(JSON.parse((await prediction.getAttribute('data-probabilities'))!) as Record<string, number>);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-3);
    } finally {
      await mic.close();
    }
  });
});

