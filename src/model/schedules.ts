/** Learning-rate schedules with Keras' semantics, evaluated per optimizer step (0-based). */

export type LrSchedule =
  | { schedule: 'constant'; initial: number }
  | { schedule: 'cosine_decay'; initial: number; decay_steps: number; alpha: number }
  | {
      schedule: 'cosine_decay_restarts';
      initial: number;
      first_decay_steps: number;
      t_mul: number;
      m_mul: number;
      alpha: number;
    };

/** tf.keras.optimizers.schedules.CosineDecay (no warm-up). */
export function cosineDecay(step: number, initial: number, decaySteps: number, alpha: number): number {
  const completed = Math.min(step, decaySteps) / decaySteps;
  const cosine = 0.5 * (1 + Math.cos(Math.PI * completed));
  return initial * ((1 - alpha) * cosine + alpha);
}

/** tf.keras.optimizers.schedules.CosineDecayRestarts (SGDR). */
export function cosineDecayRestarts(
  step: number, initial: number, firstDecaySteps: number, tMul: number, mMul: number, alpha: number,
): number {
  let completed = step / firstDecaySteps;
  let restart: number;
  if (tMul === 1) {
    restart = Math.floor(completed);
    completed -= restart;
  } else {
    restart = Math.floor(Math.log(1 - completed * (1 - tMul)) / Math.log(tMul));
    const sumR = (1 - tMul ** restart) / (1 - tMul);
    completed = (completed - sumR) / tMul ** restart;
  }
  const cosine = 0.5 * mMul ** restart * (1 + Math.cos(Math.PI * completed));
  return initial * ((1 - alpha) * cosine + alpha);
}

export function learningRate(s: LrSchedule, step: number): number {
  switch (s.schedule) {
    case 'constant': return s.initial;
    case 'cosine_decay': return cosineDecay(step, s.initial, s.decay_steps, s.alpha);
    case 'cosine_decay_restarts':
      return cosineDecayRestarts(step, s.initial, s.first_decay_steps, s.t_mul, s.m_mul, s.alpha);
  }
}
