// trace.js - the trace box: paste a trace id, see the flame graph of that
// one trace across every app of the tenant (GET /api/v1/profile?trace_id=,
// docs/api.md). Its roots are the apps the trace went through, then their
// threads, then the stacks; samples carry a trace id when their request
// came with a W3C traceparent header (docs/context_auto.md) or the program
// set one (Cprof.trace).
//
// The id is checked before asking (32 or 16 hex digits; a whole traceparent
// "00-<trace>-<span>-01" is accepted and its trace id taken), the range is
// the view's. The answer is said above the graph: how many samples, in how
// many apps, or that the relay kept none for that id in the range (trace ids
// are kept only at full resolution, for a bounded time). Main thread only.

import { get } from './api.js';
import { Profile } from './profile.js';
import { FlameGraph } from './flame.js';
import { el, clear, fmtValue } from './util.js';

// The trace id in text: a bare id (32 or 16 hex digits) or a traceparent.
// Returns lower-case hex or null.
export function parseTraceId(text) {
  const t = String(text || '').trim().toLowerCase();
  const tp = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}/.exec(t);
  const id = tp ? tp[1] : t;
  if (!/^([0-9a-f]{32}|[0-9a-f]{16})$/.test(id) || /^0+$/.test(id)) return null;
  return id;
}

export class TraceBox {
  // host: an empty element; range(): {from, to, type} in API form.
  constructor(host, range) {
    this.range = range;
    this.input = el('input.trace-id.mono', { type: 'text', id: 'trace-id', placeholder: 'Paste a trace id (32 hex digits) or a traceparent',
      'aria-label': 'Trace id', spellcheck: 'false', autocomplete: 'off' });
    this.btn = el('button.btn', { type: 'button', text: 'Show trace', id: 'trace-show', onclick: () => this.show() });
    this.input.addEventListener('keydown', e => { if (e.key === 'Enter') this.show(); });
    this.msg = el('div.status-line', { id: 'trace-status', role: 'status', 'aria-live': 'polite' });
    this.fgHost = el('div', { hidden: true });
    this.fg = null;
    host.append(el('section.panel.trace', { id: 'trace', 'aria-label': 'Trace' },
      el('div.graph-head', null, el('h2', { text: 'Trace' }),
        el('span.muted', { text: 'one request across services: every app it went through' })),
      el('div.row', null, this.input, this.btn),
      this.msg, this.fgHost));
  }

  async show() {
    const id = parseTraceId(this.input.value);
    if (!id) { this.msg.textContent = 'Not a trace id: 32 (or 16) hex digits, or a whole traceparent header.'; return; }
    const r = this.range();
    if (this.abort) this.abort.abort();
    const ac = this.abort = new AbortController();
    this.msg.textContent = 'Loading…';
    try {
      const json = await get('profile', { trace_id: id, type: r.type, from: r.from, to: r.to, format: 'json' }, ac.signal);
      if (ac.signal.aborted) return;
      const p = new Profile(json);
      if (!this.fg) this.fg = new FlameGraph(this.fgHost);
      this.fgHost.hidden = false;
      const apps = [];
      for (let i = 1; i < p.n; i++) if (p.parent[i] === 0) apps.push(String(p.names[p.name[i]]).replace(/^\[app\] /, ''));
      if (!p.rootTotal) {
        this.fg.setEmptyText(`No samples of trace ${id} in this range.`);
        this.msg.textContent = `No samples of trace ${id} in this range (trace ids are kept at full resolution only; try a range closer to the request).`;
      } else {
        this.msg.textContent = `Trace ${id}: ${fmtValue(p.sum, p.unit)} in ${apps.length} app${apps.length === 1 ? '' : 's'}: ${apps.join(', ')}`;
      }
      this.fg.setProfile(p);
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.msg.textContent = e.unreachable ? 'The relay is unreachable.' : 'Could not load the trace: ' + e.message;
    }
  }

  destroy() { if (this.abort) this.abort.abort(); if (this.fg) this.fg.destroy(); }
}
