// insights.js - what the relay's rules found (GET /api/v1/insights, see
// docs/api.md and docs/insights.md): the Insights panel of the app view and
// the warning badge of the apps list.
//
// Panel: the findings in the order the relay gives them (by estimated
// saving), each a <details> whose summary says severity, rule title, type,
// share and saving, and whose body holds the evidence: share with its 95%
// confidence interval and sample count, the top callers, an example stack
// (root first, the matched frames marked), the worst window, how many
// instances show it, the saving and the fix. "Show in flame graph" asks
// the view (opts.show) for the finding's type and range with the matched
// frames as the search, so the graph highlights them; a caller does the
// same for that caller, the worst window for that window. Rules with too
// few matched samples are listed quietly under the findings.
//
// Messages: a failed request is said inside the panel, quietly (the view's
// message area already says what the profile request hit, e.g. an unknown
// app, once); a relay without the endpoint gets one sentence; the relay
// being unreachable is the page's banner (health.js), and the panel keeps
// what it shows.
//
// Badge: one request per app row that scrolls into view (an
// IntersectionObserver), at most two at a time, cached for a minute, so
// the apps list (rebuilt every 5 s) draws at once and fills badges in as
// answers come. Only apps with WARN findings get a badge. Main thread only.

import { get } from './api.js';
import { el, clear, fmtCount, fmtDuration } from './util.js';
import { fmtDateTime, fmtTime, zoneName } from './time.js';
import { TYPE_LABEL, ZOOM_SEP } from './state.js';

// ---------------------------------------------------------------- helpers

