/**
 * The dashboard's assets, all served by po: uPlot from the package's own dependency (read from
 * node_modules at first use), and the few lines of our own CSS and JavaScript, kept here as text
 * so that they travel inside every bundle of the API.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { Hono } from 'hono';
import { httpError } from '../errors.ts';

// `scrollbar-gutter: stable`: the page keeps its width when it grows taller than the window, so
// charts sized at their first drawing (Trends) still fit once the vertical scrollbar appears.
const CSS = `
:root{--bg:#111418;--panel:#1a1f26;--fg:#e8ecf1;--muted:#9aa5b1;--ok:#2e7d32;--near:#b8860b;--op:#d9730d;--phys:#c62828;--accent:#4ea1ff;font-size:clamp(14px,0.55vw + 8px,22px)}
*{box-sizing:border-box}html{scrollbar-gutter:stable}body{margin:0;background:var(--bg);color:var(--fg);font:1rem/1.4 system-ui,sans-serif}
a{color:var(--accent)}a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #ffd54f;outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:.5rem;top:.5rem;background:#000;padding:.3rem;z-index:9}
.status{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;padding:.4rem .8rem;font-size:.9rem;border-bottom:3px solid var(--ok);background:#0b2e13}
.status-red{background:#4a0d0d;border-color:var(--phys)}.status b{color:var(--muted);font-weight:600;margin-right:.3rem}
.alarm{color:#fff;background:var(--phys);padding:0 .4rem}
nav{display:flex;gap:1rem;align-items:center;padding:.5rem .8rem;background:var(--panel)}nav .brand{font-weight:800;letter-spacing:.1em}
nav a[aria-current=page]{color:var(--fg);font-weight:700;text-decoration:none;border-bottom:2px solid var(--accent)}nav .who{margin-left:auto;color:var(--muted)}
main{padding:.8rem 1rem;max-width:2400px}h1{font-size:1.4rem;margin:.2rem 0 .6rem}h1 small{font-size:.8rem;color:var(--muted);font-weight:400}h2{font-size:1.1rem}
.notice{margin:0;padding:.4rem 1rem;background:#3a3000;color:#ffe082}.problem{background:#4a0d0d;padding:.4rem .6rem}.done{background:#0b2e13;padding:.4rem .6rem}
.muted{color:var(--muted)}.inline{display:inline}
table.grid{border-collapse:collapse;margin:.6rem 0 1rem;min-width:60%}caption{text-align:left;font-weight:700;padding:.3rem 0}
.grid th,.grid td{padding:.25rem .6rem;border-bottom:1px solid #2b333d;text-align:right;white-space:nowrap}.grid th[scope=row],.grid th:first-child{text-align:left}
.grid thead th{color:var(--muted);font-weight:600}tr.at-bound td:last-child{color:#ffb74d;font-weight:700}.up{color:#81c784}.down{color:#e57373}
.state{padding:0 .4rem;border-radius:3px}.state-inside{background:var(--ok)}.state-near{background:var(--near)}.state-beyond-operating{background:var(--op)}.state-beyond-physical{background:var(--phys)}.state-unknown{background:#444}
.cost{display:flex;gap:2rem;margin:.4rem 0}.cost div{background:var(--panel);padding:.4rem .8rem}.cost span{display:block;color:var(--muted);font-size:.85rem}.cost b{font-size:1.5rem}
form.feedback{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.4rem 0}
input,select,button,textarea{font:inherit;background:#0d1014;color:var(--fg);border:1px solid #3b4652;padding:.25rem .5rem}button{cursor:pointer;background:#24303c}
button.accept{background:var(--ok)}button.reject{background:var(--phys)}button.danger{background:var(--phys)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:.8rem}.chart{background:var(--panel);padding:.3rem}
.controls{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}.controls fieldset{border:1px solid #3b4652}
pre.yaml,pre.diff{background:#0d1014;padding:.6rem;overflow:auto;max-height:70vh;font-size:.85rem}.diff .add{color:#81c784}.diff .del{color:#e57373}
.graph{overflow:auto;background:#0d1014}.graph svg{font:12px system-ui,sans-serif}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1rem}.cols>*{min-width:0}@media (max-width:1100px){.cols{grid-template-columns:1fr}}
.u-legend{color:var(--fg)}
`;

/**
 * Live updates: on each new cycle (a fleet's root: each change of its units), the status bar is
 * refreshed, and a live view (Now, the units overview) too unless the operator is typing in it.
 * A page without a session (the sign-in form) does not load this script.
 */
const LIVE_JS = `(()=>{if(!window.EventSource)return;const es=new EventSource(document.body.dataset.liveSrc||'/live');
const update=async()=>{const r=await fetch(location.href,{headers:{accept:'text/html'}});if(!r.ok)return;
const doc=new DOMParser().parseFromString(await r.text(),'text/html');const s=doc.getElementById('status');if(s)document.getElementById('status').replaceWith(s);
const m=document.getElementById('main');if(!m||!m.dataset.live)return;const busy=m.contains(document.activeElement)&&document.activeElement.tagName==='INPUT'||[...m.querySelectorAll('input[name=reason]')].some(i=>i.value);
const nm=doc.getElementById('main');if(!nm)return;if(busy){let b=document.getElementById('newer');if(!b){b=document.createElement('p');b.id='newer';b.className='notice';b.setAttribute('role','status');b.innerHTML='A newer cycle was recorded: <a href="">show it</a>';m.prepend(b)}return}
m.replaceWith(nm);document.dispatchEvent(new Event('po:updated'))};
es.addEventListener('cycle',update);es.addEventListener('units',update);})();`;

