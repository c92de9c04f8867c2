/** Browser stand-in for node:fs: the page decodes WAV bytes it already holds, never paths. */
const unavailable = (): never => {
  throw new Error('file system access is not available in the browser');
};
export const readFileSync = unavailable;
export const openSync = unavailable;
export const closeSync = unavailable;
export const fstatSync = unavailable;
export const readSync = unavailable;
export const existsSync = (): boolean => false;
