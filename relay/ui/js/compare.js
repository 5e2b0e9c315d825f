// compare.js - the compare view (#view=compare&app=A&bfrom=..&cfrom=..):
// a base and a comparison side, each a range and a label set; the methods
// whose change is beyond noise (diffstats.js: significant rows in colour,
// the rest greyed behind "Show all", and the summary line), a diff flame
// graph and the full functions table. A relay without statistics gets the
// biggest self-share changes instead.
//
// A side with no samples makes every function look new (or gone), so
// instead of the change tables the view says why that side is empty: a
// label set no instance has, or a range before the app's first sample (the
// relay's /apps first_sample), and offers one click to compare the first
// half of the app's data with the last half. Messages go to one area
// (notices.js); an unreachable relay is the page's banner (app.js), and
// reload() fetches again when it is back. Main thread only.

import { get } from './api.js';
import { Profile } from './profile.js';
import { FlameGraph, diffColour } from './flame.js';
import { FunctionsTable } from './table.js';
import { Timeline } from './timeline.js';
import { Notices } from './notices.js';
import { DiffStats } from './diffstats.js';
import { noMatchText } from './labels.js';
import { el, clear, fmtValue, debounce, signedPct } from './util.js';
import { ago, fmtDateTime, fmtSpan, rangeText, resolveTime, apiTime, parseTime } from './time.js';
import { DEFAULTS, ZOOM_SEP, TYPE_UNIT, hashOf } from './state.js';
import { typeButtons, labelInput, fillDatalist, rangeInputs, readRange, timelineStep, copyLink } from './widgets.js';

const SIDES = [['base', 'base', 'Base'], ['cmp', 'comparison', 'Comparison']];

// Unix seconds of the app's first sample of this type: the relay's
// first_sample, else the first instance's connection (older relays).
function firstSample(appInfo, type, instances) {
  const fs = appInfo && appInfo.first_sample;
  if (fs && fs[type]) return fs[type];
  const seen = (instances || []).map(i => i.first_seen).filter(Boolean);
  return seen.length ? Math.min(...seen) : null;
}

export class CompareView {
  // ctx: { state(), setState(patch, push), live, setLiveState(s) } (app.js)
  constructor(host, ctx) {
    this.ctx = ctx;
    const setState = ctx.setState;
    this.host = host;
    this.app = ctx.state().app;
    this.shown = {};
    this.liveWanted = false;
    this.toolbar = el('div.toolbar');
    this.errBox = el('div.notices');
    this.notes = new Notices(this.errBox);
    this.status = el('div.status-line', { role: 'status', 'aria-live': 'polite' });
    this.legendBox = el('div.difflegend');
    this.fgHost = el('div');
    this.summary = el('div.diff-summary');
    this.stats = new DiffStats(this.summary, {
      onSelect: m => { const n = this.json && this.json.names[(m.frames || [])[0]]; if (n) this.table.select(n); },
    });
    this.tableHost = el('div');
    this.searchInfo = el('span.search-info');
    this.tlHost = el('div');
    this.dragTarget = 'cmp';
    this.dragSeg = el('div.seg', { role: 'radiogroup', 'aria-label': 'Dragging on the timeline sets' });
    host.append(
      this.errBox,
      el('section.panel', null, el('div.panel-head', null, el('h1', { text: 'Compare' }),
        el('span.muted', { text: 'Base against comparison: each side is normalised to its own total, so the change is in shares, not raw counts.' })),
        this.toolbar,
        el('div.row.dragrow', null, el('span.muted', { text: 'Drag on the timeline to set the' }), this.dragSeg, el('span.muted', { text: 'range.' })),
        this.tlHost),
      el('section.panel', { 'aria-label': 'Biggest changes' }, this.summary),
      el('section.panel.graph', { 'aria-label': 'Diff flame graph' },
        el('div.graph-head', null, el('h2', { text: 'Diff flame graph' }), el('span.spacer'), this.legendBox),
        this.status, this.fgHost),
      el('section.panel', { 'aria-label': 'Functions' }, el('div.graph-head', null, el('h2', { text: 'Functions' })), this.tableHost));
    this.timeline = new Timeline(this.tlHost, {
      onRange: (a, b) => setState(this.dragTarget === 'base'
        ? { bfrom: String(a), bto: String(b), zoom: null } : { cfrom: String(a), cto: String(b), zoom: null }, true),
    });
    this.renderDragSeg();
    this.fg = new FlameGraph(this.fgHost, {
      onZoom: i => setState({ zoom: this.profile.pathOf(i).join(ZOOM_SEP) || null }),
      onSearchInfo: info => { this.searchInfo.textContent = info ? (info.count ? `${info.count} frames` : 'no match') : ''; },
    });
    this.table = new FunctionsTable(this.tableHost, {
      sortKey: 'dself',
      onSelect: name => {
        const k = this.profile.names.indexOf(name);
        setState({ q: '=' + name, zoom: this.profile.pathOf(k >= 0 ? this.profile.lcaOfName(k) : 0).join(ZOOM_SEP) || null });
      },
    });
    ctx.live.subscribe(null);
    ctx.setLiveState('paused', 'compare');
    this.loadInstances();
  }

