import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { strategyJsonSchema } from '../src/json-schema.ts';

const target = fileURLToPath(new URL('../strategy.schema.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(strategyJsonSchema(), null, 2)}\n`);
console.log(`wrote ${target}`);
