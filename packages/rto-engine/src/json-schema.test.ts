import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { strategyJsonSchema } from './json-schema.ts';

describe('strategy.schema.json', () => {
  it('is up to date with the zod schema (run `pnpm --filter @po/rto-engine generate:schema`)', () => {
    const file = fileURLToPath(new URL('../strategy.schema.json', import.meta.url));
    const committed = JSON.parse(readFileSync(file, 'utf8'));
    expect(committed).toEqual(strategyJsonSchema());
  });

  it('describes every property of a variable', () => {
    const schema = strategyJsonSchema() as {
      properties: {
        variables: { additionalProperties: { properties: Record<string, { description?: string }> } };
      };
    };
    const props = schema.properties.variables.additionalProperties.properties;
    for (const [key, value] of Object.entries(props)) expect(value.description, key).toBeTruthy();
  });
});
