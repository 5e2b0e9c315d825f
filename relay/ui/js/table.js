// table.js - the functions table beside the flame graph: one row per
// function (frame name) with self and total, sortable by any column.
//
// It shows the functions of the graph's current zoom (a subtree) and, while
// a search is active, only the matching ones, so it stays in step with the
// graph. Clicking a row (or Enter on a focused row) calls onSelect(name):
// the app then highlights every frame of that function and zooms the graph
// to their common ancestor. Rows are capped (LIMIT) with a "show all" button
// so a 50,000-node profile stays quick. Main thread only.

import { KIND_NAMES } from './profile.js';
import { el, clear, pct, fmtValue, signedPct } from './util.js';
import { kindColour } from './flame.js';

const LIMIT = 300;

export class FunctionsTable {
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    this.sortKey = opts.sortKey || 'self';
    this.sortDesc = true;
    this.showAll = false;
    this.selected = null;
    host.classList.add('ftable');
  }

  // profile: Profile; within: zoomed node; nameMatch: Uint8Array or null.
  update(profile, within, nameMatch) {
    this.profile = profile;
    this.within = within;
    this.nameMatch = nameMatch;
    this.fns = profile.functions(within);
    this.render();
  }

  columns() {
    if (this.profile && this.profile.diff) {
      return [
        { key: 'name', label: 'Function', cls: 'name' },
        { key: 'bself', label: 'Base self', num: true },
        { key: 'cself', label: 'Comparison self', num: true },
        { key: 'dself', label: 'Self change', num: true },
        { key: 'btot', label: 'Base total', num: true },
        { key: 'ctot', label: 'Comparison total', num: true },
        { key: 'dtot', label: 'Total change', num: true },
      ];
    }
    return [
      { key: 'name', label: 'Function', cls: 'name' },
      { key: 'self', label: 'Self', num: true },
      { key: 'selfp', label: 'Self %', num: true, sortAs: 'self' },
      { key: 'total', label: 'Total', num: true },
      { key: 'totalp', label: 'Total %', num: true, sortAs: 'total' },
    ];
  }

  sortValue(key, k) {
    const f = this.fns, p = this.profile;
    const bs = p.baseSum || 1, cs = p.cmpSum || 1;
    switch (key) {
      case 'name': return p.names[k];
      case 'self': return f.self[k];
      case 'total': return f.total[k];
      case 'bself': return f.bSelf[k] / bs;
      case 'cself': return f.cSelf[k] / cs;
      case 'dself': return f.cSelf[k] / cs - f.bSelf[k] / bs;
      case 'btot': return f.bTot[k] / bs;
      case 'ctot': return f.cTot[k] / cs;
      case 'dtot': return f.cTot[k] / cs - f.bTot[k] / bs;
    }
    return 0;
  }

  render() {
    const t0 = performance.now();
    const p = this.profile;
    const f = this.fns;
    const cols = this.columns();
    if (!cols.some(c => c.key === this.sortKey || c.sortAs === this.sortKey)) this.sortKey = cols[1].key;
    let ids = f.ids;
    if (this.nameMatch) ids = ids.filter(k => this.nameMatch[k]);
    const key = this.sortKey, desc = this.sortDesc;
    const vals = new Map();
    for (const k of ids) vals.set(k, this.sortValue(key, k));
    ids = ids.slice().sort((a, b) => {
      const va = vals.get(a), vb = vals.get(b);
      let c = typeof va === 'string' ? va.localeCompare(vb) : va - vb;
      if (key === 'dself' || key === 'dtot') c = Math.abs(va) - Math.abs(vb) || c;
      return desc ? -c : c;
    });
    const shown = this.showAll ? ids : ids.slice(0, LIMIT);
    const all = p.diff ? 1 : (p.sum || p.rootTotal || 1);
    const head = el('tr', null, cols.map(c => {
      const active = c.key === key || c.sortAs === key;
      return el('th' + (c.num ? '.num' : ''), {
        scope: 'col', tabindex: '0', 'data-key': c.sortAs || c.key,
        'aria-sort': active ? (desc ? 'descending' : 'ascending') : 'none',
        onclick: () => this.sortBy(c.sortAs || c.key),
        onkeydown: e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.sortBy(c.sortAs || c.key); } },
      }, c.label, active ? el('span.sort', { text: desc ? ' \u25be' : ' \u25b4', 'aria-hidden': 'true' }) : null);
    }));
    const body = shown.map(k => {
      const name = p.names[k];
      const kind = p.kinds[k] ?? 0;
      const sw = el('span.swatch', { title: KIND_NAMES[kind] || '' });
      sw.style.background = kindColour(kind, name);
      const tr = el('tr' + (this.selected === name ? '.selected' : ''), {
        tabindex: '0', 'data-name': name,
        onclick: () => this.select(name),
        onkeydown: e => { if (e.key === 'Enter') this.select(name); },
      }, el('td.name', { title: name }, sw, el('span.fn', { text: name })));
      if (!p.diff) {
        tr.append(
          el('td.num', { text: fmtValue(f.self[k], p.unit) }),
          barCell(f.self[k] / all),
          el('td.num', { text: fmtValue(f.total[k], p.unit) }),
          barCell(f.total[k] / all));
      } else {
        const bs = p.baseSum || 1, cs = p.cmpSum || 1;
        const b1 = 100 * f.bSelf[k] / bs, c1 = 100 * f.cSelf[k] / cs;
        const b2 = 100 * f.bTot[k] / bs, c2 = 100 * f.cTot[k] / cs;
        tr.append(
          el('td.num', { text: b1.toFixed(2) + '%' }), el('td.num', { text: c1.toFixed(2) + '%' }),
          deltaCell(c1 - b1),
          el('td.num', { text: b2.toFixed(2) + '%' }), el('td.num', { text: c2.toFixed(2) + '%' }),
          deltaCell(c2 - b2));
      }
      return tr;
    });
    const table = el('table.data', null,
      el('caption.sr-only', { text: 'Functions by ' + key + (this.nameMatch ? ', matching the search' : '') }),
      el('thead', null, head), el('tbody', null, body));
    const foot = el('div.tfoot', null,
      `${ids.length.toLocaleString()} function${ids.length === 1 ? '' : 's'}` +
      (this.within > 0 ? ' under the zoomed frame' : '') + (this.nameMatch ? ' matching the search' : ''),
      ids.length > shown.length ? el('button.link', { onclick: () => { this.showAll = true; this.render(); },
        text: `show all (${ids.length - shown.length} more)` }) : null);
    clear(this.host).append(table, foot);
    this.lastRender = { ms: performance.now() - t0, rows: shown.length };
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else { this.sortKey = key; this.sortDesc = key !== 'name'; }
    this.render();
    const th = this.host.querySelector(`th[data-key="${key}"]`);
    if (th) th.focus();
  }

  select(name) {
    this.selected = name;
    if (this.opts.onSelect) this.opts.onSelect(name);
  }
}

function barCell(frac) {
  const bar = el('span.bar');
  bar.style.width = Math.min(100, Math.max(0, frac * 100)).toFixed(1) + '%';
  return el('td.num.pct', null, el('span.barwrap', null, bar), el('span.pv', { text: pct(frac, 1) }));
}

function deltaCell(d) {
  const cls = d > 0.005 ? '.worse' : d < -0.005 ? '.better' : '';
  return el('td.num.delta' + cls, { text: signedPct(d) });
}