  // The app's instances: label suggestions for both sides, and what an
  // empty side is explained with.
  loadInstances() {
    this.instP = get('instances', { app: this.app }).then(r => {
      const inst = r.instances || [];
      const sugg = new Set();
      for (const i of inst) for (const [k, v] of Object.entries(i.labels || {})) sugg.add(`${k}=${v}`);
      this.labelSugg = [...sugg].sort();
      // In place: rebuilding the toolbar would wipe what the user is typing.
      fillDatalist('base-labels-list', this.labelSugg);
      fillDatalist('cmp-labels-list', this.labelSugg);
      return inst;
    }).catch(() => null);   /* optional: the diff itself reports errors */
  }

  destroy() { this.fg.destroy(); if (this.abort) this.abort.abort(); }

  reload() { this.loadInstances(); this.load(); }

  renderDragSeg() {
    clear(this.dragSeg).append(...[['base', 'Base'], ['cmp', 'Comparison']].map(([k, label]) =>
      el('button' + (this.dragTarget === k ? '.on' : ''), { type: 'button', role: 'radio', 'data-target': k,
        'aria-checked': this.dragTarget === k ? 'true' : 'false', text: label,
        onclick: () => { this.dragTarget = k; this.renderDragSeg(); } })));
  }

  // The timeline spans both ranges (plus a margin) and shades them.
  async loadTimeline(p) {
    const bf = resolveTime(p['base.from']), bt = resolveTime(p['base.to']);
    const cf = resolveTime(p['cmp.from']), ct = resolveTime(p['cmp.to']);
    const lo = Math.min(bf, cf), hi = Math.max(bt, ct);
    const pad = Math.max(30, (hi - lo) * 0.1);
    const from = Math.floor(lo - pad), to = Math.ceil(Math.min(Date.now() / 1000, hi + pad));
    const labels = p['base.labels'] === p['cmp.labels'] ? p['base.labels'] : '';
    try {
      const tl = await get('timeline', { app: p.app, type: p.type, from, to, labels, step: timelineStep(from, to) });
      this.timeline.marks = [
        { from: bf, to: bt, colour: 'rgba(31,102,196,0.22)', label: 'base', text: '#1f66c4' },
        { from: cf, to: ct, colour: 'rgba(214,39,40,0.2)', label: 'comparison', text: '#b52020' }];
      this.timeline.setData(tl, from, to, TYPE_UNIT[p.type] || '');
    } catch (e) { /* the diff itself reports errors */ }
  }

