/** Deploy (engineer): versions in the store, the deployed one, deploy or roll back after a confirmation showing validation; the audit log. */
import { Hono } from 'hono';
import { html } from 'hono/html';
import { allowed, checkCsrf, csrfToken, type DashboardOptions, render } from '../context.ts';
import type { Html } from '../page.ts';

const semverParts = (v: string) => v.split(/[.+-]/).map((p) => (/^\d+$/.test(p) ? Number(p) : p));
/** Whether `a` is older than `b` (a rollback), by semantic version. */
export function isOlder(a: string, b: string): boolean {
  const pa = semverParts(a);
  const pb = semverParts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x === y) continue;
    return typeof x === 'number' && typeof y === 'number' ? x < y : String(x) < String(y);
  }
  return false;
}

async function auditTable(options: DashboardOptions): Promise<Html> {
  if (!options.data) return html`<p class="muted">No database: nothing is audited.</p>`;
  const log = await options.data.auditLog(100);
  return html`<table class="grid" id="audit"><caption>Audit log (every deploy and every feedback), newest first</caption>
    <thead><tr><th scope="col">when (UTC)</th><th scope="col">who</th><th scope="col">role</th><th scope="col">what</th><th scope="col">on</th><th scope="col">detail</th></tr></thead>
    <tbody>${log.map((e) => html`<tr><td>${new Date(e.at).toISOString().replace('T', ' ').slice(0, 19)}</td><td>${e.actor}</td><td>${e.role}</td><td>${e.action}</td><td>${e.target}</td><td>${e.detail ? JSON.stringify(e.detail) : ''}</td></tr>`)}</tbody></table>`;
}

/** `GET /deploy[?version=x]` (a confirmation with the validation) and `POST /deploy`. */
export function deployRoutes(options: DashboardOptions) {
  return new Hono()
    .get('/', async (c) => {
      const versions = options.versions;
      if (!versions) {
        return render(c, options, {
          title: 'Deploy',
          path: '/deploy',
          body: html`<h1>Deploy</h1><p>This po serves a strategy file (PO_STRATEGY_FILE), not the store: there is nothing to deploy here.</p>${await auditTable(options)}`,
        });
      }
      const [list, deployed] = await Promise.all([versions.list(), versions.deployed()]);
      const pick = c.req.query('version');
      let confirm: Html | string = '';
      if (pick) {
        const report = await options.validate(await versions.read(pick));
        const kind = deployed && isOlder(pick, deployed) ? 'rollback' : 'deploy';
        confirm = html`<section aria-labelledby="confirm-h" id="confirm"><h2 id="confirm-h">Confirm ${kind} of ${pick}${deployed ? ` (deployed: ${deployed})` : ''}</h2>
          <p role="status" class="${report.valid ? 'done' : 'problem'}">Validation: ${report.valid ? 'valid' : 'NOT valid'}, ${report.errors.length} errors, ${report.warnings.length} warnings.</p>
          <ul>${[...report.errors.map((i) => html`<li><b>error</b> ${i.path}: ${i.message}</li>`), ...report.warnings.map((i) => html`<li><b>warning</b> ${i.path}: ${i.message}</li>`)]}</ul>
          ${
            report.valid
              ? html`<form method="post" action="/deploy"><input type="hidden" name="_csrf" value="${csrfToken(c)}"><input type="hidden" name="version" value="${pick}">
            <button class="danger">${kind === 'rollback' ? 'Roll back' : 'Deploy'} to ${pick}</button> <a href="/deploy">Cancel</a></form>`
              : html`<p>A version that does not validate cannot be deployed.</p>`
          }</section>`;
      }
      const body = html`<h1>Deploy <small>deployed: ${deployed ?? 'none'}</small></h1>
        ${confirm}
        <table class="grid" id="versions"><caption>Strategy versions in the store</caption><thead><tr><th scope="col">version</th><th scope="col">object</th><th scope="col"></th></tr></thead>
        <tbody>${[...list].reverse().map((v) => html`<tr><th scope="row">${v.version}${v.version === deployed ? ' (deployed)' : ''}</th><td>${v.key}</td><td>${v.version === deployed ? '' : html`<a href="/deploy?version=${encodeURIComponent(v.version)}#confirm">${deployed && isOlder(v.version, deployed) ? 'Roll back…' : 'Deploy…'}</a>`}</td></tr>`)}</tbody></table>
        ${await auditTable(options)}`;
      return render(c, options, { title: 'Deploy', path: '/deploy', body });
    })
    .post('/', async (c) => {
      const form = await c.req.parseBody();
      checkCsrf(c, form._csrf);
      const check = await allowed(c, options, 'engineer', 'deploying a strategy version');
      if ('refusal' in check) return check.refusal;
      const version = typeof form.version === 'string' ? form.version : '';
      if (!options.versions || version === '') {
        return render(c, options, {
          title: 'Not deployed',
          path: '/deploy',
          status: 400,
          body: html`<h1>Not deployed</h1><p class="problem" role="alert">${options.versions ? 'The form names no version.' : 'This po serves a strategy file; there is nothing to deploy.'}</p>`,
        });
      }
      const before = await options.versions.deployed();
      try {
        await options.versions.deploy(version);
      } catch (e) {
        return render(c, options, {
          title: 'Not deployed',
          path: '/deploy',
          status: 400,
          body: html`<h1>Not deployed</h1><p class="problem" role="alert">Version ${version} was not deployed: ${(e as Error).message}</p><p><a href="/deploy">Back</a></p>`,
        });
      }
      const action = before && isOlder(version, before) ? 'rollback' : 'deploy';
      await options.data?.audit({
        actor: check.identity.name,
        role: check.identity.role,
        action,
        target: `strategy ${version}`,
        detail: { from: before ?? null },
      });
      return c.redirect('/deploy', 303);
    });
}
