import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ingestKind, type IngestParams } from '../src/stages/ingest.js';
import { extractZip, listZip } from '../src/corpus/zip.js';
import { encodeWav } from '../src/audio/wav.js';
import { EmopipeError } from '../src/util/errors.js';
import type { Manifest } from '../src/corpus/manifest.js';
import { makeStageContext } from './helpers/stage-context.js';
import { buildZip } from './helpers/zip-writer.js';

function tone(freq: number): Uint8Array {
  const x = new Float32Array(4800);
  for (let i = 0; i < x.length; i++) x[i] = 0.2 * Math.sin((2 * Math.PI * freq * i) / 48000);
  return encodeWav(x, { sampleRate: 48000 });
}

/** A miniature RAVDESS archive: two actors, a few clips each, stored and deflated entries. */
const files = [
  { name: 'Actor_01/', data: new Uint8Array(0), deflate: false },
  { name: 'Actor_01/03-01-01-01-01-01-01.wav', data: tone(200) },
  { name: 'Actor_01/03-01-05-02-01-01-01.wav', data: tone(250), deflate: false },
  { name: 'Actor_02/03-01-04-01-02-01-02.wav', data: tone(300) },
  { name: 'Actor_02/03-01-08-02-02-02-02.wav', data: tone(350) },
];
const zip = buildZip(files);
const md5 = createHash('md5').update(zip).digest('hex');
const sha256 = createHash('sha256').update(zip).digest('hex');

let server: Server;
let base: string;
let requests = 0;
let tmp: string;
const savedCacheEnv = process.env.EMOPIPE_CACHE;
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'emopipe-download-'));
  process.env.EMOPIPE_CACHE = join(tmp, 'cache');
  server = createServer((req, res) => {
    requests++;
    if (req.url === '/files/Audio_Speech_Actors_01-24.zip') {
      res.writeHead(200, { 'content-type': 'application/zip', 'content-length': zip.length });
      res.end(zip);
    } else if (req.url === '/redirect.zip') {
      res.writeHead(302, { location: '/files/Audio_Speech_Actors_01-24.zip' });
      res.end();
    } else {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  await new Promise((r) => server.close(r));
  rmSync(tmp, { recursive: true, force: true });
  if (savedCacheEnv === undefined) delete process.env.EMOPIPE_CACHE;
  else process.env.EMOPIPE_CACHE = savedCacheEnv;
});

function ctxFor(name: string, download: Record<string, unknown>) {
  const dir = join(tmp, name);
  return makeStageContext<IngestParams>(ingestKind, { download }, { baseDir: dir, dataDir: join(dir, 'data') });
}

test('download: fetched from 127.0.0.1 with byte progress, md5-verified, unpacked into the data dir, then ingested', async () => {
  const ctx = ctxFor('ok', { url: `${base}/files/Audio_Speech_Actors_01-24.zip`, md5 });
  const before = requests;
  await ingestKind.run(ctx);
  assert.equal(requests - before, 1);
  assert.ok(ctx.phases.includes('bytes:downloading Audio_Speech_Actors_01-24.zip'), ctx.phases.join());
  const target = join(ctx.dataDir, 'ravdess');
  assert.deepEqual(readFileSync(join(target, 'Actor_02', '03-01-08-02-02-02-02.wav')), Buffer.from(files[4]!.data));
  assert.ok(existsSync(join(ctx.dataDir, 'downloads', `md5-${md5}.zip`)), 'the verified archive is kept, named by its checksum');
  assert.deepEqual(readdirSync(ctx.dataDir).sort(), ['downloads', 'ravdess']);
  assert.deepEqual(readdirSync(join(ctx.dataDir, 'downloads')), [`md5-${md5}.zip`]);
  const m = JSON.parse(readFileSync(join(ctx.outDir, 'manifest.json'), 'utf8')) as Manifest;
  assert.equal(m.root, target);
  assert.deepEqual(m.rows.map((r) => [r.label, r.speaker]), [['neutral', '01'], ['angry', '01'], ['sad', '02'], ['surprised', '02']]);

  // Once there, the corpus is not fetched again.
  const again = makeStageContext<IngestParams>(ingestKind, ctx.params as unknown as Record<string, unknown>, { baseDir: join(tmp, 'ok2'), dataDir: ctx.dataDir });
  const n = requests;
  await ingestKind.run(again);
  assert.equal(requests, n);
});

test('download: redirects are followed and sha256 works as the checksum', async () => {
  const ctx = ctxFor('redirect', { url: `${base}/redirect.zip`, sha256 });
  await ingestKind.run(ctx);
  assert.ok(existsSync(join(ctx.dataDir, 'ravdess', 'Actor_01', '03-01-01-01-01-01-01.wav')));
});

test('download: a checksum mismatch fails, leaving neither archive nor corpus behind', async () => {
  const ctx = ctxFor('badsum', { url: `${base}/files/Audio_Speech_Actors_01-24.zip`, md5: '0'.repeat(32) });
  await assert.rejects(ingestKind.run(ctx), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.equal(e.code, 'E_DOWNLOAD');
    assert.match(e.message, new RegExp(`md5 is ${md5}, expected 0{32}`));
    return true;
  });
  assert.deepEqual(readdirSync(ctx.dataDir), ['downloads']);
  assert.deepEqual(readdirSync(join(ctx.dataDir, 'downloads')), []);
});

