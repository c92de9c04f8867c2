import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeWav, decodeWavMono, downmixToMono, encodeWav, inspectWav, readWav, readWavMono } from '../src/audio/wav.js';
import { EmopipeError, errorMessage } from '../src/util/errors.js';
import { sharedDir } from '../src/util/paths.js';

const dir = join(sharedDir(), 'fixtures', 'wav-formats');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as {
  files: Record<string, { expected: string; channels: number; frames: number }>;
};

function readF64(path: string): Float64Array {
  const b = readFileSync(path);
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

test('all wav-formats fixtures decode bit-exact to libsndfile', () => {
  const names = Object.keys(manifest.files);
  assert.equal(names.length, 13);
  for (const name of names) {
    const spec = manifest.files[name];
    const wav = readWav(join(dir, name));
    const expected = readF64(join(dir, spec.expected));
    assert.equal(wav.channels, spec.channels, `${name}: channels`);
    assert.equal(wav.frames, spec.frames, `${name}: frames`);
    assert.equal(wav.sampleRate, 48000, `${name}: sample rate`);
    assert.equal(wav.samples.length, expected.length, `${name}: sample count`);
    for (let i = 0; i < expected.length; i++) {
      if (wav.samples[i] !== expected[i]) assert.fail(`${name}: sample ${i} is ${wav.samples[i]}, libsndfile gives ${expected[i]}`);
    }
  }
});

test('the mono fast path gives the mean of the channels, as downmixToMono of the full decode', () => {
  for (const name of Object.keys(manifest.files)) {
    const full = readWav(join(dir, name));
    const mono = readWavMono(join(dir, name));
    assert.equal(mono.frames, full.frames);
    assert.deepEqual(mono.mono, downmixToMono(full.samples, full.channels), name);
  }
});

test('streamed header (0xFFFFFFFF sizes) is read to the end of the file', () => {
  const info = inspectWav(readFileSync(join(dir, 'pcm16_streamed_ffffffff.wav')));
  assert.equal(info.streamed, true);
  assert.equal(info.frames, 1000);
});

test('RAVDESS files (FLLR chunk before data) decode; stereo mixes to the mean', (t) => {
  const actor = join(sharedDir(), 'data', 'ravdess', 'Actor_01');
  let mono: Uint8Array, stereo: Uint8Array;
  try {
    mono = readFileSync(join(actor, '03-01-01-01-01-01-01.wav'));
    stereo = readFileSync(join(actor, '03-01-02-01-01-02-01.wav'));
  } catch {
    t.skip(`RAVDESS sample not found under ${actor}`);
    return;
  }
  const a = decodeWav(mono);
  assert.equal(a.sampleRate, 48000);
  assert.equal(a.channels, 1);
  assert.ok(a.dataOffset > 44, 'audio starts after the FLLR chunk, not at byte 44');
  assert.equal(a.frames * 2, a.dataBytes);
  const s = decodeWav(stereo);
  assert.equal(s.channels, 2);
  const m = downmixToMono(s.samples, 2);
  assert.deepEqual(decodeWavMono(stereo).mono, m);
  assert.deepEqual(decodeWavMono(mono).mono, Float32Array.from(a.samples));
  assert.equal(m.length, s.frames);
  for (const i of [0, 1000, Math.floor(s.frames / 2), s.frames - 1]) {
    assert.equal(m[i], Math.fround((s.samples[2 * i] + s.samples[2 * i + 1]) / 2));
  }
});

/** A minimal RIFF file from chunks [id, body]. */
function riff(chunks: Array<[string, Uint8Array]>, riffSize?: number): Uint8Array {
  const total = 12 + chunks.reduce((n, [, b]) => n + 8 + b.length + (b.length & 1), 0);
  const out = new Uint8Array(total);
  const v = new DataView(out.buffer);
  const put = (at: number, s: string) => { for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i); };
  put(0, 'RIFF');
  v.setUint32(4, riffSize ?? total - 8, true);
  put(8, 'WAVE');
  let pos = 12;
  for (const [id, body] of chunks) {
    put(pos, id);
    v.setUint32(pos + 4, body.length, true);
    out.set(body, pos + 8);
    pos += 8 + body.length + (body.length & 1);
  }
  return out;
}

function fmtChunk(tag: number, channels: number, rate: number, bits: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  const align = channels * Math.ceil(bits / 8);
  v.setUint16(0, tag, true);
  v.setUint16(2, channels, true);
  v.setUint32(4, rate, true);
  v.setUint32(8, rate * align, true);
  v.setUint16(12, align, true);
  v.setUint16(14, bits, true);
  return b;
}

