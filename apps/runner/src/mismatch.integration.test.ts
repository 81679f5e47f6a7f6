// Model-plant mismatch on the real runner loop: PGlite, the demo strategy with its ONNX models, the
// demo kiln as the plant (a row every 30 minutes, the horizon the demo delta models were trained on).
import type { StoredResult } from '@po/db';
import { createDemoKiln } from '@po/models';
import type { ModelTrustSection } from '@po/rto-engine';
import { describe, expect, it } from 'vitest';
import { DRIVE, mismatchPlant, STEP_MS, T0 } from '../test/mismatch-plant.ts';

const { demoStrategy, plantLoop } = mismatchPlant();

const trustOf = (r: StoredResult) => (r.modelTrust as ModelTrustSection).models[DRIVE]!;

describe('model-plant mismatch on the runner loop (PGlite, demo kiln)', () => {
  it('a gain drift drives the drive-current model to suspect, then bad (monitor mode, it is critical), and back to good without it', async () => {
    const strategy = await demoStrategy((spec) => {
      spec.skills[DRIVE]!.config.critical = true;
      spec.models = {
        mismatch: { filter: 0.3, models: { [DRIVE]: { suspect: 8, bad: 16, cusum: 60, slack: 8 } } },
      };
    });
    const kiln = createDemoKiln({ seed: 11 });
    kiln.tick(T0 - STEP_MS);
    const { runner, cycle } = await plantLoop(strategy, kiln);
    const statuses: string[] = [];
    const modes: (string | null)[] = [];
    const phases = [
      { cycles: 8, gain: 1 },
      { cycles: 10, gain: 2.5 },
      { cycles: 14, gain: 1 },
    ];
    let i = 0;
    for (const phase of phases) {
      kiln.setDrift({ Kiln_Drive_Current: { gain: phase.gain } });
      for (let c = 0; c < phase.cycles; c++, i++) {
        const record = await cycle(i);
        statuses.push(trustOf(record).mismatch!.status);
        modes.push(record.mode);
        // The operators move the feed by ±6 t/h after every cycle; it settles within the 30 minutes.
        const feed = i % 2 === 0 ? 89 : 83;
        kiln.setSetpoints({ Kiln_Feed_SFF_1_Feed_rate: feed, Kiln_Feed_SFF_2_Feed_rate: feed });
      }
    }
    const phase = (k: number) =>
      statuses.slice(phases.slice(0, k).reduce((s, p) => s + p.cycles, 0)).slice(0, phases[k]!.cycles);
    expect(statuses[0]).toBe('unknown'); // nothing to compare with yet
    expect(
      phase(0)
        .slice(1)
        .every((s) => s === 'good'),
      phase(0).join(' '),
    ).toBe(true);
    const drift = phase(1);
    const firstBad = drift.indexOf('bad');
    expect(firstBad, drift.join(' ')).toBeGreaterThan(0);
    expect(firstBad).toBeLessThanOrEqual(6);
    expect(drift.slice(0, firstBad)).toContain('suspect');
    const after = phase(2);
    const firstGood = after.indexOf('good');
    expect(firstGood, after.join(' ')).toBeGreaterThanOrEqual(0);
    expect(firstGood).toBeLessThanOrEqual(8);
    expect(
      after.slice(firstGood).every((s) => s === 'good'),
      after.join(' '),
    ).toBe(true);
    // A bad critical model puts the next cycle in monitor mode, until it recovers.
    for (let k = 1; k < statuses.length; k++) {
      expect(modes[k], `cycle ${k}`).toBe(statuses[k - 1] === 'bad' ? 'monitor' : 'advisory');
    }
    expect(runner.status().models?.forcedMonitor).toBeNull();
    expect(runner.status().models?.models[DRIVE]).toMatchObject({
      status: 'good',
      measured_by: 'Kiln_Drive_Current',
      inferred: true,
    });
  }, 120_000);

  it('bias correction: a drifting level is learnt as a bias, applied to the model, and the corrected error is smaller', async () => {
    const strategy = await demoStrategy((spec) => {
      spec.models = { bias_correction: true, mismatch: { filter: 0.3 } };
    });
    const kiln = createDemoKiln({ seed: 12 });
    kiln.tick(T0 - STEP_MS);
    const { cycle } = await plantLoop(strategy, kiln);
    let last: StoredResult | undefined;
    let previousBias: number | null = null;
    for (let i = 0; i < 16; i++) {
      // Coating builds up: the drive current creeps up 15 A per cycle, which the delta model cannot know
      // (the NOx drift, which the demo strategy feeds to the model as 0, moves it by about ±5 A per cycle).
      kiln.setDrift({ Kiln_Drive_Current: { offset: 15 * i } });
      last = await cycle(i);
      const trust = trustOf(last);
      // The bias known before the cycle is what was added to the model's output in it.
      expect(trust.bias_correction).toBe(previousBias === null ? null : previousBias);
      previousBias = trust.mismatch!.bias;
    }
    const mismatch = trustOf(last!).mismatch!;
    expect(mismatch.bias!).toBeGreaterThan(10);
    expect(mismatch.corrected_mean_abs_error!).toBeLessThan(0.6 * mismatch.mean_abs_error!);
  }, 120_000);
});
