import { z } from 'zod';
import { strategySchema } from './schema.ts';

/** The strategy's JSON Schema, generated from the zod schema (for editors and other tools). */
export function strategyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(strategySchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return {
    $comment:
      'Generated from packages/rto-engine/src/schema.ts by `pnpm --filter @po/rto-engine generate:schema`; do not edit.',
    title: 'po strategy',
    ...schema,
  };
}