function expectWavError(bytes: Uint8Array, file: string, code: string, pattern: RegExp) {
  assert.throws(() => decodeWav(bytes, { file }), (e: unknown) => {
    assert.ok(e instanceof EmopipeError, `expected an EmopipeError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.file, file);
    const text = errorMessage(e);
    assert.ok(text.startsWith(`${file}: `), `message names the file: ${text}`);
    assert.match(text, pattern);
    return true;
  });
}

test('broken and unsupported files give typed errors that name the file and the problem', () => {
  const good = encodeWav(new Float32Array([0.5, -0.5, 0.25, 0]), { sampleRate: 8000 });
  expectWavError(new Uint8Array(0), 'empty.wav', 'E_WAV_INVALID', /empty/);
  expectWavError(new TextEncoder().encode('ID3\u0004 this is an mp3, not a wav'), 'song.wav', 'E_WAV_INVALID', /not a WAV file.*"ID3/);
  expectWavError(riff([['fmt ', fmtChunk(1, 1, 8000, 16)]]).map((x, i) => (i === 8 ? 0x41 : x)), 'avi.wav', 'E_WAV_INVALID', /form type/);
  // Cut inside the sample data: header declares 8 bytes, 5 remain.
  expectWavError(good.subarray(0, good.length - 3), 'cut.wav', 'E_WAV_TRUNCATED', /declares 8 bytes but only 5/);
  // Cut inside the header, before any data chunk.
  expectWavError(good.subarray(0, 30), 'header.wav', 'E_WAV_TRUNCATED', /truncated/);
  expectWavError(good.subarray(0, 6), 'tiny.wav', 'E_WAV_TRUNCATED', /truncated/);
  expectWavError(riff([['fmt ', fmtChunk(1, 1, 8000, 16)], ['LIST', new Uint8Array(3)]]), 'nodata.wav', 'E_WAV_TRUNCATED', /no data chunk/);
  expectWavError(riff([['data', new Uint8Array(4)]]), 'nofmt.wav', 'E_WAV_INVALID', /no fmt chunk/);
  // Compressed encodings.
  expectWavError(riff([['fmt ', fmtChunk(0x55, 1, 44100, 0)], ['data', new Uint8Array(10)]]), 'mp3.wav', 'E_WAV_UNSUPPORTED', /0x0055 \(MPEG Layer 3\)/);
  expectWavError(riff([['fmt ', fmtChunk(0x11, 1, 8000, 4)], ['data', new Uint8Array(10)]]), 'adpcm.wav', 'E_WAV_UNSUPPORTED', /0x0011 \(IMA ADPCM\)/);
  expectWavError(riff([['fmt ', fmtChunk(1, 1, 8000, 40)], ['data', new Uint8Array(10)]]), 'pcm40.wav', 'E_WAV_UNSUPPORTED', /integer PCM with 40 bits.*block align 5/);
  expectWavError(riff([['fmt ', fmtChunk(1, 1, 8000, 24)], ['data', new Uint8Array(10)]]).map((x, i) => (i === 32 ? 2 : x)), 'bits.wav', 'E_WAV_INVALID', /24 bits per sample in 16-bit/);
  expectWavError(riff([['fmt ', fmtChunk(3, 1, 8000, 16)], ['data', new Uint8Array(10)]]), 'half.wav', 'E_WAV_UNSUPPORTED', /float with 16 bits/);
  // Non-PCM subformat inside WAVE_FORMAT_EXTENSIBLE.
  const ext = new Uint8Array(40);
  ext.set(fmtChunk(0xfffe, 1, 8000, 16));
  new DataView(ext.buffer).setUint16(16, 22, true);
  ext.set([0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 24);
  expectWavError(riff([['fmt ', ext], ['data', new Uint8Array(10)]]), 'wavex-adpcm.wav', 'E_WAV_UNSUPPORTED', /EXTENSIBLE subformat 0x0002/);
  expectWavError(new TextEncoder().encode('RIFX\u0000\u0000\u0000\u0000WAVE'), 'be.wav', 'E_WAV_UNSUPPORTED', /RIFX/);
});

test('samples narrower than their slot (12 bits in 16) decode by the slot width', () => {
  const body = new Uint8Array([0x10, 0x80, 0xf0, 0x7f]);
  const w = decodeWav(riff([['fmt ', fmtChunk(1, 1, 8000, 12)], ['data', body]]));
  assert.deepEqual([...w.samples], [-32752 / 32768, 32752 / 32768]);
});

test('truncated data is readable on request, whole frames only', () => {
  const good = encodeWav(new Float32Array([0.5, -0.5, 0.25, 0]), { sampleRate: 8000 });
  const cut = decodeWav(good.subarray(0, good.length - 3), { allowTruncated: true });
  assert.equal(cut.truncated, true);
  assert.deepEqual([...cut.samples], [0.5, -0.5]);
});

test('readWav of a missing file names it', () => {
  assert.throws(() => readWav('/nonexistent/x.wav'), (e: unknown) => e instanceof EmopipeError && e.file === '/nonexistent/x.wav' && e.code === 'E_INPUT_MISSING');
});

test('encoder round-trips: PCM16 exact on the 1/32768 grid, float32 exact, clipping at full scale', () => {
  const n = 257;
  const stereo = new Float64Array(n * 2);
  for (let i = 0; i < stereo.length; i++) stereo[i] = Math.round(Math.sin(i * 0.37) * 32767) / 32768;
  stereo[0] = -1;
  const pcm = decodeWav(encodeWav(stereo, { sampleRate: 44100, channels: 2 }));
  assert.equal(pcm.channels, 2);
  assert.equal(pcm.sampleRate, 44100);
  assert.equal(pcm.bitsPerSample, 16);
  assert.deepEqual(pcm.samples, stereo);

  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = Math.fround(Math.cos(i * 0.11) * 1.5); // float keeps values beyond ±1
  const flt = decodeWav(encodeWav(f, { sampleRate: 22050, format: 'float32' }));
  assert.equal(flt.sampleFormat, 'float');
  assert.equal(flt.formatTag, 3);
  assert.deepEqual(Float32Array.from(flt.samples), f);

  const clipped = decodeWav(encodeWav(new Float32Array([1.5, 1, -1, -2]), { sampleRate: 8000 }));
  assert.deepEqual([...clipped.samples], [32767 / 32768, 32767 / 32768, -1, -1]);

  // Odd data size gets a pad byte and still parses; a file written to disk reads back the same.
  const odd = encodeWav(new Float32Array([0.25]), { sampleRate: 8000 });
  const tmp = mkdtempSync(join(tmpdir(), 'emopipe-wav-'));
  try {
    writeFileSync(join(tmp, 'a.wav'), odd);
    assert.deepEqual([...readWav(join(tmp, 'a.wav')).samples], [0.25]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
