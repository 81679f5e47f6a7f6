/** The page's styles. */
const STYLE = `  body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 960px; padding: 1rem; color: #1d2327; }
  h1 { margin-bottom: 0; } .muted { color: #666; }
  details { border: 1px solid #ccd; border-radius: 6px; margin: .5rem 0; padding: .4rem .7rem; }
  summary { cursor: pointer; } .m { display: inline-block; width: 3.5rem; font-weight: 700; text-transform: uppercase; }
  .get { color: #1f6feb; } .post { color: #1a7f37; }
  textarea { width: 100%; min-height: 8rem; font: 12px monospace; box-sizing: border-box; }
  pre { background: #f6f8fa; padding: .5rem; overflow: auto; max-height: 24rem; font-size: 12px; }
  input { font: inherit; } button { font: inherit; cursor: pointer; }
`;

/** The "try it" client: lists the operations of the embedded spec and sends requests with the token. */
const CLIENT = `'use strict';
const spec = JSON.parse(document.getElementById('spec').textContent);
const token = document.getElementById('token');
token.value = sessionStorage.getItem('po-token') || '';
token.addEventListener('change', () => sessionStorage.setItem('po-token', token.value));
document.getElementById('about').textContent = spec.info.description + ' Version ' + spec.info.version + '.';
const el = (tag, props, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  for (const c of children) e.append(c);
  return e;
};
const ops = document.getElementById('ops');
for (const [path, methods] of Object.entries(spec.paths)) {
  for (const [method, op] of Object.entries(methods)) {
    const params = (op.parameters || []).map((p) =>
      el('label', {}, p.name + ' (' + p.in + '): ', el('input', { name: p.name, dataset: { in: p.in } }), ' '));
    const body = op.requestBody ? el('textarea', { placeholder: 'JSON body' }) : null;
    const out = el('pre');
    const send = el('button', { textContent: 'Send' });
    send.addEventListener('click', async () => {
      let url = path;
      const query = new URLSearchParams();
      for (const label of params) {
        const input = label.querySelector('input');
        if (!input.value) continue;
        if (input.dataset.in === 'path') url = url.replace('{' + input.name + '}', encodeURIComponent(input.value));
        else query.set(input.name, input.value);
      }
      const headers = {};
      if (token.value) headers.authorization = 'Bearer ' + token.value;
      if (body) headers['content-type'] = 'application/json';
      const started = performance.now();
      try {
        const res = await fetch(url.replace(/^\\//, '') + (query.size ? '?' + query : ''), {
          method: method.toUpperCase(), headers, body: body ? body.value : undefined,
        });
        const text = await res.text();
        let shown = text;
        try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch {}
        out.textContent = res.status + ' ' + res.statusText + ' (' + Math.round(performance.now() - started) + ' ms)\\n\\n' + shown;
      } catch (e) { out.textContent = String(e); }
    });
    const responses = Object.entries(op.responses).map(([s, r]) => s + ': ' + r.description).join('\\n');
    const schema = op.requestBody ? JSON.stringify(op.requestBody.content['application/json'].schema, null, 2) : '';
    ops.append(el('details', {},
      el('summary', {}, el('span', { className: 'm ' + method, textContent: method }), ' ' + path + ' — ' + op.summary),
      ...(schema ? [el('p', {}, 'Request body schema:'), el('pre', { textContent: schema })] : []),
      el('p', {}, 'Responses:'), el('pre', { textContent: responses }),
      el('p', {}, ...params), ...(body ? [body] : []), el('p', {}, send), out));
  }
}
`;

/**
 * The interactive docs page: one HTML document with the OpenAPI spec embedded and a small
 * "try it" client. It loads nothing from the network (no CDN), so it works on a plant LAN.
 */
export function docsPage(spec: Record<string, unknown>): string {
  const embedded = JSON.stringify(spec).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>po API</title>
<style>
${STYLE}</style>
</head>
<body>
<h1>po API</h1>
<p class="muted" id="about"></p>
<p><label>Bearer token: <input id="token" type="password" size="40" autocomplete="off"></label>
<a href="openapi.json">openapi.json</a></p>
<div id="ops"></div>
<script id="spec" type="application/json">${embedded}</script>
<script>
${CLIENT}</script>
</body>
</html>
`;
}