  params(s = this.ctx.state()) {
    return {
      app: s.app, type: s.type || DEFAULTS.type,
      'base.from': s.bfrom || 'now-30m', 'base.to': s.bto || 'now-15m', 'base.labels': s.blabels || '',
      'cmp.from': s.cfrom || 'now-15m', 'cmp.to': s.cto || 'now', 'cmp.labels': s.clabels || '',
    };
  }

  apiParams(s) {
    const p = this.params(s);
    for (const k of ['base.from', 'base.to', 'cmp.from', 'cmp.to']) p[k] = apiTime(p[k]);
    return p;
  }

  update(s) {
    const keys = ['app', 'type', 'bfrom', 'bto', 'blabels', 'cfrom', 'cto', 'clabels'];
    const key = JSON.stringify(this.params(s)) + (s.zoom ? 'z' : '');
    if (key !== this.toolbarKey) { this.toolbarKey = key; this.buildToolbar(s); }
    const p = this.params(s);
    for (const [k, name] of SIDES) {
      for (const end of ['from', 'to']) {
        const r = parseTime(p[`${k}.${end}`]);
        if (r.error) {
          this.notes.set('range', 'error', `${name} ${end}: ${r.error}`);
          if (this.abort) this.abort.abort();
          this.status.textContent = '';
          clear(this.summary);
          this.shown = { ...s };
          return;
        }
      }
    }
    this.notes.clear('range');
    if (keys.some(k => (s[k] || '') !== (this.shown[k] || '')) || !this.profile) this.load();
    else this.applyView(s);
  }

  buildToolbar(s) {
    const setState = this.ctx.setState;
    const p = this.params(s);
    // Enter in any field (or Apply) takes all six fields at once, so both
    // sides can be edited before the diff is fetched.
    const applyAll = () => {
      const v = id => (document.getElementById(id) || {}).value || '';
      const b = readRange(v('base-from'), v('base-to'), 'Base'), c = readRange(v('cmp-from'), v('cmp-to'), 'Comparison');
      if (b.error || c.error) { this.notes.set('range', 'error', b.error || c.error); return; }
      setState({ bfrom: b.from, bto: b.to, blabels: v('base-labels').trim() || null,
        cfrom: c.from, cto: c.to, clabels: v('cmp-labels').trim() || null, zoom: null }, true);
    };
    const side = (which, label) => el('div.side.' + which, null,
      el('span.side-name', { text: label }),
      rangeInputs(p[which + '.from'], p[which + '.to'], applyAll, which, label),
      ...labelInput(p[which + '.labels'], applyAll, this.labelSugg || [], which + '-labels', label + ' labels'));
    const search = el('input.search', { type: 'search', value: s.q || '', placeholder: 'Search frames', 'aria-label': 'Search frames', id: 'search' });
    search.addEventListener('input', debounce(() => setState({ q: search.value || null }), 150));
    const focused = document.activeElement && this.toolbar.contains(document.activeElement) && document.activeElement.id;
    clear(this.toolbar).append(
      el('div.row', null, typeButtons([p.type], p.type, t => setState({ type: t, zoom: null }, true)),
        side('base', 'Base'),
        el('button.btn', { type: 'button', text: '⇄ Swap', title: 'Swap base and comparison',
          onclick: () => setState({ bfrom: s.cfrom, bto: s.cto, blabels: s.clabels, cfrom: s.bfrom, cto: s.bto, clabels: s.blabels }, true) }),
        side('cmp', 'Comparison'),
        el('button.btn', { type: 'button', text: 'Apply', id: 'compare-apply', onclick: applyAll })),
      el('div.row', null, search, this.searchInfo,
        el('button.btn', { type: 'button', text: 'Reset zoom', disabled: !s.zoom, onclick: () => setState({ zoom: null }) }),
        el('span.spacer'),
        el('a.btn', { href: hashOf({ app: p.app, type: p.type, from: p['cmp.from'], to: p['cmp.to'], labels: p['cmp.labels'] }), text: 'Open comparison profile' }),
        el('button.btn', { type: 'button', text: 'Copy link', onclick: () => copyLink() })));
    if (focused) { const f = document.getElementById(focused); if (f) f.focus(); }
  }

