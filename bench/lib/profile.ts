/** Summarises an ONNX Runtime profile (enableProfiling JSON) by op type: where a step's time goes. */
import { readFileSync } from 'node:fs';

interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}

export interface OpTypeTime {
  op: string;
  /** Microseconds summed over every node of the type and every run. */
  micros: number;
  calls: number;
}

export function summariseProfile(path: string): { runs: number; totalMicros: number; byOp: OpTypeTime[] } {
  const events = JSON.parse(readFileSync(path, 'utf8')) as ProfileEvent[];
  const byOp = new Map<string, OpTypeTime>();
  let runs = 0;
  let totalMicros = 0;
  for (const e of events) {
    if (e.cat === 'Session' && e.name === 'model_run') {
      runs++;
      totalMicros += e.dur;
    }
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const op = e.args?.op_name ?? '?';
    const t = byOp.get(op) ?? { op, micros: 0, calls: 0 };
    t.micros += e.dur;
    t.calls++;
    byOp.set(op, t);
  }
  return { runs, totalMicros, byOp: [...byOp.values()].sort((a, b) => b.micros - a.micros) };
}
