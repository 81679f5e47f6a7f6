/** The Now view: the newest recommendation, its predictions, constraint scores, explanation and cost. */
import { html } from 'hono/html';
import type { Identity } from '../../middleware/auth.ts';
import type { Html } from '../page.ts';
import {
  type CycleView,
  formatNumber,
  LIMIT_STATE_LABEL,
  limitState,
  type VariableFacts,
  withUnits,
} from '../plant-model.ts';

export interface NowInput {
  /** The newest recorded cycle (any status). */
  newest: CycleView | undefined;
  /** The newest cycle with a recommendation (status ok). */
  recommendation: CycleView | undefined;
  facts: Map<string, VariableFacts>;
  identity: Identity | undefined;
  canFeedback: boolean;
  csrf: string;
  /** `accepted` / `rejected` after a form post. */
  done?: string | undefined;
  /** Where the feedback form returns to ('' : the root's Now; a unit's base). */
  back?: string | undefined;
}

const unitsOf = (facts: Map<string, VariableFacts>, name: string) => facts.get(name)?.units ?? null;

function decisionsTable(c: CycleView, facts: Map<string, VariableFacts>): Html {
  const rows = Object.entries(c.decisions);
  if (rows.length === 0) return html`<p>No decision variables in this cycle (monitor mode).</p>`;
  return html`<table class="grid"><caption>Decision variables</caption>
    <thead><tr><th scope="col">variable</th><th scope="col">current</th><th scope="col">recommended</th><th scope="col">delta</th><th scope="col">bounds this cycle</th><th scope="col">at bound</th></tr></thead>
    <tbody>${rows.map(([name, d]) => {
      const u = d.units ?? unitsOf(facts, name);
      const delta = d.current !== null && d.recommended !== null ? d.recommended - d.current : null;
      return html`<tr class="${d.at_bound ? 'at-bound' : ''}"><th scope="row">${name}</th><td>${withUnits(d.current, u)}</td><td><b>${withUnits(d.recommended, u)}</b></td><td>${withUnits(delta, u)}</td><td>${withUnits(d.lower_bound, u)} … ${withUnits(d.upper_bound, u)}</td><td>${d.at_bound ?? 'no'}</td></tr>`;
    })}</tbody></table>`;
}

function setpointsTable(c: CycleView, facts: Map<string, VariableFacts>): Html {
  const rows = Object.entries(c.setpoints);
  if (rows.length === 0) return '' as unknown as Html;
  return html`<table class="grid"><caption>Setpoints to move (operative tags)</caption>
    <thead><tr><th scope="col">tag</th><th scope="col">current</th><th scope="col">recommended</th><th scope="col">delta</th><th scope="col">limits</th><th scope="col">from</th></tr></thead>
    <tbody>${rows.map(([tag, s]) => {
      const f = facts.get(tag);
      const u = s.units ?? f?.units ?? null;
      return html`<tr><th scope="row">${tag}</th><td>${withUnits(s.current, u)}</td><td><b>${withUnits(s.recommended, u)}</b></td><td class="${s.delta > 0 ? 'up' : s.delta < 0 ? 'down' : ''}">${s.delta > 0 ? '+' : ''}${withUnits(s.delta, u)}</td><td>${f?.min !== undefined || f?.max !== undefined ? html`${withUnits(f?.min, u)} … ${withUnits(f?.max, u)}` : '–'}</td><td>${s.from}</td></tr>`;
    })}</tbody></table>`;
}

function predictionsTable(c: CycleView, facts: Map<string, VariableFacts>): Html {
  const rows = Object.entries(c.predictions);
  return html`<table class="grid"><caption>Predictions: holding the current setpoints vs at the recommendation</caption>
    <thead><tr><th scope="col">variable</th><th scope="col">holding</th><th scope="col">at recommendation</th><th scope="col">operating limits</th><th scope="col">physical limits</th><th scope="col">state</th></tr></thead>
    <tbody>${rows.map(([name, p]) => {
      const f = facts.get(name);
      const u = f?.units ?? null;
      const l = f?.limits;
      const state = limitState(p.recommended, l);
      return html`<tr><th scope="row">${name}</th><td>${withUnits(p.at_current, u)}</td><td><b>${withUnits(p.recommended, u)}</b></td><td>${l ? html`${withUnits(l.opMin, u)} … ${withUnits(l.opMax, u)}` : '–'}</td><td>${l ? html`${withUnits(l.varMin, u)} … ${withUnits(l.varMax, u)}` : '–'}</td><td><span class="state state-${state}">${LIMIT_STATE_LABEL[state]}</span></td></tr>`;
    })}</tbody></table>`;
}

