// diffstats.js - the compare view's statistics (the relay's /diff "stats"
// and "methods", docs/diff.md): a summary line ("3 significant
// regressions, 1 improvement, 212 methods unchanged") with the verdict of
// the gate, and a table of methods where significant changes are in
// colour (rise red, fall blue-green, INCONCLUSIVE amber with how much more
// data would settle it) and every other method is greyed and hidden until
// "Show all" is on. Main thread only; no state beyond the toggle.

import { el, clear } from './util.js';

const pp = v => (v > 0 ? '+' : v < 0 ? '\u2212' : '\u00b1') + Math.abs(100 * v).toFixed(2);

function fmtShare(v, share) {
  if (v == null) return '';
  return share ? (100 * v).toFixed(2) + '%' : Number(v).toPrecision(3) + '/s';
}

function fmtDelta(m, share) {
  if (share) return pp(m.delta) + ' pp';
  if (!(m.base > 0)) return 'new';
  const r = m.delta / m.base;
  return (r > 0 ? '+' : '\u2212') + Math.abs(100 * r).toFixed(1) + '%';
}

function fmtInterval(m, share) {
  if (!m.ci95 || m.ci95[0] == null) return '';
  if (share) return `${pp(m.ci95[0])} … ${pp(m.ci95[1])}`;
  if (!(m.base > 0)) return '';
  const r = x => (x > 0 ? '+' : '\u2212') + Math.abs(100 * x / m.base).toFixed(1) + '%';
  return `${r(m.ci95[0])} … ${r(m.ci95[1])}`;
}

function fmtQ(q) {
  if (q == null) return 'not tested';
  return q < 0.001 ? q.toExponential(1) : q.toFixed(3);
}

// A method row is "significant" (coloured, always shown) when the relay
// flagged it: a significant change, or a verdict other than PASS.
export function isFlagged(m) { return m.change !== 'none' || m.verdict !== 'PASS'; }

function rowClass(m) {
  if (m.verdict === 'REGRESSION') return 'sig.rise.fail';
  if (m.verdict === 'INCONCLUSIVE') return 'inconclusive';
  if (m.change === 'rise') return 'sig.rise';
  if (m.change === 'fall') return 'sig.fall';
  return 'insig';
}

export class DiffStats {
  // host: an element; onSelect(name): a method row was picked
  constructor(host, { onSelect }) {
    this.host = host;
    this.onSelect = onSelect;
    this.showAll = false;
  }

  // d: the /diff answer. Returns false when it has no statistics (an
  // older relay), so the caller can show its own summary.
  render(d) {
    this.d = d;
    const st = d && d.stats;
    if (!st || !Array.isArray(d.methods)) { clear(this.host); return false; }
    const share = st.normalize === 'share';
    const flagged = d.methods.filter(isFlagged);
    const rows = this.showAll ? d.methods : flagged;
    const verdict = el('span.verdict.v-' + st.verdict.toLowerCase(), { text: st.verdict,
      title: `the gate: a method whose ${share ? 'share' : 'value per second'} grows by ${st.threshold} or more with q ≤ ${st.q_level}` });
    const toggle = el('label.showall', null,
      el('input', { type: 'checkbox', id: 'diff-show-all', checked: this.showAll,
        onchange: e => { this.showAll = e.target.checked; this.render(this.d); } }),
      ` Show all (${d.methods.length} methods listed)`);
    const side = s => `${s.windows} windows of ${s.instances} instance${s.instances === 1 ? '' : 's'}` +
      (s.skipped_warmup ? `, ${s.skipped_warmup} warm-up windows skipped` : '');
    const runShare = (k, what) => st.base[k] != null && st.cmp[k] != null
      ? ` ${what}: ${(100 * st.base[k]).toPrecision(2)}% → ${(100 * st.cmp[k]).toPrecision(2)}% of the time.` : '';
    const head = el('div.stats-head', null,
      el('h2', null, 'Changes beyond noise ', verdict),
      el('p.diff-stats-summary', { role: 'status', text: st.summary + '.' }),
      el('p.muted', { text: `Inclusive ${share ? 'share of each side’s total' : 'value per second'}, ` +
        `threshold ${st.threshold}, false discovery rate ${st.q_level}; base: ${side(st.base)}; comparison: ${side(st.cmp)}.` +
        runShare('gc_pause_share', 'GC pauses') + runShare('lock_wait_share', 'Lock waits') }),
      toggle);
    const th = ['Method', 'Base', 'Comparison', 'Change', '95% interval', 'q', 'Verdict'].map(h => el('th', { scope: 'col', text: h }));
    const body = rows.map(m => {
      const why = m.verdict !== 'INCONCLUSIVE' ? '' : m.tested ? `needs ~${m.more_data.toFixed(1)}× the data` :
        `too few samples: needs ~${m.more_data.toFixed(1)}× the data`;
      const pick = () => this.onSelect && this.onSelect(m);
      return el('tr.' + rowClass(m), { tabindex: '0', 'data-name': m.name, 'data-verdict': m.verdict, 'data-change': m.change,
        onclick: pick, onkeydown: e => { if (e.key === 'Enter') pick(); } },
        el('td.name', { title: m.name }, el('span.fn', { text: m.name })),
        el('td.num', { text: fmtShare(m.base, share) }), el('td.num', { text: fmtShare(m.cmp, share) }),
        el('td.num.delta', { text: fmtDelta(m, share) }), el('td.num', { text: fmtInterval(m, share) }),
        el('td.num', { text: fmtQ(m.q) }),
        el('td', { text: m.verdict + (why ? ` (${why})` : '') }));
    });
    clear(this.host).append(head, rows.length
      ? el('table.data.compact.diffstats', null, el('thead', null, el('tr', null, th)), el('tbody', null, body))
      : el('p.muted', { text: 'No method changed beyond noise.' }));
    return true;
  }
}
