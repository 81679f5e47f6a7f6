/** The strategy drawn as a graph (variables -> skills -> tasks -> cost), laid out on the server by dagre, as SVG. */
import dagre, { type Edge } from '@dagrejs/dagre';
import type { StrategySpec } from '@po/rto-engine';
import { html, raw } from 'hono/html';
import type { Html } from './page.ts';
import { formatNumber } from './plant-model.ts';

const CHAR_W = 7;
const NODE_H = 34;

/** Node kinds, each drawn distinctly. */
type Kind =
  | 'decision'
  | 'variable'
  | 'predicted'
  | 'constraint'
  | 'model'
  | 'formula'
  | 'constraint-skill'
  | 'composition'
  | 'optimization'
  | 'task'
  | 'cost';

const STYLE: Record<Kind, { fill: string; stroke: string; shape: 'rect' | 'round' | 'diamond' }> = {
  decision: { fill: '#3b2f00', stroke: '#ffd54f', shape: 'round' },
  variable: { fill: '#1a1f26', stroke: '#6b7785', shape: 'round' },
  predicted: { fill: '#2d1a33', stroke: '#ce93d8', shape: 'round' },
  constraint: { fill: '#3a1d00', stroke: '#d9730d', shape: 'round' },
  model: { fill: '#2a1740', stroke: '#b388ff', shape: 'rect' },
  formula: { fill: '#102a43', stroke: '#4ea1ff', shape: 'rect' },
  'constraint-skill': { fill: '#3a1d00', stroke: '#ff9800', shape: 'rect' },
  composition: { fill: '#12301f', stroke: '#66bb6a', shape: 'rect' },
  optimization: { fill: '#0b2e13', stroke: '#81c784', shape: 'rect' },
  task: { fill: '#222', stroke: '#eeeeee', shape: 'rect' },
  cost: { fill: '#4a0d0d', stroke: '#ff5252', shape: 'diamond' },
};

const SKILL_KIND: Record<string, Kind> = {
  InferenceModel: 'model',
  MathFunction: 'formula',
  Constraint: 'constraint-skill',
  CompositionSkill: 'composition',
  OptimizationSkill: 'optimization',
};

