/** Learning-rate schedules against Keras' formulas at chosen steps (values worked out by hand). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cosineDecay, cosineDecayRestarts, learningRate } from '../src/model/schedules.js';

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} != ${b}`);

test('cosine_decay_restarts: cycles of 10, 20, 40 steps with t_mul 2', () => {
  const lr = (s: number) => cosineDecayRestarts(s, 1e-3, 10, 2, 1, 0);
  close(lr(0), 1e-3);
  close(lr(5), 0.5e-3); // half-way through the first cycle: cos(pi/2) = 0
  close(lr(10), 1e-3); // restart
  close(lr(20), 0.5e-3); // half-way through the 20-step second cycle
  close(lr(30), 1e-3); // second restart
  close(lr(40), 0.5e-3 * (1 + Math.cos(Math.PI * 0.25))); // a quarter into the 40-step third cycle
});

test('cosine_decay_restarts: m_mul, alpha and t_mul = 1', () => {
  close(cosineDecayRestarts(10, 1e-3, 10, 2, 0.5, 0), 0.5e-3);
  close(cosineDecayRestarts(30, 1e-3, 10, 2, 0.5, 0), 0.25e-3);
  close(cosineDecayRestarts(5, 1e-3, 10, 2, 1, 0.1), 1e-3 * (0.9 * 0.5 + 0.1));
  close(cosineDecayRestarts(15, 1e-3, 10, 1, 1, 0), 0.5e-3);
  close(cosineDecayRestarts(25, 1e-3, 10, 1, 1, 0.2), 1e-3 * (0.8 * 0.5 + 0.2));
  close(cosineDecayRestarts(20, 1e-3, 10, 1, 1, 0.2), 1e-3);
});

test('cosine_decay holds alpha after decay_steps; constant is constant', () => {
  close(cosineDecay(0, 2e-3, 100, 0.1), 2e-3);
  close(cosineDecay(50, 2e-3, 100, 0.1), 2e-3 * (0.9 * 0.5 + 0.1));
  close(cosineDecay(100, 2e-3, 100, 0.1), 2e-4);
  close(cosineDecay(500, 2e-3, 100, 0.1), 2e-4);
  close(learningRate({ schedule: 'constant', initial: 3e-4 }, 1234), 3e-4);
  close(learningRate({ schedule: 'cosine_decay_restarts', initial: 1e-3, first_decay_steps: 10, t_mul: 2, m_mul: 1, alpha: 0 }, 20), 0.5e-3);
});
