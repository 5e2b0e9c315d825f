// endpoints.js - the app view's Endpoints panel: the profile's value per
// request endpoint (GET /api/v1/top?group_by=endpoint, docs/api.md), from
// the `endpoint` label that the agent's automatic context puts on samples
// taken inside an HTTP request (docs/context_auto.md).
//
// A row says the endpoint, its share of the range's total (a bar and a
// percentage), its value (CPU time...) and, from relays that count them, its
// samples; clicking it (or Enter on it) asks the
// view to filter by that endpoint (opts.filter), so the flame graph, the
// timeline and the functions table show that endpoint's work only. Samples
// taken outside any request are one row, "outside requests", that clears the
// endpoint filter. The panel hides itself when the app has no endpoint
// labels (no HTTP server, or context.http=off), and when the relay does not
// know group_by (an older relay answers 400): nothing to say then.
// Main thread only.

import { get } from './api.js';
import { el, clear, pct, fmtCount, fmtValue } from './util.js';
import { TYPE_LABEL } from './state.js';

export const ENDPOINT_KEY = 'endpoint';

// The relay's answer as [{value, total, samples}] sorted by total,
// value null for samples without the key. Accepts the group list under
// "groups" (or "values").
export function endpointRows(json) {
  const g = (json && (json.groups || json.values)) || [];
  return g.map(r => ({ value: r.value == null || r.value === '' ? null : String(r.value),
    total: Number(r.total || r.value_total || 0), samples: Number(r.samples || r.count || 0) }))
    .sort((a, b) => b.total - a.total);
}

// A label filter element for key=value, escaped as the relay reads it
// (labels.js: '\,' '\=' '\\').
export function labelElement(key, value) {
  return `${key}=${String(value).replace(/[\\,=]/g, '\\$&')}`;
}

export class EndpointsPanel {
  // host: an empty element; opts.filter(valueOrNull) applies the filter.
  constructor(host, opts = {}) {
    this.opts = opts;
    this.host = host;
    this.rows = [];
    this.body = el('div');
    this.section = el('section.panel.endpoints', { id: 'endpoints', 'aria-label': 'Endpoints', hidden: true },
      el('div.graph-head', null, el('h2', { text: 'Endpoints' }),
        el('span.muted', { text: 'by the endpoint label of each request; click one to filter the graph' })),
      this.body);
    host.append(this.section);
  }

  // p: the API parameters of the view ({app, type, from, to, labels}).
  // The endpoint itself is left out of the filter, so every endpoint stays
  // listed (the selected one marked) while the graph shows one.
  async load(p, selected) {
    const labels = (p.labels || '').split(',').filter(x => x && x.split('=')[0].trim() !== ENDPOINT_KEY).join(',');
    if (this.abort) this.abort.abort();
    const ac = this.abort = new AbortController();
    try {
      const json = await get('top', { app: p.app, type: p.type, from: p.from, to: p.to, labels, group_by: ENDPOINT_KEY, limit: 50 }, ac.signal);
      if (ac.signal.aborted) return;
      this.render(endpointRows(json), p.type, selected, json.unit);
    } catch (e) {
      if (e.name === 'AbortError' || e.unreachable) return;   // the page's banner says it
      this.render([], p.type, selected);                      // no group_by here: nothing to show
    }
  }

  render(rows, type, selected, unit) {
    this.rows = rows;
    const named = rows.filter(r => r.value !== null);
    this.section.hidden = named.length === 0;
    if (this.section.hidden) { clear(this.body); return; }
    const total = rows.reduce((s, r) => s + r.total, 0);
    const what = TYPE_LABEL[type] || type || 'Value';
    const withSamples = rows.some(r => r.samples > 0);     // relays that count them
    const tr = r => {
      const frac = total ? r.total / total : 0;
      const bar = el('span.bar');
      bar.style.width = Math.min(100, frac * 100).toFixed(1) + '%';
      const sel = r.value !== null && r.value === selected;
      const row = el('tr' + (sel ? '.selected' : ''), { tabindex: '0', 'data-endpoint': r.value == null ? '' : r.value,
        title: r.value == null ? 'Samples taken outside any HTTP request: click to show all endpoints' : 'Show only ' + r.value,
        'aria-selected': sel ? 'true' : null },
        el('td' + (r.value == null ? '.muted' : '.mono'), { text: r.value == null ? 'outside requests' : r.value }),
        el('td.num.pct', null, el('span.barwrap', null, bar), el('span.pv', { text: pct(r.total, total) })),
        el('td.num', { text: unit ? fmtValue(r.total, unit) : fmtCount(r.total) }),
        withSamples ? el('td.num', { text: fmtCount(r.samples) }) : null);
      const pick = () => this.opts.filter && this.opts.filter(sel ? null : r.value);
      row.addEventListener('click', pick);
      row.addEventListener('keydown', e => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); pick(); } });
      return row;
    };
    clear(this.body).append(el('table.data.compact.endpoint-table', null,
      el('thead', null, el('tr', null, ['Endpoint', `${what} share`, what].concat(withSamples ? ['Samples'] : []).map(h => el('th', { scope: 'col', text: h })))),
      el('tbody', null, rows.map(tr))));
  }

  destroy() { if (this.abort) this.abort.abort(); }
}
