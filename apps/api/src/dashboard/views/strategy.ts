/** Strategy: the deployed strategy as a graph with live values, its YAML with validation messages, a diff of two versions. */
import { diffLines } from 'diff';
import { Hono } from 'hono';
import { html } from 'hono/html';
import { stringify } from 'yaml';
import { type DashboardOptions, deployedFacts, newestCycle, render, scopeOf, viewPath } from '../context.ts';
import { liveValues, strategyGraph } from '../graph.ts';
import type { Html } from '../page.ts';

function diffView(a: string, b: string, textA: string, textB: string): Html {
  const parts = diffLines(textA, textB);
  const changed = parts.some((p) => p.added || p.removed);
  return html`<h2 id="diff">Diff ${a} → ${b}</h2>${changed ? '' : html`<p>The two versions are identical.</p>`}<pre class="diff">${parts.map(
    (p) =>
      p.added
        ? html`<span class="add">${p.value.replace(/^/gm, '+ ')}</span>`
        : p.removed
          ? html`<span class="del">${p.value.replace(/^/gm, '- ')}</span>`
          : html`<span>${p.value.replace(/^/gm, '  ')}</span>`,
  )}</pre>`;
}

/** `GET /strategy[?a=1.0.0&b=1.1.0]`. */
export function strategyRoutes(root: DashboardOptions) {
  return new Hono().get('/', async (c) => {
    const options = scopeOf(c, root);
    const { version, spec } = await deployedFacts(options);
    if (!spec) {
      return render(c, options, {
        title: 'Strategy',
        path: '/strategy',
        body: html`<h1>Strategy</h1><p class="problem" role="alert">No strategy is serving: ${options.strategies.status().error ?? 'none is deployed'}.</p>`,
      });
    }
    const [text, newest, versions] = await Promise.all([
      version && options.versions
        ? options.versions.read(version).catch(() => stringify(spec))
        : Promise.resolve(stringify(spec)),
      newestCycle(options, 'ok').catch(() => undefined),
      options.versions ? options.versions.list() : Promise.resolve([]),
    ]);
    const report = await options.validate(text);
    const decisions = new Set(newest ? Object.keys(newest.decisions) : []);
    const q = c.req.query();
    let diff: Html | string = '';
    if (q.a && q.b && options.versions) {
      const [ta, tb] = await Promise.all([options.versions.read(q.a), options.versions.read(q.b)]);
      diff = diffView(q.a, q.b, ta, tb);
    }
    const issues = [
      ...report.errors.map((i) => ({ ...i, level: 'error' })),
      ...report.warnings.map((i) => ({ ...i, level: 'warning' })),
    ];
    const body = html`<h1>Strategy <small>${version ?? 'unversioned'}: ${Object.keys(spec.variables).length} variables, ${Object.keys(spec.skills).length} skills, ${spec.tasks.length} tasks${newest ? `; live values of cycle #${newest.id}` : ''}</small></h1>
      ${strategyGraph(spec, decisions, liveValues(newest))}
      <div class="cols">
      <section aria-labelledby="yaml-h"><h2 id="yaml-h">YAML (${version ?? 'file'})</h2>
        <p role="status" class="${report.valid ? 'done' : 'problem'}">${report.valid ? 'Valid' : 'Not valid'}: ${report.errors.length} errors, ${report.warnings.length} warnings.</p>
        ${issues.length ? html`<ul id="validation">${issues.map((i) => html`<li><b>${i.level}</b> ${i.path}: ${i.message}</li>`)}</ul>` : ''}
        <pre class="yaml" tabindex="0">${text}</pre></section>
      <section aria-labelledby="diff-h"><h2 id="diff-h">Compare versions</h2>
        ${
          versions.length < 2
            ? html`<p class="muted">The store holds ${versions.length} version(s); a diff needs two.</p>`
            : html`<form method="get" action="${viewPath(options, '/strategy')}#diff" class="controls">
          <label for="a">from</label><select id="a" name="a">${versions.map((v) => html`<option ${v.version === (q.a ?? versions.at(-2)?.version) ? 'selected' : ''}>${v.version}</option>`)}</select>
          <label for="b">to</label><select id="b" name="b">${versions.map((v) => html`<option ${v.version === (q.b ?? versions.at(-1)?.version) ? 'selected' : ''}>${v.version}</option>`)}</select>
          <button>Diff</button></form>`
        }
        ${diff}</section></div>`;
    return render(c, options, { title: 'Strategy', path: '/strategy', body });
  });
}
