/** The sign-in form: a token (a role's or a named user's) becomes an HttpOnly, SameSite=Strict session cookie. */
import { html } from 'hono/html';
import type { Html } from '../page.ts';

export function loginView(input: { next: string; csrf: string; required: boolean; failed?: boolean }): Html {
  return html`<h1>Sign in</h1>
  ${input.required ? '' : html`<p class="notice">No token is configured on this po: signing in is not needed.</p>`}
  ${input.failed ? html`<p class="problem" role="alert">That token is not known: check it and try again.</p>` : ''}
  <form method="post" action="/login" class="feedback">
    <input type="hidden" name="_csrf" value="${input.csrf}">
    <input type="hidden" name="next" value="${input.next}">
    <label for="token">Token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    <button>Sign in</button>
  </form>
  <p class="muted">Viewer: read; operator: also accept or reject recommendations; engineer: also deploy.</p>`;
}
