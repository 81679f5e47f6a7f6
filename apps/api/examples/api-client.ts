/**
 * What the predecessor's api_client_example.py did, against po's API: check health, optimize
 * the demo plant state, print the recommendations as a table, show the cache statistics.
 *
 *   pnpm --filter @po/api example [http://localhost:8000]     (or PO_API_URL; PO_API_TOKEN if set)
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const base = (process.argv[2] ?? process.env.PO_API_URL ?? 'http://127.0.0.1:5000').replace(/\/$/, '');
const headers: Record<string, string> = { 'content-type': 'application/json' };
if (process.env.PO_API_TOKEN) headers.authorization = `Bearer ${process.env.PO_API_TOKEN}`;

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as { error?: string; details?: { path: string; message: string }[] };
  if (!res.ok) {
    const details = (json.details ?? []).map((d) => `\n  - ${d.path}: ${d.message}`).join('');
    throw new Error(`${method} ${path} -> ${res.status}: ${json.error ?? 'error'}${details}`);
  }
  return json;
}

interface Variable {
  user_input_value: number | null;
  optimizer_suggested_value: number | null;
  delta: number | null;
  units: string | null;
}

const fmt = (v: number | null | undefined, digits = 3) =>
  v === null || v === undefined ? '-' : v.toFixed(digits);

console.log(`== Health (${base}/health)`);
const health = (await call('GET', '/health')) as { status: string; strategy: { version: string | null } };
console.log(`status: ${health.status}, deployed strategy: ${health.strategy.version ?? '(unversioned)'}`);

console.log('\n== Optimize the example plant state');
const statePath = fileURLToPath(new URL('../../../config/demo/example-state.json', import.meta.url));
const inputData = JSON.parse(await readFile(statePath, 'utf8')) as Record<string, number>;
const result = (await call('POST', '/optimize', { input_data: inputData })) as {
  config_version: string | null;
  duration_ms: number;
  cost_at_current: number;
  cost_function_value: number;
  optimizer: { algorithm: string; iterations: number; converged: boolean };
  setpoints: Record<string, { current: number; recommended: number; delta: number; units: string | null }>;
  predicted_variables: Record<string, Variable>;
  summary: { message: string };
};
const rows = Object.entries(result.setpoints).map(([name, s]) => ({
  setpoint: name,
  current: fmt(s.current),
  recommended: fmt(s.recommended),
  delta: fmt(s.delta),
  units: s.units ?? '',
}));
console.table(rows);
console.log('Predicted at the recommendation:');
console.table(
  Object.entries(result.predicted_variables).map(([name, v]) => ({
    variable: name,
    value: fmt(v.optimizer_suggested_value),
    units: v.units ?? '',
  })),
);
console.log(
  `cost ${fmt(result.cost_at_current, 4)} -> ${fmt(result.cost_function_value, 4)} (${result.optimizer.algorithm}, ${result.optimizer.iterations} iterations, converged: ${result.optimizer.converged}) in ${fmt(result.duration_ms, 0)} ms`,
);
console.log(result.summary.message);

console.log('\n== Cache statistics');
console.log(JSON.stringify(await call('GET', '/cache/stats'), null, 2));