// A fraction as a percentage with a precision that suits its size.
export function fracPct(f) {
  if (f == null || !isFinite(f)) return '–';
  const p = 100 * f;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return (p < 10 ? p.toFixed(2) : p.toFixed(1)) + '%';
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'); }

// The flame-graph search (profile.js matchNames) that matches exactly the
// given frame names: "=name" for one, an anchored /regex/ for several.
export function framesQuery(frames) {
  const f = (frames || []).filter(Boolean);
  if (!f.length) return null;
  if (f.length === 1) return '=' + f[0];
  return '/^(?:' + f.map(escapeRe).join('|') + ')$/';
}

function typeName(t) { return TYPE_LABEL[t] || t; }

// A value of a finding's metric (what its thresholds compare, docs/api.md):
// a share or fraction of time, a growth per hour, seconds, or a rate.
export function fmtMetric(v, unit) {
  if (v == null || !isFinite(v)) return '–';
  if (!unit || unit === 'share' || unit === 'paused') return fracPct(v);
  if (unit === 'share/h') return fracPct(v) + '/h';
  if (unit === 's') return fmtDuration(v * 1e9);
  return `${Number(v.toPrecision(3))} ${unit}`;
}

// Profile findings (matched frames) are judged by their share of the type;
// series and quality findings by a measurement, said in `detail`.
function isProfileFinding(f) { return !!(f.frames && f.frames.length); }

function summaryValue(f) {
  if (isProfileFinding(f) || !f.metric) return fracPct(f.share);
  return fmtMetric(f.metric.value, f.metric.unit);
}

function sevBadge(sev) {
  const s = String(sev || 'INFO').toUpperCase();
  return el('span.sev.sev-' + s.toLowerCase(), { text: s, title: s === 'WARN' ? 'warning: worth fixing' : 'worth knowing' });
}

function savingText(f) {
  const s = f.saving;
  if (!s || typeof s !== 'object') return '';
  if (s.text) return s.text;
  return s.value != null ? `${s.value} ${s.unit || ''}`.trim() : '';
}

function shareText(f) {
  const ci = Array.isArray(f.ci95) && f.ci95.length === 2 ? ` (95% CI ${fracPct(f.ci95[0])} – ${fracPct(f.ci95[1])})` : '';
  return `${fracPct(f.share)}${ci} of ${typeName(f.type)}`;
}

function rangeOf(a, b) {
  const sameDay = new Date(a * 1000).toDateString() === new Date(b * 1000).toDateString();
  return `${fmtTime(a, true)} → ${fmtTime(b, !sameDay)} ${zoneName(b)}`;
}

// ---------------------------------------------------------------- panel

export class InsightsPanel {
  // host: an empty element. opts.show(patch): switch the view to the state
  // patch (type, from, to, q, zoom) and bring the flame graph into view.
  constructor(host, opts) {
    this.opts = opts;
    this.head = el('span.ins-sum.muted');
    this.body = el('div.ins-body');
    this.box = el('details.panel.insights', { open: true, id: 'insights' },
      el('summary', null, el('h2', { text: 'Insights' }), this.head), this.body);
    host.append(this.box);
    this.key = null;         // the request on screen (or in flight)
    this.data = null;
    this.at = 0;             // when the data on screen was fetched (ms)
    this.open = new Set();   // expanded findings, by rule/type/title, kept over refreshes
    clear(this.body).append(el('p.muted', { text: 'Looking for known problems…' }));
  }

  // range: { app, from, to, labels } as the view state has them (what
  // "show in flame graph" keeps); api: the same in the API's forms.
  // Fetches when the request differs from what is shown, or when the data
  // is older than maxAgeMs (live views refresh it now and then).
  load(range, api, maxAgeMs = Infinity) {
    const key = JSON.stringify(api);
    if (key === this.key && (this.pending || Date.now() - this.at < maxAgeMs)) return;
    if (key !== this.key && this.data) { this.head.textContent = ' looking at the new range…'; this.body.classList.add('stale'); }
    this.key = key;
    this.range = range;
    this.fetch(api, key);
  }

  // The relay is back, or the caller wants fresh data.
  reload() { if (this.lastApi) this.fetch(this.lastApi, this.key); }

  async fetch(api, key) {
    this.lastApi = api;
    if (this.abort) this.abort.abort();
    const ac = this.abort = new AbortController();
    if (!this.data) this.head.textContent = ' looking…';
    this.pending = true;
    try {
      const r = await get('insights', api, ac.signal);
      if (ac.signal.aborted || key !== this.key) return;
      this.pending = false;
      this.at = Date.now();
      this.data = r;
      this.render();
    } catch (e) {
      if (e.name === 'AbortError' || key !== this.key) return;
      this.pending = false;
      if (e.unreachable) return;     // the page's banner says it; keep what is shown
      this.at = Date.now();
      this.data = null;
      this.showError(e);
    }
  }

  showError(e) {
    this.head.textContent = '';
    this.body.classList.remove('stale');
    if (e.status === 404 && /no such endpoint/.test(e.message)) {
      clear(this.body).append(el('p.muted.ins-msg', { text: 'This relay does not look for known problems (it predates insights): upgrade it to get them.' }));
      return;
    }
    if (e.status === 404) {     // an unknown app: the view's message area says it too
      clear(this.body).append(el('p.muted.ins-msg', { role: 'status', text: 'Nothing to check: ' + e.message }));
      return;
    }
    // 503: the relay's queue was full or the query passed its deadline
    if (e.status === 503) this.at = 0;      // a live view asks again with its next refresh
    clear(this.body).append(el('p.muted.ins-msg', { role: 'status' },
      (e.status === 503 ? 'The relay is busy: ' : 'Insights could not be computed: ') + e.message + ' ',
      el('button.link', { type: 'button', text: 'Try again', onclick: () => this.reload() })));
  }

  render() {
    const r = this.data;
    const findings = r.findings || [];
    const ned = r.not_enough_data || [];
    const warn = findings.filter(f => String(f.severity).toUpperCase() === 'WARN').length;
    const info = findings.length - warn;
    const types = Object.entries(r.types || {});
    const checked = types.filter(([, t]) => t && t.samples > 0);
    const parts = [];
    if (warn) parts.push(`${warn} warning${warn === 1 ? '' : 's'}`);
    if (info) parts.push(`${info} note${info === 1 ? '' : 's'}`);
    if (!findings.length) parts.push(checked.length ? 'nothing found' : 'no samples');
    const el_ms = r.elapsed_ms != null ? ` · ${Number(r.elapsed_ms).toFixed(r.elapsed_ms < 10 ? 1 : 0)} ms` : '';
    this.head.textContent = ' ' + parts.join(', ') + (checked.length ? ' · checked ' + checked.map(([t, v]) => `${typeName(t)} (${fmtCount(v.samples)} samples)`).join(', ') : '') + el_ms;
    this.box.classList.toggle('has-warn', warn > 0);
    this.body.classList.remove('stale');

    const out = [];
    if (!findings.length) {
      out.push(el('p.muted.ins-msg', { role: 'status', text: checked.length
        ? 'No known problem found in this range: no rule passed its threshold.'
        : 'Nothing to check: no samples here (the flame graph below says why).' }));
    } else {
      out.push(el('ol.findings', null, findings.map((f, i) => this.finding(f, i, r))));
    }
    if (ned.length) {
      out.push(el('p.ins-ned.muted', null, 'Not enough data to judge: ',
        ned.map((n, k) => [k ? '; ' : '', el('span.ned', { 'data-rule': n.rule,
          text: `${n.rule} (${typeName(n.type)}: ${fmtCount(n.samples || 0)} of ${fmtCount(n.needed || 50)} samples needed)` })])));
    }
    clear(this.body).append(...out);
  }

  // One finding: summary line + evidence.
  finding(f, i, r) {
    const id = f.rule + '/' + f.type + '/' + (f.title || '');   // a rule may give two findings (profile-quality)
    const d = el('details.finding', { 'data-rule': f.rule, 'data-type': f.type, 'data-severity': f.severity, open: this.open.has(id) });
    d.addEventListener('toggle', () => { if (d.open) this.open.add(id); else this.open.delete(id); });
    const sav = savingText(f);
    d.append(el('summary', null,
      sevBadge(f.severity),
      el('span.f-title', { text: f.title || f.rule }),
      el('span.f-type.muted', { text: typeName(f.type) }),
      f.detail && !isProfileFinding(f) ? el('span.f-detail.muted', { text: f.detail })
        : el('span.f-share', { text: summaryValue(f), title: shareText(f) }),
      sav ? el('span.f-saving.muted', { text: (f.saving.unit ? 'saves ' : '→ ') + sav }) : null));

    const row = (k, ...v) => el('tr', null, el('th', { scope: 'row', text: k }), el('td', null, ...v));
    const rows = [];
    const unit = f.metric ? f.metric.unit : 'share';
    const thr = f.thresholds ? el('span.muted', { text: ` (INFO from ${fmtMetric(f.thresholds.info, unit)}, WARN from ${fmtMetric(f.thresholds.warn, unit)})` }) : null;
    if (isProfileFinding(f)) rows.push(row('Share', `${shareText(f)}, ${fmtCount(f.samples || 0)} samples`, thr));
    if (f.detail) rows.push(row('Measured', f.detail, isProfileFinding(f) ? null : thr));
    if (f.frames && f.frames.length) rows.push(row('Matched', el('span.mono', { text: f.frames.join(', ') })));
    if (f.callers && f.callers.length) {
      rows.push(row('Callers', el('ol.callers', null, f.callers.map(c => el('li', null,
        el('button.link.mono', { type: 'button', text: c.name, title: 'Highlight this caller in the flame graph',
          onclick: () => this.show(f, [c.name]) }),
        el('span.muted', { text: ` ${fracPct(c.share)} · ${fmtCount(c.samples || 0)} samples` }))))));
    }
    if (f.stack && f.stack.length) {
      const hit = new Set(f.frames || []);
      rows.push(row('Example stack', el('ol.stack.mono', { 'aria-label': 'Example stack, root first' },
        f.stack.map((s, k) => el('li' + (hit.has(s) ? '.hit' : ''), null,
          el('button.link.mono', { type: 'button', text: s, title: 'Zoom the flame graph to this frame of the stack',
            onclick: () => this.show(f, f.frames, null, f.stack.slice(0, k + 1)) }))))));
    }
    const w = f.worst_window;
    if (w && w.from != null) {
      rows.push(row('Worst window', `${rangeOf(w.from, w.to)}: ${fracPct(w.share)} `,
        el('button.link', { type: 'button', text: 'show this window', onclick: () => this.show(f, f.frames, w) })));
    }
    if (f.instances) rows.push(row('Instances', `${f.instances.with} of ${f.instances.of} show it`));
    if (sav) rows.push(row('Saving', sav));
    if (f.fix) rows.push(row('Fix', el('span.fix', { text: f.fix })));
    d.append(el('div.evidence', null,
      el('table.kv', null, el('tbody', null, rows)),
      isProfileFinding(f) ? el('div.f-actions', null,
        el('button.btn.small.show-fg', { type: 'button', text: 'Show in flame graph',
          title: `Switch to ${typeName(f.type)} over ${rangeOf(r.from, r.to)} and highlight the matched frames`,
          onclick: () => this.show(f, f.frames) })) : null));
    return el('li', null, d);
  }

  // The view's state for a finding: its type, the range the relay judged
  // (as the view had it: a live range stays live) or a window, the frames
  // as the search, and a zoom path (frame names from the root, as the
  // example stack gives them) or none.
  show(f, frames, win, path) {
    const rg = this.range || {};
    const patch = { type: f.type, q: framesQuery(frames), zoom: path && path.length ? path.join(ZOOM_SEP) : null };
    if (win) { patch.from = String(Math.floor(win.from)); patch.to = String(Math.ceil(win.to)); }
    else { patch.from = rg.from; patch.to = rg.to; patch.labels = rg.labels || null; }
    this.opts.show(patch);
  }

  destroy() { if (this.abort) this.abort.abort(); }
}

// ---------------------------------------------------------------- badge

const BADGE_TTL = 60000;       // ms an answer is reused
const BADGE_RETRY = 15000;     // ms before a busy (503) or failed app is asked again
const BADGE_PARALLEL = 2;
const BADGE_RANGE = { from: 'now-15m', to: 'now' };   // the app view's default range
const cache = new Map();       // app -> { at, ttl, warn: [findings] } | in flight: { at, pending: true }
const queue = [];
const watched = new Map();     // app -> the badge element observed for it
let running = 0;
let unsupported = false;       // the relay has no /insights: stop asking
let io = null;

function fresh(app) {
  const c = cache.get(app);
  return c && (c.pending || Date.now() - c.at < c.ttl);
}

function observer() {
  if (!io) {
    io = new IntersectionObserver(entries => {
      for (const e of entries) {
        if (!e.isIntersecting) continue;
        const app = e.target.dataset.app;
        io.unobserve(e.target);
        if (watched.get(app) === e.target) watched.delete(app);
        if (!fresh(app) && !queue.includes(app)) { queue.push(app); pump(); }
      }
    });
  }
  return io;
}

function pump() {
  while (running < BADGE_PARALLEL && queue.length && !unsupported) {
    const app = queue.shift();
    if (fresh(app)) continue;
    running++;
    cache.set(app, { at: Date.now(), pending: true });
    get('insights', { app, ...BADGE_RANGE }).then(r => {
      const warn = (r.findings || []).filter(f => String(f.severity).toUpperCase() === 'WARN');
      cache.set(app, { at: Date.now(), ttl: BADGE_TTL, warn });
    }, e => {
      if (e.status === 404 && /no such endpoint/.test(e.message)) unsupported = true;
      if (e.unreachable) cache.delete(app);
      else cache.set(app, { at: Date.now(), ttl: BADGE_RETRY, warn: [], error: e.message });
    }).finally(() => {
      running--;
      for (const b of document.querySelectorAll('.ibadge')) if (b.dataset.app === app) fillBadge(b, cache.get(app));
      pump();
    });
  }
}

// The badge element stays in the layout while empty (an observer never
// sees a display:none element); it gets a link only with warnings.
function fillBadge(b, c) {
  clear(b);
  const warn = (c && c.warn) || [];
  b.classList.toggle('on', warn.length > 0);
  if (!warn.length) return;
  const n = warn.length;
  b.append(el('a.sev.sev-warn', { href: b.dataset.href, text: n === 1 ? '1 warning' : `${n} warnings`,
    title: 'Insights (last 15m):\n' + warn.map(f => `${f.title || f.rule} (${typeName(f.type)}, ${fracPct(f.share)})`).join('\n') }));
}

// A badge for an app row: filled from the cache, else asked for once the
// row is visible. href: where a click goes (the app view).
export function insightBadge(app, href) {
  const b = el('span.ibadge', { 'data-app': app, 'data-href': href });
  if (unsupported) return b;
  const c = cache.get(app);
  if (c && !c.pending) fillBadge(b, c);
  if (!fresh(app)) {
    const old = watched.get(app);
    if (old) observer().unobserve(old);
    watched.set(app, b);
    observer().observe(b);
  }
  return b;
}
