// table.js - the functions table beside the flame graph: one row per
// function (frame name) with self and total, sortable by any column.
//
// It shows the functions of the graph's current zoom (a subtree) and, while
// a search is active, only the matching ones, so it stays in step with the
// graph. Clicking a row (or Enter on a focused row) calls onSelect(name):
// the app then highlights every frame of that function and zooms the graph
// to their common ancestor. Rows are capped (LIMIT, then "show more"), the
// top rows are picked with a bounded heap, row elements are recycled and
// off-screen rows skip layout (content-visibility), so a 50,000-node
// profile stays quick. An ARIA table of divs. Main thread only.

import { KIND_NAMES } from './profile.js';
import { el, clear, pct, fmtValue, signedPct } from './util.js';
import { kindColour } from './flame.js';

const LIMIT = 100;      // rows drawn at first; "show more" adds MORE
const MORE = 400;

export class FunctionsTable {
  constructor(host, opts = {}) {
    this.host = host;
    this.opts = opts;
    this.sortKey = opts.sortKey || 'self';
    this.sortDesc = true;
    this.limit = LIMIT;
    this.selected = null;
    host.classList.add('ftable');
  }

  // profile: Profile; within: zoomed node; nameMatch: Uint8Array or null.
  update(profile, within, nameMatch) {
    this.profile = profile;
    this.within = within;
    this.nameMatch = nameMatch;
    this.fns = profile.functions(within);
    this.limit = LIMIT;
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
    const count = ids.length;
    const key = this.sortKey, desc = this.sortDesc;
    const sign = desc ? -1 : 1;
    if (key === 'name') {
      const names = p.names;
      ids = ids.slice().sort((a, b) => sign * (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
    } else {
      // Sort keys in a typed array indexed by name id: no Map, no boxing.
      const vals = new Float64Array(p.names.length);
      const absolute = key === 'dself' || key === 'dtot';   // biggest change first, either sign
      for (const k of ids) { const v = this.sortValue(key, k); vals[k] = absolute ? Math.abs(v) : v; }
      // Only the first `limit` rows are shown: select them with a bounded
      // heap (O(n log limit)) instead of sorting every function.
      const cmp = (a, b) => sign * (vals[a] - vals[b]) || a - b;
      ids = ids.length > 4 * this.limit ? topK(ids, this.limit, cmp) : Array.from(ids).sort(cmp);
    }
    const shown = ids.length > this.limit ? ids.slice(0, this.limit) : ids;
    const all = p.diff ? 1 : (p.sum || p.rootTotal || 1);
    const head = el('div.grow.ghead', { role: 'row' }, cols.map(c => {
      const active = c.key === key || c.sortAs === key;
      return el('div.gh' + (c.num ? '.num' : ''), {
        role: 'columnheader', tabindex: '0', 'data-key': c.sortAs || c.key,
        'aria-sort': active ? (desc ? 'descending' : 'ascending') : 'none',
        onclick: () => this.sortBy(c.sortAs || c.key),
        onkeydown: e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.sortBy(c.sortAs || c.key); } },
      }, c.label, c.key === key ? el('span.sort', { text: desc ? ' \u25be' : ' \u25b4', 'aria-hidden': 'true' }) : null);
    }));
    // The table is an ARIA grid of divs (role table/row/cell): each row is
    // a CSS grid with fixed column widths and content-visibility: auto, so
    // the browser lays out only the rows on screen. Rows are recycled
    // between renders (only their text changes) and clicks are delegated:
    // re-sorting or re-zooming a big profile costs little more than text.
    const colsKey = cols.map(c => c.key).join();
    if (colsKey !== this.colsKey) {
      this.colsKey = colsKey;
      this.pool = [];
      this.tbody = el('div.gbody', {
        role: 'rowgroup',
        onclick: e => { const tr = e.target.closest('.grow'); if (tr && tr.dataset.name) this.select(tr.dataset.name); },
        onkeydown: e => { const tr = e.target.closest('.grow'); if (e.key === 'Enter' && tr && tr.dataset.name) this.select(tr.dataset.name); },
      });
      this.thead = el('div.ghead-group', { role: 'rowgroup' });
      this.table = el('div.grid' + (p.diff ? '.diff' : ''), { role: 'table' }, this.thead, this.tbody);
      this.foot = el('div.tfoot');
      clear(this.host).append(this.table, this.foot);
    }
    clear(this.thead).append(head);
    this.table.setAttribute('aria-label', 'Functions by ' + key + (this.nameMatch ? ', matching the search' : ''));
    while (this.pool.length < shown.length) {
      const r = this.makeRow(p.diff);
      this.pool.push(r);
      this.tbody.append(r.tr);
    }
    while (this.pool.length > shown.length) this.pool.pop().tr.remove();
    for (let j = 0; j < shown.length; j++) this.fillRow(this.pool[j], shown[j], all);
    clear(this.foot).append(
      `${count.toLocaleString()} function${count === 1 ? '' : 's'}` +
      (this.within > 0 ? ' under the zoomed frame' : '') + (this.nameMatch ? ' matching the search' : ''),
      ...(count > shown.length ? [el('button.link', { onclick: () => { this.limit += MORE; this.render(); },
        text: `show ${Math.min(MORE, count - shown.length)} more (of ${count - shown.length})` })] : []));
    this.lastRender = { ms: performance.now() - t0, rows: shown.length };
  }

