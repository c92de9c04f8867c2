/** Browser stand-in for node:module's createRequire, enough for src/audio/fft.ts to get fft.js. */
import FFT from 'fft.js';

export function createRequire(_from: string): (id: string) => unknown {
  return (id: string) => {
    if (id === 'fft.js') return FFT;
    throw new Error(`require('${id}') is not available in the browser`);
  };
}
