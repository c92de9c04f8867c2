/**
 * Issue #11, downloads and archives: the server and the URL never choose where files go, `into`
 * stays inside the data dir, a silent server is reported and given up on, zip bombs and lying
 * entries are refused while streaming, links and file/folder clashes give clear errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ingestKind, type IngestParams } from '../src/stages/ingest.js';
import { extractZip } from '../src/corpus/zip.js';
import { encodeWav } from '../src/audio/wav.js';
import { EmopipeError } from '../src/util/errors.js';
import { makeStageContext } from './helpers/stage-context.js';
import { buildZip } from './helpers/zip-writer.js';

const wav = encodeWav(new Float32Array(4800).map((_, i) => 0.2 * Math.sin(i / 10)), { sampleRate: 48000 });
const corpus = buildZip([{ name: 'Actor_01/03-01-01-01-01-01-01.wav', data: wav }]);
const md5 = createHash('md5').update(corpus).digest('hex');

let server: Server;
let base: string;
let tmp: string;
const hanging: ServerResponse[] = [];
before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'emopipe-dl-safety-'));
  server = createServer((req, res) => {
    if (req.url === '/never') {
      hanging.push(res); // accepts the connection, never answers
      return;
    }
    res.writeHead(200, { 'content-type': 'application/zip', 'content-length': corpus.length });
    res.end(corpus);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  for (const r of hanging) r.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  rmSync(tmp, { recursive: true, force: true });
});

function ctxFor(name: string, params: Record<string, unknown>) {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  return { dir, ctx: makeStageContext<IngestParams>(ingestKind, params, { baseDir: dir, dataDir: join(dir, 'data') }) };
}

test('#11.1 the URL does not choose the file name: a download named like an existing file never overwrites it', async () => {
  const { dir, ctx } = ctxFor('overwrite', { root: 'corpus', download: { url: `${base}/important.txt`, md5 } });
  writeFileSync(join(dir, 'important.txt'), 'precious');
  mkdirSync(ctx.dataDir, { recursive: true });
  writeFileSync(join(ctx.dataDir, 'important.txt'), 'precious too');
  await ingestKind.run(ctx);
  assert.equal(readFileSync(join(dir, 'important.txt'), 'utf8'), 'precious');
  assert.equal(readFileSync(join(ctx.dataDir, 'important.txt'), 'utf8'), 'precious too');
  assert.ok(existsSync(join(dir, 'corpus', 'Actor_01', '03-01-01-01-01-01-01.wav')));
  assert.deepEqual(readdirSync(join(ctx.dataDir, 'downloads')), [`md5-${md5}.zip`], 'the archive is kept under a name we chose');
});

test('#11.1 download.into must stay inside the data dir: ../ and absolute paths are refused, nothing is written', async () => {
  for (const into of ['../../../escaped', '../escaped', join(tmp, 'escaped-abs'), '.']) {
    const { dir, ctx } = ctxFor(`into-${into.length}`, { download: { url: `${base}/c.zip`, md5, into } });
    await assert.rejects(ingestKind.run(ctx), (e: unknown) => {
      assert.ok(e instanceof EmopipeError);
      assert.equal(e.code, 'E_PIPELINE_INVALID');
      assert.match(e.message, /must name a folder inside the data directory/);
      return true;
    });
    assert.ok(!existsSync(join(dir, 'escaped')) && !existsSync(join(tmp, 'escaped')) && !existsSync(join(tmp, 'escaped-abs')));
    assert.ok(!existsSync(ctx.dataDir) || readdirSync(ctx.dataDir).length === 0);
  }
});

test('#11 a server that never answers: a "waiting for" line, then a clear error after download.timeout_s', { timeout: 30_000 }, async () => {
  const { ctx } = ctxFor('silent', { download: { url: `${base}/never`, md5, timeout_s: 1 } });
  const t0 = performance.now();
  await assert.rejects(ingestKind.run(ctx), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.equal(e.code, 'E_DOWNLOAD');
    assert.match(e.message, /no answer from 127\.0\.0\.1:\d+ for 1 s \(download\.timeout_s\)/);
    return true;
  });
  const s = (performance.now() - t0) / 1000;
  assert.ok(s < 5, `gave up after ${s.toFixed(1)} s`);
  assert.ok(ctx.logs.some((l) => /^waiting for 127\.0\.0\.1:\d+: no answer/.test(l)), ctx.logs.join('\n'));
  assert.ok(ctx.phases.some((p) => p.startsWith('bytes:connecting to 127.0.0.1')), ctx.phases.join());
});

test('#11.3 zip bomb: an archive inflating > 100× is refused before anything is written', async () => {
  const bomb = join(tmp, 'bomb.zip');
  writeFileSync(bomb, buildZip([{ name: 'zeros.wav', data: new Uint8Array(64 << 20) }]));
  const out = join(tmp, 'bomb-out');
  const rss0 = process.memoryUsage().rss;
  await assert.rejects(extractZip(bomb, out), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.match(e.message, /zeros\.wav would inflate \d+ bytes to 67108864 \(more than 100×/);
    return true;
  });
  assert.ok(!existsSync(join(out, 'zeros.wav')), 'nothing written');
  assert.ok(process.memoryUsage().rss - rss0 < 48 << 20, 'not inflated in memory');
});

test('#11.3 an entry that understates its size stops at its declared size while inflating', async () => {
  const liar = join(tmp, 'liar.zip');
  // 8 MiB of data declared as 1000 bytes: under the per-entry ratio floor, so only the streaming check can stop it.
  writeFileSync(liar, buildZip([{ name: 'small.wav', data: new Uint8Array(8 << 20).fill(7), declaredSize: 1000 }]));
  const out = join(tmp, 'liar-out');
  await assert.rejects(extractZip(liar, out), (e: unknown) => {
    assert.ok(e instanceof EmopipeError);
    assert.equal(e.code, 'E_DOWNLOAD');
    assert.match(e.message, /small\.wav (inflates to more than its declared 1000 bytes|does not inflate: too many bytes)/);
    return true;
  });
  const written = existsSync(join(out, 'small.wav')) ? readFileSync(join(out, 'small.wav')).length : 0;
  assert.ok(written <= 1000, `wrote ${written} bytes`);
});

test('#11 zip: a symlink entry plus a child below it, or a file with a child, is a clear error (no raw EEXIST)', async () => {
  const cases = [
    { zip: [{ name: 'link', data: new TextEncoder().encode('/etc'), unixMode: 0o120777, deflate: false }, { name: 'link/passwd', data: wav }], why: /link is a symbolic link \(links are not unpacked\)/ },
    { zip: [{ name: 'a', data: wav }, { name: 'a/b.wav', data: wav }], why: /a\/b\.wav lies below a, which the archive has as a file/ },
    { zip: [{ name: 'x.wav', data: wav }, { name: 'x.wav', data: wav }], why: /x\.wav appears twice/ },
  ];
  for (const [i, c] of cases.entries()) {
    const file = join(tmp, `clash${i}.zip`);
    writeFileSync(file, buildZip(c.zip));
    const out = join(tmp, `clash${i}-out`);
    await assert.rejects(extractZip(file, out), (e: unknown) => {
      assert.ok(e instanceof EmopipeError, String(e));
      assert.equal(e.code, 'E_DOWNLOAD');
      assert.match(e.message, c.why);
      return true;
    });
    assert.ok(!existsSync(out), 'nothing written');
  }
});