  async load() {
    const s = this.ctx.state();
    if (this.abort) this.abort.abort();
    const ac = this.abort = new AbortController();
    this.status.textContent = 'Loading…';
    const t0 = performance.now();
    try {
      this.loadTimeline(this.apiParams(s));
      const d = await get('diff', this.apiParams(s), ac.signal);
      if (ac.signal.aborted) return;
      const t1 = performance.now();
      this.shown = { ...s };
      this.profile = new Profile(d, true);
      this.profile.unit = d.unit || TYPE_UNIT[s.type || DEFAULTS.type] || '';
      this.timeline.unit = this.profile.unit;
      this.timeline.render();
      this.json = d;
      this.notes.clear('diff');
      this.fg.query = s.q || '';
      this.fg.setEmptyText(null);
      this.fg.setProfile(this.profile, s.zoom ? s.zoom.split(ZOOM_SEP) : null);
      this.renderLegend();
      if (this.profile.baseSum && this.profile.cmpSum) { if (!this.stats.render(d)) this.renderSummary(); }
      else this.explainEmptySide(this.params(s), ac.signal);
      this.table.update(this.profile, this.fg.zoom, s.q ? this.profile.matchNames(s.q) : null);
      this.status.textContent = `base ${fmtValue(this.profile.baseSum, this.profile.unit)} · comparison ${fmtValue(this.profile.cmpSum, this.profile.unit)} · ` +
        `${this.profile.n.toLocaleString()} frames · fetched in ${Math.round(t1 - t0)} ms, drawn in ${Math.round(performance.now() - t1)} ms`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.unreachable) { this.status.textContent = 'Waiting for the relay to answer…'; return; }
      this.status.textContent = '';
      this.notes.set('diff', 'error', 'Could not load: ' + e.message);
      clear(this.summary);
    }
  }

  // A side without samples: say why (labels, or a range before the first
  // sample) instead of listing every function as new or gone, and offer
  // the first half of the app's data against the last half.
  async explainEmptySide(p, signal) {
    clear(this.summary).append(el('p.muted', { text: 'One side has no samples; looking up why…' }));
    const [instances, apps] = await Promise.all([this.instP, get('apps').catch(() => null)]);
    if (signal.aborted) return;
    const appInfo = apps && (apps.apps || []).find(a => a.name === this.app);
    const first = firstSample(appInfo, p.type, instances);
    const empty = { base: !this.profile.baseSum, cmp: !this.profile.cmpSum };
    const lines = [];
    let labelsToBlame = false;
    for (const [k, name] of SIDES) {
      if (!empty[k]) continue;
      const rt = rangeText(p[k + '.from'], p[k + '.to']);
      const why = noMatchText(this.app, p[k + '.labels'], instances || [], name);
      if (why) { lines.push(why); labelsToBlame = true; continue; }
      const to = resolveTime(p[k + '.to']);
      if (first && to <= first)
        lines.push(`The ${name} range (${rt}) has no samples: this app's first ${p.type} sample is at ${fmtDateTime(first)} (${ago(first)}).`);
      else if (first)
        lines.push(`The ${name} range (${rt}) has no samples (this app's ${p.type} samples start at ${fmtDateTime(first)}).`);
      else
        lines.push(`The ${name} range (${rt}) has no samples.`);
    }
    if (empty.base && !empty.cmp) lines.push('With an empty base every function counts as new: the lists of regressions and improvements are left out, and the graph and table below show the comparison side alone.');
    else if (empty.cmp && !empty.base) lines.push('With an empty comparison every function counts as gone: the lists of regressions and improvements are left out, and the graph and table below show the base side alone.');
    const extra = [];
    if (empty.base && first && !labelsToBlame) {
      // the data ends now, or at the last report of an app that stopped
      const stopped = appInfo && !appInfo.connected && appInfo.last_seen ? appInfo.last_seen : Infinity;
      const end = Math.min(Date.now() / 1000, resolveTime(p['cmp.to']), stopped);
      const half = Math.floor((end - first) / 2);
      if (half >= 1) {
        const b0 = Math.floor(first), c1 = Math.ceil(end);
        extra.push(el('p', null, el('button.btn', { type: 'button', id: 'compare-halves',
          text: `Compare the first ${fmtSpan(half)} of data with the last ${fmtSpan(half)}`,
          title: `base ${fmtDateTime(b0)} → ${fmtDateTime(b0 + half)}, comparison ${fmtDateTime(c1 - half)} → ${fmtDateTime(c1)}`,
          onclick: () => this.ctx.setState({ bfrom: String(b0), bto: String(b0 + half), cfrom: String(c1 - half), cto: String(c1), zoom: null }, true) }),
          el('span.muted', { text: ' the app\'s earliest samples against its latest, same length each.' })));
      }
    }
    clear(this.summary).append(el('div.note.diff-empty', { role: 'status' }, ...lines.map(t => el('p', { text: t })), ...extra));
  }

  applyView(s) {
    if (!this.profile) return;
    const searchChanged = (s.q || '') !== (this.fg.query || '');
    if (searchChanged) { this.fg.query = s.q || ''; this.fg._applySearch(); }
    const zi = s.zoom ? this.profile.findPath(s.zoom.split(ZOOM_SEP)) : 0;
    if (zi !== this.fg.zoom || searchChanged) this.fg.setZoom(zi);
    this.table.selected = s.q && s.q[0] === '=' ? s.q.slice(1) : null;
    this.table.update(this.profile, this.fg.zoom, s.q ? this.profile.matchNames(s.q) : null);
  }

  renderLegend() {
    const sc = this.fg.diffScale * 100;
    const stops = [-1, -0.5, 0, 0.5, 1];
    clear(this.legendBox).append(el('span.muted', { text: 'share of total: ' }),
      ...stops.map(t => {
        const sw = el('span.sw.big'); sw.style.background = diffColour(t);
        return el('span.item', null, sw, t === 0 ? 'same' : signedPct(t * sc));
      }),
      el('span.item', null, el('span.sw.big.hatch'), 'only on one side'));
  }

  renderSummary() {
    const p = this.profile;
    const f = p.functions(0);
    const bs = p.baseSum || 1, cs = p.cmpSum || 1;
    const rows = f.ids.map(k => ({ k, name: p.names[k], b: 100 * f.bSelf[k] / bs, c: 100 * f.cSelf[k] / cs }))
      .map(r => ({ ...r, d: r.c - r.b }));
    const worse = rows.filter(r => r.d > 0.005).sort((a, b) => b.d - a.d).slice(0, 10);
    const better = rows.filter(r => r.d < -0.005).sort((a, b) => a.d - b.d).slice(0, 10);
    const list = (title, items, cls) => el('div.changes.' + cls, null, el('h2', { text: title }),
      items.length ? el('table.data.compact', null,
        el('thead', null, el('tr', null, ['Function', 'Base self', 'Comparison self', 'Change'].map(h => el('th', { scope: 'col', text: h })))),
        el('tbody', null, items.map(r => el('tr', { tabindex: '0', 'data-name': r.name,
          onclick: () => this.table.select(r.name), onkeydown: e => { if (e.key === 'Enter') this.table.select(r.name); } },
          el('td.name', { title: r.name }, el('span.fn', { text: r.name })),
          el('td.num', { text: r.b.toFixed(2) + '%' }), el('td.num', { text: r.c.toFixed(2) + '%' }),
          el('td.num.delta.' + (r.d > 0 ? 'worse' : 'better'), { text: signedPct(r.d) })))))
        : el('p.muted', { text: 'none' }));
    clear(this.summary).append(el('div.cols', null,
      list('Biggest regressions (more self time)', worse, 'worse'),
      list('Biggest improvements (less self time)', better, 'better')));
  }
}
