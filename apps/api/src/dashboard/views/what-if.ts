/** What-if: set decision variables and see predictions, constraint scores and cost (simulate), beside the recommendation. */
import type { CycleResult } from '@po/rto-engine';
import { Hono } from 'hono';
import { html } from 'hono/html';
import { httpError } from '../../errors.ts';
import { type DashboardOptions, deployedFacts, newestCycle, render, scopeOf, viewPath } from '../context.ts';
import { formatNumber, LIMIT_STATE_LABEL, limitState, withUnits } from '../plant-model.ts';

/** `GET /what-if?set.<variable>=<value>…`: a read-only simulation, so any role may run it. */
export function whatIfRoutes(root: DashboardOptions) {
  return new Hono().get('/', async (c) => {
    const options = scopeOf(c, root);
    const [{ facts }, rec] = await Promise.all([deployedFacts(options), newestCycle(options, 'ok')]);
    if (!rec || !options.data) {
      return render(c, options, {
        title: 'What-if',
        path: '/what-if',
        body: html`<h1>What-if</h1><p role="status">No recommendation recorded yet: a what-if starts from the newest cycle's plant data.</p>`,
      });
    }
    const q = c.req.query();
    const decisions: Record<string, number> = {};
    for (const [key, value] of Object.entries(q)) {
      if (!key.startsWith('set.') || value.trim() === '') continue;
      const name = key.slice(4);
      if (!(name in rec.decisions))
        throw httpError.badRequest(`'${name}' is not a decision variable of this strategy`);
      const n = Number(value);
      if (!Number.isFinite(n))
        throw httpError.badRequest(`the value of ${name} ('${value}') is not a number`);
      decisions[name] = n;
    }
    let sim: CycleResult | undefined;
    if (Object.keys(decisions).length > 0) {
      const columns = (await options.data.columns()).filter((col) => facts.has(col));
      const row = await options.data.plant(columns, {
        since: new Date(0),
        until: rec.dataTimestamp,
        limit: 1,
      });
      const state = Object.fromEntries(columns.map((col) => [col, row.values[col]?.[0] ?? null]));
      sim = await options.simulate(state as Record<string, number>, decisions);
    }
    const body = html`<h1>What-if <small>from the plant data of cycle #${rec.id} (${rec.dataTimestamp.toISOString().slice(0, 19)} UTC)</small></h1>
      <form method="get" action="${viewPath(options, '/what-if')}" id="what-if"><table class="grid"><caption>Decision variables (empty: as recommended)</caption>
      <thead><tr><th scope="col">variable</th><th scope="col">current</th><th scope="col">recommended</th><th scope="col">what-if value</th></tr></thead>
      <tbody>${Object.entries(rec.decisions).map(([name, d]) => {
        const u = d.units ?? facts.get(name)?.units ?? null;
        return html`<tr><th scope="row"><label for="set-${name}">${name}</label></th><td>${withUnits(d.current, u)}</td><td>${withUnits(d.recommended, u)}</td><td><input id="set-${name}" name="set.${name}" inputmode="decimal" size="10" value="${q[`set.${name}`] ?? ''}" placeholder="${formatNumber(d.recommended)}"> ${u ?? ''}</td></tr>`;
      })}</tbody></table><button>Simulate</button></form>
      ${
        sim
          ? html`<div class="cols" id="what-if-result">
        <table class="grid"><caption>Predictions</caption><thead><tr><th scope="col">variable</th><th scope="col">recommendation</th><th scope="col">what-if</th><th scope="col">state (what-if)</th></tr></thead>
        <tbody>${Object.entries(sim.predicted_variables).map(([name, v]) => {
          const f = facts.get(name);
          const state = limitState(v.optimizer_suggested_value, f?.limits);
          return html`<tr><th scope="row">${name}</th><td>${withUnits(rec.predictions[name]?.recommended, f?.units)}</td><td><b>${withUnits(v.optimizer_suggested_value, f?.units)}</b></td><td><span class="state state-${state}">${LIMIT_STATE_LABEL[state]}</span></td></tr>`;
        })}</tbody></table>
        <table class="grid"><caption>Constraint scores and cost</caption><thead><tr><th scope="col"></th><th scope="col">recommendation</th><th scope="col">what-if</th></tr></thead>
        <tbody>${Object.entries(sim.constraint_variables).map(([name, v]) => html`<tr><th scope="row">${name}</th><td>${formatNumber(rec.scores[name]?.recommended)} (score)</td><td><b>${formatNumber(v.optimizer_suggested_value)} (score)</b></td></tr>`)}
        <tr><th scope="row">cost</th><td>${formatNumber(rec.costRecommended)} (cost units)</td><td><b>${formatNumber(sim.cost_function_value)} (cost units)</b></td></tr></tbody></table></div>`
          : ''
      }`;
    return render(c, options, { title: 'What-if', path: '/what-if', body });
  });
}
