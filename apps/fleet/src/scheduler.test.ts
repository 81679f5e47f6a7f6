import { describe, expect, it } from 'vitest';
import { FleetError } from './errors.ts';
import { cycleJobId } from './scheduler.ts';

describe('cycle job ids', () => {
  it('sort as the data timestamps do (the queue breaks ties of creation time by id), microseconds included', () => {
    const times = [
      '2026-04-01T00:00:00.000000Z',
      '2026-04-01T00:00:00.000001Z',
      '2026-04-01T00:00:00.000999Z',
      '2026-04-01T00:00:00.001000Z',
      '2026-04-01T00:00:59.999999Z',
      '2026-04-01T00:01:00.000000Z',
      '2031-01-01T00:00:00.000000Z',
    ];
    for (const unit of ['k1', 'kiln-2']) {
      const ids = times.map((at) => cycleJobId('q', unit, at));
      // PostgreSQL orders uuids byte by byte: the hex text order.
      expect([...ids].sort()).toEqual(ids);
      for (const id of ids)
        expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('name one cycle: the same for the same queue, unit and time, another for any other', () => {
    const at = '2026-04-01T00:00:00.123456Z';
    expect(cycleJobId('q', 'k1', at)).toBe(cycleJobId('q', 'k1', at));
    const others = [
      cycleJobId('q', 'k2', at),
      cycleJobId('r', 'k1', at),
      cycleJobId('q', 'k1', '2026-04-01T00:00:00.123457Z'),
    ];
    expect(new Set([cycleJobId('q', 'k1', at), ...others]).size).toBe(4);
  });

  it('refuses a time it cannot key', () => {
    expect(() => cycleJobId('q', 'k1', 'yesterday')).toThrow(FleetError);
    expect(() => cycleJobId('q', 'k1', '1969-12-31T23:59:59.000000Z')).toThrow(
      /unit 'k1' at '1969-12-31T23:59:59.000000Z'/,
    );
  });
});
