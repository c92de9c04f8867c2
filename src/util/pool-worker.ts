/** Worker thread side of runPool: runs one task at a time and posts the result back, transferring typed arrays. */
import { parentPort, type TransferListItem } from 'node:worker_threads';
import { failureOf, loadTaskFunction, transferListOf, type PoolRequest, type PoolResponse } from './pool.js';

const functions = new Map<string, Promise<(task: unknown) => unknown>>();

const port = parentPort;
if (!port) throw new Error('pool-worker.js must run in a worker thread');

port.on('message', async (req: PoolRequest) => {
  let res: PoolResponse;
  try {
    const key = `${req.module}#${req.fn}`;
    let fn = functions.get(key);
    if (!fn) {
      fn = loadTaskFunction(req.module, req.fn);
      functions.set(key, fn);
    }
    res = { id: req.id, ok: true, value: await (await fn)(req.task) };
  } catch (e) {
    res = { id: req.id, ok: false, ...failureOf(e) };
  }
  try {
    port.postMessage(res, res.ok ? (transferListOf(res.value) as TransferListItem[]) : []);
    return;
  } catch {
    // e.g. a buffer that cannot be transferred: fall back to copying.
  }
  try {
    port.postMessage(res);
  } catch (e) {
    port.postMessage({ id: req.id, ok: false, error: `pool: the result of task ${req.id} cannot be sent back: ${failureOf(e).error}` } satisfies PoolResponse);
  }
});
