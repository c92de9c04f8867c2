// Bundles the browser pages into dist/web with esbuild (run by `npm run build` and `npm ci`'s
// prepare step): the app, the microphone capture worklet, and local copies of every wasm file the
// page loads (ONNX Runtime Web, PFFFT), so nothing comes from a CDN and the page works offline.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(root, 'dist', 'web');
const require = createRequire(import.meta.url);

/**
 * emopipe's audio front end imports two Node modules: node:fs (only for reading WAV files from
 * disk, which the page never does) and node:module (createRequire, to load the CommonJS fft.js).
 * In the browser they become small stand-ins; everything else is the same source as in Node.
 */
const nodeShims = {
  name: 'node-shims',
  setup(b) {
    b.onResolve({ filter: /^node:(fs|module)$/ }, (a) => ({ path: join(here, 'shims', `${a.path.slice(5)}.ts`) }));
  },
};

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'vendor', 'ort'), { recursive: true });

await build({
  entryPoints: { app: join(here, 'main.ts'), 'capture-worklet': join(here, 'capture-worklet.ts') },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  plugins: [nodeShims],
  // src/audio/pffft.ts reads these Node globals; in the page the SIMD module is always tried.
  define: { 'process.env.EMOPIPE_NO_PFFFT': 'undefined', 'process.emitWarning': 'console.warn' },
  // The PFFFT module is loaded at run time through the import map in index.html.
  external: ['@echogarden/pffft-wasm', '@echogarden/pffft-wasm/simd'],
  logLevel: 'warning',
});

// ONNX Runtime Web: the single-threaded SIMD wasm build the bundled glue asks for.
const ortDist = dirname(require.resolve('onnxruntime-web/wasm'));
for (const f of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs']) copyFileSync(join(ortDist, f), join(out, 'vendor', 'ort', f));

// PFFFT: the Emscripten module finds its .wasm beside its .js (import.meta.url).
const pffftRoot = join(dirname(require.resolve('@echogarden/pffft-wasm')), '..');
for (const variant of ['simd', 'non-simd']) {
  mkdirSync(join(out, 'vendor', 'pffft', variant), { recursive: true });
  for (const f of ['pffft.js', 'pffft.wasm']) copyFileSync(join(pffftRoot, variant, f), join(out, 'vendor', 'pffft', variant, f));
}

copyFileSync(join(here, 'style.css'), join(out, 'style.css'));
writeFileSync(join(out, 'index.html'), readFileSync(join(here, 'index.html'), 'utf8'));