/** Trends: one uPlot per variable, cursors synchronised, limits as bands, recommendation as steps. */
const TRENDS_JS = `(()=>{const el=document.getElementById('trends');if(!el)return;
const fmt=(v,u)=>v==null?'–':(Math.abs(v)>=1000?v.toFixed(0):Math.abs(v)>=1?v.toFixed(2):v.toPrecision(3))+(u?' '+u:'');
function bands(l){return u=>{if(!l)return;const c=u.ctx,{left,top,width,height}=u.bbox;const y=v=>u.valToPos(v,'y',true);c.save();
const fill=(a,b,col)=>{const y1=Math.max(top,Math.min(top+height,y(b))),y2=Math.max(top,Math.min(top+height,y(a)));if(y2>y1){c.fillStyle=col;c.fillRect(left,y1,width,y2-y1)}};
const lo=u.scales.y.min,hi=u.scales.y.max;if(l.opMax!=null)fill(l.opMax,l.varMax??hi,'rgba(217,115,13,.18)');if(l.varMax!=null)fill(l.varMax,hi,'rgba(198,40,40,.25)');
if(l.opMin!=null)fill(l.varMin??lo,l.opMin,'rgba(217,115,13,.18)');if(l.varMin!=null)fill(lo,l.varMin,'rgba(198,40,40,.25)');c.restore()}}
function render(d){el.textContent='';const t0=performance.now();
const sync=uPlot.sync('po');const w=Math.max(420,Math.min(900,(el.clientWidth||1200)/ (d.series.length>1?2:1)-24));
for(const s of d.series){const box=document.createElement('figure');box.className='chart';box.dataset.variable=s.name;el.append(box);
const series=[{},{label:s.name+' (plant)',stroke:'#4ea1ff',width:1.5,value:(u,v)=>fmt(v,s.units)}];const data=[d.times,s.plant];
if(s.recommended){series.push({label:'recommended',stroke:'#ffd54f',width:2,spanGaps:true,paths:uPlot.paths.stepped({align:1}),value:(u,v)=>fmt(v,s.units)});data.push(s.recommended)}
if(s.predicted){series.push({label:'predicted',stroke:'#ce93d8',dash:[6,4],width:1.5,spanGaps:true,value:(u,v)=>fmt(v,s.units)});data.push(s.predicted)}
const u=new uPlot({width:w,height:260,title:s.name+(s.units?' ['+s.units+']':''),cursor:{sync:{key:sync.key},focus:{prox:16}},
scales:{x:{time:true}},axes:[{stroke:'#9aa5b1',grid:{stroke:'#2b333d'}},{stroke:'#9aa5b1',grid:{stroke:'#2b333d'},size:70,values:(u,vs)=>vs.map(v=>fmt(v,s.units))}],
series,hooks:{drawClear:[bands(s.limits)]}},data,box);sync.sub(u)}
const ms=performance.now()-t0;el.dataset.rendered=String(ms);el.dispatchEvent(new Event('po:drawn'));return ms}
window.poDrawTrends=render;
fetch(el.dataset.src,{headers:{accept:'application/json'}}).then(r=>r.ok?r.json():r.json().then(b=>{throw new Error(b.error||r.status)})).then(render).catch(e=>{el.textContent='Trends could not be drawn: '+e.message});})();`;

const require = createRequire(import.meta.url);
const UPLOT = {
  'uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
} as const;

/** Our own scripts and styles, by file name. */
export const OWN_ASSETS: Readonly<Record<string, string>> = {
  'po.css': CSS,
  'live.js': LIVE_JS,
  'trends.js': TRENDS_JS,
};

const typeOf = (name: string) =>
  name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';

/** `GET /assets/:name`: our files and uPlot's, cached by the browser for an hour. */
export function assetRoutes() {
  const loaded = new Map<string, Promise<string>>();
  const read = (name: string): Promise<string> | undefined => {
    const own = OWN_ASSETS[name];
    if (own !== undefined) return Promise.resolve(own);
    const from = UPLOT[name as keyof typeof UPLOT];
    if (!from) return undefined;
    let text = loaded.get(name);
    if (!text) {
      text = readFile(require.resolve(from), 'utf8');
      loaded.set(name, text);
    }
    return text;
  };
  return new Hono().get('/:name', async (c) => {
    const name = c.req.param('name');
    const text = read(name);
    if (!text) throw httpError.notFound(`no dashboard asset '${name}'`);
    c.header('content-type', typeOf(name));
    c.header('cache-control', 'public, max-age=3600');
    return c.body(await text);
  });
}