test('download: server down or 404 gives E_DOWNLOAD saying how to get the data and where to put it', async () => {
  // A port that was just free: nothing listens there.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const deadPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  for (const [name, url, why] of [
    ['down', `http://127.0.0.1:${deadPort}/Audio_Speech_Actors_01-24.zip`, /ECONNREFUSED/],
    ['404', `${base}/nothing.zip`, /HTTP 404/],
  ] as const) {
    const ctx = ctxFor(name, { url, md5 });
    await assert.rejects(ingestKind.run(ctx), (e: unknown) => {
      assert.ok(e instanceof EmopipeError);
      assert.equal(e.code, 'E_DOWNLOAD');
      assert.match(e.message, why);
      assert.ok(e.message.includes('https://zenodo.org/records/1188976'), e.message);
      assert.ok(e.message.includes(join(ctx.dataDir, 'ravdess', 'Actor_01')), e.message);
      return true;
    });
    assert.ok(!existsSync(join(ctx.dataDir, 'ravdess')));
  }
});

test('download: refuses to fetch without a checksum', async () => {
  const ctx = ctxFor('nosum', { url: `${base}/files/Audio_Speech_Actors_01-24.zip` });
  await assert.rejects(ingestKind.run(ctx), /needs a checksum/);
});

test('zip reader: CRC errors and entries escaping the target folder are refused', async () => {
  const evil = join(tmp, 'evil.zip');
  writeFileSync(evil, buildZip([{ name: '../escape.wav', data: tone(100) }]));
  await assert.rejects(extractZip(evil, join(tmp, 'evil-out')), /outside the target folder/);
  assert.ok(!existsSync(join(tmp, 'escape.wav')));

  const damaged = Buffer.from(buildZip([{ name: 'a.wav', data: tone(100), deflate: false }]));
  damaged[30 + 'a.wav'.length + 50] ^= 0xff; // flip a byte of the stored data
  const dz = join(tmp, 'damaged.zip');
  writeFileSync(dz, damaged);
  assert.equal((await listZip(dz)).length, 1);
  await assert.rejects(extractZip(dz, join(tmp, 'damaged-out')), /CRC-32/);

  const trunc = join(tmp, 'trunc.zip');
  writeFileSync(trunc, zip.subarray(0, zip.length - 10));
  await assert.rejects(listZip(trunc), /end-of-central-directory/);
});