/** Lays out and draws the strategy; `values` are live values shown on the variable nodes. */
export function strategyGraph(
  spec: StrategySpec,
  decisions: ReadonlySet<string>,
  values: ReadonlyMap<string, string>,
): Html {
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: 'LR', nodesep: 8, ranksep: 60, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  const nodes = new Map<string, { label: string; sub?: string; kind: Kind }>();
  const add = (id: string, label: string, kind: Kind, sub?: string) => {
    nodes.set(id, { label, kind, ...(sub ? { sub } : {}) });
    g.setNode(id, { width: Math.max(label.length, sub?.length ?? 0) * CHAR_W + 24, height: NODE_H });
  };
  const variableKind = (name: string): Kind => {
    const t = spec.variables[name]?.type;
    if (decisions.has(name)) return 'decision';
    return t === 'Predicted' ? 'predicted' : t === 'Constraint' ? 'constraint' : 'variable';
  };
  const used = new Set<string>();
  for (const skill of Object.values(spec.skills))
    for (const v of [...skill.inputs, ...skill.outputs]) used.add(v);
  for (const name of used) {
    const units = spec.variables[name]?.units;
    const value = values.get(name);
    add(`v:${name}`, name, variableKind(name), value ? `${value}${units ? ` ${units}` : ''}` : undefined);
  }
  for (const [name, skill] of Object.entries(spec.skills)) {
    add(`s:${name}`, name, SKILL_KIND[skill.class] ?? 'formula', skill.class);
    for (const i of skill.inputs) g.setEdge(`v:${i}`, `s:${name}`);
    for (const o of skill.outputs) g.setEdge(`s:${name}`, `v:${o}`);
    const cfg = skill.config as { cost_skill_name?: string; cost_feature_name?: string };
    if (skill.class === 'OptimizationSkill' && cfg.cost_feature_name) {
      add('cost', `cost: ${cfg.cost_feature_name}`, 'cost');
      g.setEdge(`s:${name}`, 'cost');
      if (used.has(cfg.cost_feature_name)) g.setEdge(`v:${cfg.cost_feature_name}`, 'cost');
    }
  }
  for (const task of spec.tasks) {
    add(`t:${task.name}`, task.name, 'task', 'task');
    for (const s of task.skill_sequence) if (nodes.has(`s:${s}`)) g.setEdge(`s:${s}`, `t:${task.name}`);
  }
  dagre.layout(g);
  const { width = 0, height = 0 } = g.graph();
  const edges = g.edges().map((e: Edge) => {
    const pts: { x: number; y: number }[] = g.edge(e).points ?? [];
    return `<path d="M${pts.map((p: { x: number; y: number }) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join('L')}" />`;
  });
  const drawn = [...nodes].map(([id, n]) => {
    const p = g.node(id);
    const s = STYLE[n.kind];
    const x = p.x - p.width / 2;
    const y = p.y - p.height / 2;
    const shape =
      s.shape === 'diamond'
        ? html`<polygon points="${p.x},${y - 6} ${x + p.width + 8},${p.y} ${p.x},${y + p.height + 6} ${x - 8},${p.y}" fill="${s.fill}" stroke="${s.stroke}" stroke-width="1.5"/>`
        : html`<rect x="${x}" y="${y}" width="${p.width}" height="${p.height}" rx="${s.shape === 'round' ? 14 : 2}" fill="${s.fill}" stroke="${s.stroke}" stroke-width="${n.kind === 'decision' ? 3 : 1.5}"/>`;
    return html`<g class="node node-${n.kind}" data-node="${id}"><title>${n.label} (${n.kind})</title>${shape}<text x="${p.x}" y="${n.sub ? p.y - 3 : p.y + 4}" text-anchor="middle" fill="#e8ecf1">${n.label}</text>${n.sub ? html`<text x="${p.x}" y="${p.y + 12}" text-anchor="middle" fill="#9aa5b1" font-size="10">${n.sub}</text>` : ''}</g>`;
  });
  const legend = (Object.keys(STYLE) as Kind[]).map(
    (k) =>
      html`<span class="state" style="border:2px solid ${STYLE[k].stroke};background:${STYLE[k].fill}">${k}</span> `,
  );
  return html`<p class="muted">${legend}</p><div class="graph" role="img" aria-label="strategy graph: ${nodes.size} nodes"><svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${Math.ceil(height)}" viewBox="0 0 ${Math.ceil(width)} ${Math.ceil(height)}"><g fill="none" stroke="#56616d" stroke-width="1">${raw(edges.join(''))}</g>${drawn}</svg></div>`;
}

/** Live values for the graph's nodes from the newest cycle. */
export function liveValues(
  c:
    | {
        setpoints: Record<string, { recommended: number }>;
        predictions: Record<string, { recommended: number | null }>;
        scores: Record<string, { recommended: number | null }>;
        decisions: Record<string, { current: number | null; recommended: number | null }>;
      }
    | undefined,
): Map<string, string> {
  const out = new Map<string, string>();
  if (!c) return out;
  for (const [k, d] of Object.entries(c.decisions))
    out.set(k, `${formatNumber(d.current)} → ${formatNumber(d.recommended)}`);
  for (const [k, s] of Object.entries(c.setpoints))
    if (!out.has(k)) out.set(k, `→ ${formatNumber(s.recommended)}`);
  for (const [k, p] of Object.entries(c.predictions)) out.set(k, formatNumber(p.recommended));
  for (const [k, p] of Object.entries(c.scores)) out.set(k, `score ${formatNumber(p.recommended)}`);
  return out;
}