  makeRow(diff) {
    const r = { sw: el('span.swatch'), fn: el('span.fn'), cells: [] };
    r.name = el('div.gc.name', { role: 'cell' }, r.sw, r.fn);
    r.tr = el('div.grow', { role: 'row', tabindex: '0' }, r.name);
    const n = diff ? 6 : 4;
    for (let c = 0; c < n; c++) {
      let td;
      if (!diff && (c === 1 || c === 3)) {
        const bar = el('span.bar'), pv = el('span.pv');
        td = el('div.gc.num.pct', { role: 'cell' }, el('span.barwrap', null, bar), pv);
        td.bar = bar; td.pv = pv;
      } else td = el('div.gc.num', { role: 'cell' });
      r.cells.push(td);
      r.tr.append(td);
    }
    return r;
  }

  fillRow(r, k, all) {
    const p = this.profile, f = this.fns;
    const name = p.names[k];
    const kind = p.kinds[k] ?? 0;
    if (r.k === k && r.p === p && r.f === f && r.sel === (this.selected === name)) return;
    r.k = k; r.p = p; r.f = f; r.sel = this.selected === name;
    r.tr.dataset.name = name;
    r.tr.classList.toggle('selected', r.sel);
    r.name.title = name;
    r.fn.textContent = name;
    r.sw.title = KIND_NAMES[kind] || '';
    r.sw.style.background = kindColour(kind, name);
    const c = r.cells;
    if (!p.diff) {
      c[0].textContent = fmtValue(f.self[k], p.unit);
      setBar(c[1], f.self[k] / all);
      c[2].textContent = fmtValue(f.total[k], p.unit);
      setBar(c[3], f.total[k] / all);
    } else {
      const bs = p.baseSum || 1, cs = p.cmpSum || 1;
      const b1 = 100 * f.bSelf[k] / bs, c1 = 100 * f.cSelf[k] / cs;
      const b2 = 100 * f.bTot[k] / bs, c2 = 100 * f.cTot[k] / cs;
      c[0].textContent = b1.toFixed(2) + '%'; c[1].textContent = c1.toFixed(2) + '%'; setDelta(c[2], c1 - b1);
      c[3].textContent = b2.toFixed(2) + '%'; c[4].textContent = c2.toFixed(2) + '%'; setDelta(c[5], c2 - b2);
    }
  }

  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else { this.sortKey = key; this.sortDesc = key !== 'name'; }
    this.render();
    const th = this.host.querySelector(`.gh[data-key="${key}"]`);
    if (th) th.focus();
  }

  select(name) {
    this.selected = name;
    if (this.opts.onSelect) this.opts.onSelect(name);
  }
}

function setBar(td, frac) {
  td.bar.style.width = Math.min(100, Math.max(0, frac * 100)).toFixed(1) + '%';
  td.pv.textContent = pct(frac, 1);
}

function setDelta(td, d) {
  td.textContent = signedPct(d);
  td.className = 'gc num delta' + (d > 0.005 ? ' worse' : d < -0.005 ? ' better' : ' same');
}

// The k smallest ids under cmp, in order: a bounded max-heap over the ids.
function topK(ids, k, cmp) {
  const h = [];
  const up = j => { while (j > 0) { const q = (j - 1) >> 1; if (cmp(h[j], h[q]) <= 0) break; [h[j], h[q]] = [h[q], h[j]]; j = q; } };
  const down = j => {
    for (;;) {
      const l = 2 * j + 1, r = l + 1;
      let m = j;
      if (l < h.length && cmp(h[l], h[m]) > 0) m = l;
      if (r < h.length && cmp(h[r], h[m]) > 0) m = r;
      if (m === j) return;
      [h[j], h[m]] = [h[m], h[j]]; j = m;
    }
  };
  for (const id of ids) {
    if (h.length < k) { h.push(id); up(h.length - 1); }
    else if (cmp(id, h[0]) < 0) { h[0] = id; down(0); }
  }
  return h.sort(cmp);
}
