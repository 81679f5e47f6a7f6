import { PGlite } from '@electric-sql/pglite';
import { readFileSync } from 'node:fs';
const mb = () => Math.round(process.memoryUsage().rss / 1048576);
const [dir, optsJson] = process.argv.slice(2);
const opts = JSON.parse(optsJson ?? '{}');
let t = Date.now();
const pg = await PGlite.create(dir, opts);
console.log('open', Date.now() - t, 'ms', mb(), 'MB');
await pg.query('create table if not exists t(x int, y text)');
await pg.query("insert into t select g, repeat('x',100) from generate_series(1,2000) g");
await pg.query("select count(*) from t");
await new Promise(r=>setTimeout(r,2000));
global.gc(); await new Promise(r=>setTimeout(r,300)); console.log('gc', mb(), JSON.stringify(Object.fromEntries(Object.entries(process.memoryUsage()).map(([k,v])=>[k,v>>20]))));
const maps = readFileSync('/proc/self/smaps','utf8').split('\n'); let name, out=[];
for (const l of maps) { if (/^[0-9a-f]+-/.test(l)) name=l.split(/\s+/).slice(0,1).concat(l.split(/\s+/)[5]||'').join(' '); const m=/^Rss:\s+(\d+)/.exec(l); if (m && +m[1]>5000) out.push(`${m[1]>>10}MB ${name}`); }
console.log(out.join('\n'));
await pg.close();
