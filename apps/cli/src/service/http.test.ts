/** The dashboard's per-unit data sources kept by the HTTP service: one per unit of the fleet, never a removed one's. */
import { describe, expect, it } from 'vitest';
import type { UnitData } from './database.ts';
import { unitScopeCache } from './http.ts';

const unit = (id: string, kiln = id): UnitData => ({
  id,
  data: { table: 'demo_kilns', timestamp_column: 'timestamp', filter: { kiln } },
});

describe('unitScopeCache', () => {
  it('keeps a unit’s data source between pages, and makes a new one when its definition changes', () => {
    let made = 0;
    const cache = unitScopeCache((u) => ({ n: ++made, id: u.id }));
    const first = cache.of(unit('k1'));
    expect(cache.of(unit('k1'))).toBe(first);
    const moved = cache.of(unit('k1', 'K9'));
    expect(moved).not.toBe(first);
    expect(made).toBe(2);
    expect(cache.ids()).toEqual(['k1']);
  });

  it('drops a removed unit’s data source: asked for and missing, or no longer listed', () => {
    const cache = unitScopeCache((u) => ({ id: u.id }));
    for (const id of ['k1', 'k2', 'k3', 'k4']) cache.of(unit(id));
    cache.drop('k2');
    expect(cache.ids()).toEqual(['k1', 'k3', 'k4']);
    cache.keepOnly(['k1', 'k4', 'k5']);
    expect(cache.ids()).toEqual(['k1', 'k4']);
    // A unit added again with the same id and definition gets a new source, not the removed one's.
    const before = cache.of(unit('k1'));
    cache.keepOnly([]);
    expect(cache.ids()).toEqual([]);
    expect(cache.of(unit('k1'))).not.toBe(before);
  });

  it('holds no more than the fleet’s units while units come and go', () => {
    const cache = unitScopeCache((u) => ({ id: u.id }));
    for (let round = 0; round < 100; round++) {
      const fleet = [`k${round}`, `k${round + 1}`, `k${round + 2}`];
      for (const id of fleet) cache.of(unit(id));
      cache.keepOnly(fleet);
    }
    expect(cache.ids()).toEqual(['k99', 'k100', 'k101']);
  });
});