function scoresTable(c: CycleView, facts: Map<string, VariableFacts>): Html {
  const rows = Object.entries(c.scores);
  const why = c.explanation?.constraints ?? {};
  return html`<table class="grid"><caption>Constraint scores (1 = inside the operating limits; below 0 = beyond the physical limit)</caption>
    <thead><tr><th scope="col">score</th><th scope="col">holding</th><th scope="col">at recommendation</th><th scope="col">scores</th><th scope="col">state</th><th scope="col">pushed by</th></tr></thead>
    <tbody>${rows.map(([name, s]) => {
      const f = facts.get(name);
      const scored = f?.scores;
      const value = scored ? c.predictions[scored]?.recommended : undefined;
      const state = limitState(value, f?.limits, s.recommended);
      const pushed = why[name]?.pushed_by ?? [];
      return html`<tr><th scope="row">${name}</th><td>${formatNumber(s.at_current)} (score)</td><td><b>${formatNumber(s.recommended)} (score)</b></td><td>${scored ? html`${scored} = ${withUnits(value, unitsOf(facts, scored))}` : '–'}</td><td><span class="state state-${state}">${LIMIT_STATE_LABEL[state]}</span></td><td>${
        pushed.length
          ? pushed
              .slice(0, 3)
              .map((p) => p.variable)
              .join(', ')
          : '–'
      }</td></tr>`;
    })}</tbody></table>`;
}

/** Which constraint or bound holds each decision variable, in words. */
function explanation(c: CycleView): Html {
  const lines: string[] = [];
  for (const [name, d] of Object.entries(c.decisions)) {
    if (d.at_bound)
      lines.push(
        `${name} is held by its ${d.at_bound} move bound (current ± threshold, or its absolute limit).`,
      );
  }
  for (const [score, e] of Object.entries(c.explanation?.constraints ?? {})) {
    const by = e.pushed_by.slice(0, 3).map((p) => p.variable);
    lines.push(
      `${score} is below 1 (${formatNumber(e.score)})${by.length ? `; it holds ${by.join(', ')}` : ''}.`,
    );
  }
  if (c.optimizer?.held)
    lines.push(`po holds the current setpoints: ${c.optimizer.message ?? 'no better point was found'}.`);
  if (lines.length === 0)
    lines.push('No bound or constraint is active: the recommendation is the cost optimum inside the limits.');
  return html`<section aria-labelledby="why"><h2 id="why">Why</h2><ul>${lines.map((l) => html`<li>${l}</li>`)}</ul>
    <p class="muted">optimizer: ${c.optimizer?.algorithm ?? '–'}, ${c.optimizer?.converged ? 'converged' : 'not converged'}${c.optimizer?.message ? ` – ${c.optimizer.message}` : ''}</p></section>`;
}

function feedbackForms(c: CycleView, input: NowInput): Html {
  const fb = c.lastFeedback;
  const given = fb
    ? html`<p data-feedback="${fb.decision}">This recommendation was <b>${fb.decision}</b>${fb.operator ? ` by ${fb.operator}` : ''}${fb.reason ? `: ${fb.reason}` : ''}.</p>`
    : '';
  if (!input.canFeedback) {
    return html`${given}<p class="muted">Accepting or rejecting needs the operator role${input.identity ? ` (you are ${input.identity.role})` : ''}.</p>`;
  }
  return html`${given}<form method="post" action="/feedback" class="feedback">
    <input type="hidden" name="_csrf" value="${input.csrf}">
    <input type="hidden" name="result" value="${c.id}">
    ${input.back ? html`<input type="hidden" name="back" value="${input.back}">` : ''}
    <label for="reason">Reason (required to reject)</label>
    <input id="reason" name="reason" maxlength="500" autocomplete="off">
    <button name="decision" value="accepted" class="accept">Accept</button>
    <button name="decision" value="rejected" class="reject">Reject</button>
  </form>`;
}

/** The Now view's body. */
export function nowView(input: NowInput): Html {
  const { newest, recommendation: c, facts } = input;
  if (!newest) {
    return html`<h1>Now</h1><p role="status">No cycle recorded yet. The runner records one per cycle interval; this page updates by itself.</p>`;
  }
  const notOk =
    newest.status !== 'ok'
      ? html`<p class="problem" role="alert">The newest cycle #${newest.id} (${newest.dataTimestamp.toISOString()}) was <b>${newest.status}</b>: ${newest.reason ?? 'no reason recorded'}.${c ? ' Shown below: the newest recommendation.' : ''}</p>`
      : '';
  if (!c) return html`<h1>Now</h1>${notOk}`;
  const improvement =
    c.costAtCurrent !== null && c.costRecommended !== null ? c.costAtCurrent - c.costRecommended : null;
  return html`<h1>Now <small>cycle <span data-result-id="${c.id}">#${c.id}</span> on plant data of ${c.dataTimestamp.toISOString().replace('T', ' ').slice(0, 19)} UTC, strategy ${c.strategyVersion ?? '–'}</small></h1>
    ${input.done ? html`<p class="done" role="status">Recorded: ${input.done}.</p>` : ''}
    ${notOk}
    <section class="cost" aria-label="cost">
      <div><span>cost holding</span><b>${formatNumber(c.costAtCurrent)}</b> <small>(cost units)</small></div>
      <div><span>cost at recommendation</span><b>${formatNumber(c.costRecommended)}</b> <small>(cost units)</small></div>
      <div><span>improvement</span><b>${formatNumber(improvement)}</b> <small>(cost units)</small></div>
    </section>
    ${feedbackForms(c, input)}
    ${setpointsTable(c, facts)}
    ${decisionsTable(c, facts)}
    ${explanation(c)}
    ${predictionsTable(c, facts)}
    ${scoresTable(c, facts)}`;
}
