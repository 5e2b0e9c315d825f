// app.js - the cprof web UI: routing, view state in the URL, and the three
// views (apps list, app profile, compare).
//
// State lives in the URL hash (#app=..&type=..&from=..&to=..&labels=..&q=..
// &zoom=..&view=compare&bfrom=..), so a pasted link opens the same view.
// Changes that navigate (open an app, compare) push a history entry; small
// ones (zoom, search, sort) replace it. render() compares the new state to
// what is on screen and does the least work: rebuild the view, refetch
// data, or only re-zoom / re-search the graph.
//
// Live: while the range ends at "now", new windows announced on the live
// websocket refetch the profile and timeline (throttled to one refresh per
// 2 s) and re-apply the zoom by its frame-name path, so the user keeps the
// place they zoomed into. Main thread only.

import { get, apiUrl, download, Live, ApiError } from './api.js';
import { Profile, KIND_NAMES } from './profile.js';
import { FlameGraph, kindColour, diffColour } from './flame.js';
import { FunctionsTable } from './table.js';
import { Timeline } from './timeline.js';
import { el, clear, pct, ago, fmtTime, fmtValue, fmtCount, resolveTime, isRelative, debounce, signedPct } from './util.js';

const TYPES = ['cpu', 'wall', 'alloc', 'alloc_objects', 'lock', 'lock_count'];
const TYPE_LABEL = { cpu: 'CPU', wall: 'Wall clock', alloc: 'Alloc bytes', alloc_objects: 'Alloc objects',
  lock: 'Lock wait', lock_count: 'Lock count' };
const PRESETS = [['5m', 'now-5m'], ['15m', 'now-15m'], ['1h', 'now-1h'], ['6h', 'now-6h'], ['24h', 'now-24h'], ['7d', 'now-7d']];
const DEFAULTS = { type: 'cpu', from: 'now-15m', to: 'now' };
const STATE_KEYS = ['view', 'app', 'type', 'from', 'to', 'labels', 'q', 'zoom',
  'bfrom', 'bto', 'blabels', 'cfrom', 'cto', 'clabels'];
const ZOOM_SEP = ';';
// Unit of a type when an answer does not say (the diff has no "unit").
const TYPE_UNIT = { cpu: 'ns', wall: 'ns', lock: 'ns', alloc: 'bytes' };

// ---------------------------------------------------------------- state

function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const p = new URLSearchParams(h);
  const s = {};
  for (const k of STATE_KEYS) if (p.has(k)) s[k] = p.get(k);
  if (!s.view) s.view = s.app ? 'app' : 'apps';
  return s;
}

function hashOf(s) {
  const p = new URLSearchParams();
  for (const k of STATE_KEYS) {
    if (k === 'view' && (s.view === 'apps' || s.view === 'app')) continue;
    if (s[k] != null && s[k] !== '') p.set(k, s[k]);
  }
  const q = p.toString();
  return q ? '#' + q : '#';
}

let state = parseHash();

function setState(patch, push = false) {
  const next = { ...state, ...patch };
  for (const k of Object.keys(next)) if (next[k] == null || next[k] === '') delete next[k];
  if (!next.view) next.view = next.app ? 'app' : 'apps';
  const h = hashOf(next);
  if (h !== (location.hash || '#')) {
    if (push) history.pushState(null, '', h);
    else history.replaceState(null, '', h);
  }
  state = next;
  render();
}

window.addEventListener('popstate', () => { state = parseHash(); render(); });
window.addEventListener('hashchange', () => { state = parseHash(); render(); });

// ---------------------------------------------------------------- shell

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
const toastEl = document.getElementById('toast');
let current = null;     // the live view object

function toast(msg, ms = 2500) {
  toastEl.textContent = msg;
  toastEl.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { toastEl.hidden = true; }, ms);
}

const liveEl = document.getElementById('live');
const liveText = document.getElementById('live-text');
function setLiveState(s, text) {
  liveEl.className = 'live st-' + s;
  liveText.textContent = text || { live: 'live', connecting: 'connecting…', offline: 'live: reconnecting', off: 'live off', paused: 'fixed range' }[s] || s;
}

const live = new Live(msg => { if (current && current.onWindow) current.onWindow(msg); },
  s => { if (current && current.liveWanted) setLiveState(s); else setLiveState('off'); });

function render() {
  const kind = state.view === 'compare' && state.app ? CompareView : state.app ? AppView : AppsView;
  if (!(current instanceof kind) || (current.app && current.app !== state.app)) {
    if (current && current.destroy) current.destroy();
    clear(main);
    current = new kind(main);
  }
  renderCrumbs();
  current.update(state);
}

function renderCrumbs() {
  const parts = [el('a', { href: '#', text: 'Applications' })];
  if (state.app) {
    parts.push(el('span.sep', { text: '/', 'aria-hidden': 'true' }));
    const h = hashOf({ app: state.app, type: state.type, from: state.from, to: state.to, labels: state.labels });
    parts.push(el('a', { href: h, text: state.app, 'aria-current': state.view === 'app' ? 'page' : null }));
  }
  if (state.view === 'compare') {
    parts.push(el('span.sep', { text: '/', 'aria-hidden': 'true' }), el('span', { text: 'Compare', 'aria-current': 'page' }));
  }
  const key = parts.map(p => p.outerHTML).join('');
  if (key === renderCrumbs.key) return;     // unchanged: leave the DOM alone
  renderCrumbs.key = key;
  clear(crumbs).append(...parts);
  document.title = (state.app ? state.app + (state.view === 'compare' ? ' · compare' : '') + ' · ' : '') + 'cprof';
}

function errorBox(e) {
  const msg = e instanceof ApiError ? e.message : String(e && e.message || e);
  return el('div.error', { role: 'alert' }, el('strong', { text: 'Could not load: ' }), msg);
}

// ---------------------------------------------------------------- apps

class AppsView {
  constructor(host) {
    this.host = host;
    this.body = el('div');
    host.append(el('section.panel', null,
      el('div.panel-head', null, el('h1', { text: 'Applications' }),
        el('span.muted', { text: 'Every JVM that an agent profiles reports under its app name.' })),
      this.body));
    this.timer = setInterval(() => this.load(), 5000);
    this.liveWanted = false;
    live.subscribe(null);
  }

  update() { this.load(); }

  async load() {
    let r;
    try { r = await get('apps'); }
    catch (e) { clear(this.body).append(errorBox(e)); return; }
    const apps = (r.apps || []).slice().sort((a, b) => (b.connected - a.connected) || a.name.localeCompare(b.name));
    if (!apps.length) {
      clear(this.body).append(el('div.emptystate', null,
        el('p', { text: 'No agent has reported yet.' }),
        el('p.muted', null, 'Start a JVM with the cprof agent: ',
          el('code', { text: `java -agentpath:/path/to/libcprof-jvm.so=relay=ws://${location.host}/ingest,app=myapp ...` })),
        el('p.muted', null, 'or attach it to a running JVM: ', el('code', { text: 'cprof attach PID' }), '. Apps appear here as soon as they report.')));
      return;
    }
    const rows = apps.map(a => {
      const href = hashOf({ app: a.name, type: (a.types && a.types[0]) || 'cpu', from: DEFAULTS.from, to: DEFAULTS.to });
      return el('tr', null,
        el('td', null, el('a.appname', { href, text: a.name })),
        el('td', null, el('span.status' + (a.connected ? '.on' : '.off'), { 'aria-hidden': 'true' }),
          `${a.connected} of ${a.instances} connected`),
        el('td', null, (a.types || []).map(t => el('a.chip', { href: hashOf({ app: a.name, type: t, from: DEFAULTS.from, to: DEFAULTS.to }), text: t }))),
        el('td', { title: a.last_seen ? fmtTime(a.last_seen, true) : '' , text: ago(a.last_seen) }));
    });
    clear(this.body).append(el('table.data.apps', null,
      el('thead', null, el('tr', null, ['Application', 'Instances', 'Profile types', 'Last seen'].map(h => el('th', { scope: 'col', text: h })))),
      el('tbody', null, rows)));
  }

  destroy() { clearInterval(this.timer); }
}

// ---------------------------------------------------------------- shared bits

function timelineStep(from, to) {
  const span = Math.max(1, to - from);
  const nice = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  for (const s of nice) if (span / s <= 150) return s;
  return 86400;
}

function rangeText(from, to) {
  if (isRelative(from) && (to === 'now' || !to)) {
    const pre = PRESETS.find(p => p[1] === from);
    return pre ? 'last ' + pre[0] : `${from} → now`;
  }
  const a = resolveTime(from), b = resolveTime(to);
  const day = Math.abs(b - a) > 86400 || new Date(a * 1000).toDateString() !== new Date().toDateString();
  return `${fmtTime(a, day)} → ${isRelative(to) ? to : fmtTime(b, day)}`;
}

function typeButtons(types, cur, onPick) {
  const all = TYPES.filter(t => types.includes(t)).concat(types.filter(t => !TYPES.includes(t)));
  if (!all.includes(cur)) all.push(cur);
  return el('div.seg', { role: 'radiogroup', 'aria-label': 'Profile type' }, all.map(t =>
    el('button' + (t === cur ? '.on' : ''), { type: 'button', role: 'radio', 'aria-checked': t === cur ? 'true' : 'false',
      'data-type': t, onclick: () => onPick(t), text: TYPE_LABEL[t] || t })));
}

function kindLegend(profile) {
  const seen = new Set(profile.kinds);
  return el('div.legend', { 'aria-label': 'Frame colours' }, KIND_NAMES.map((k, i) => {
    if (!seen.has(i)) return null;
    const sw = el('span.sw'); sw.style.background = kindColour(i, '');
    return el('span.item', null, sw, k);
  }));
}

function labelInput(value, onApply, suggestions, id, aria) {
  const listId = id + '-list';
  const input = el('input.labels', { id, type: 'text', value: value || '', placeholder: 'labels: k=v,k2=v2',
    'aria-label': aria || 'Label filter', list: listId, spellcheck: 'false', autocomplete: 'off' });
  const dl = el('datalist', { id: listId }, (suggestions || []).map(s => el('option', { value: s })));
  input.addEventListener('keydown', e => { if (e.key === 'Enter') onApply(input.value.trim()); });
  input.addEventListener('change', () => onApply(input.value.trim()));
  return [input, dl];
}

function fillDatalist(id, values) {
  const dl = document.getElementById(id);
  if (!dl) return;
  const have = [...dl.options].map(o => o.value).join('\n');
  if (have !== values.join('\n')) clear(dl).append(...values.map(v => el('option', { value: v })));
}

function rangeInputs(from, to, onApply, prefix, label) {
  const f = el('input.time', { type: 'text', value: from || '', 'aria-label': label + ' from', spellcheck: 'false', id: prefix + '-from', title: 'unix seconds, RFC 3339 or now-15m' });
  const t = el('input.time', { type: 'text', value: to || '', 'aria-label': label + ' to', spellcheck: 'false', id: prefix + '-to', title: 'unix seconds, RFC 3339 or now' });
  const apply = () => onApply(f.value.trim(), t.value.trim());
  for (const i of [f, t]) i.addEventListener('keydown', e => { if (e.key === 'Enter') apply(); });
  return el('span.range', null, f, el('span.muted', { text: '→' }), t);
}

// ---------------------------------------------------------------- app view

class AppView {
  constructor(host) {
    this.host = host;
    this.app = state.app;
    this.shown = {};       // the state the data on screen belongs to
    this.liveWanted = false;
    this.lastRefresh = 0;
    this.instances = [];
    this.appInfo = null;

    this.instBox = el('div.instances');
    this.toolbar = el('div.toolbar');
    this.tlHost = el('div');
    this.status = el('div.status-line', { role: 'status', 'aria-live': 'polite' });
    this.searchInfo = el('span.search-info', { 'aria-live': 'polite' });
    this.zoomPath = el('nav.zoompath', { 'aria-label': 'Zoomed frame path' });
    this.fgHost = el('div');
    this.legendBox = el('div');
    this.tableHost = el('div');
    this.errBox = el('div');
    this.instDetails = el('details.panel.inst', { open: true }, el('summary', null, el('h2', { text: 'Instances' }), el('span.inst-sum.muted')), this.instBox);
    host.append(
      this.instDetails,
      el('section.panel', null, this.toolbar, this.tlHost, this.errBox),
      el('section.panel.graph', { 'aria-label': 'Flame graph' },
        el('div.graph-head', null, el('h2', { text: 'Flame graph' }), this.zoomPath, el('span.spacer'), this.legendBox, helpBox()),
        this.status, this.fgHost),
      el('section.panel', { 'aria-label': 'Functions' }, el('div.graph-head', null, el('h2', { text: 'Functions' })), this.tableHost));

    this.timeline = new Timeline(this.tlHost, { onRange: (a, b) => setState({ from: String(a), to: String(b), zoom: null }, true) });
    this.fg = new FlameGraph(this.fgHost, {
      onZoom: i => {
        const path = this.profile.pathOf(i).join(ZOOM_SEP);
        setState({ zoom: path || null });
      },
      onSearchInfo: info => this.showSearchInfo(info),
    });
    this.table = new FunctionsTable(this.tableHost, {
      onSelect: name => {
        const k = this.profile.names.indexOf(name);
        const lca = k >= 0 ? this.profile.lcaOfName(k) : 0;
        setState({ q: '=' + name, zoom: this.profile.pathOf(lca).join(ZOOM_SEP) || null });
        this.fgHost.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      },
    });
    this.refreshSoon = debounce(() => this.load(true), 300);
    this.instTimer = setInterval(() => this.loadInstances(), 10000);
  }

  destroy() { clearInterval(this.instTimer); this.fg.destroy(); if (this.abort) this.abort.abort(); }

  update(s) {
    const data = ['app', 'type', 'from', 'to', 'labels'];
    const changed = data.some(k => (s[k] || '') !== (this.shown[k] || ''));
    this.syncToolbar(s);
    if (changed || !this.profile) {
      if (!this.appInfo) this.loadInstances();
      this.load(false);
    } else {
      this.applyView(s);
    }
    const wantLive = isRelative(s.to || 'now') && (s.to || 'now') === 'now';
    this.liveWanted = wantLive;
    if (wantLive) live.subscribe({ app: s.app, type: s.type || DEFAULTS.type, labels: s.labels || '' });
    else { live.subscribe(null); setLiveState('paused'); }
  }

  params(s = state) {
    return { app: s.app, type: s.type || DEFAULTS.type, from: s.from || DEFAULTS.from, to: s.to || DEFAULTS.to, labels: s.labels || '' };
  }

  // Rebuild the toolbar only when what it shows changed (not on zoom or
  // search: rebuilding would steal the caret from the search box).
  syncToolbar(s, force = false) {
    const types = (this.appInfo && this.appInfo.types) || [];
    const key = JSON.stringify([this.params(s), types]);
    if (force || key !== this.toolbarKey) { this.toolbarKey = key; this.buildToolbar(s); return; }
    fillDatalist('labels-list', this.labelSuggestions());
    const search = document.getElementById('search');
    if (search && document.activeElement !== search && search.value !== (s.q || '')) search.value = s.q || '';
  }

  buildToolbar(s) {
    const p = this.params(s);
    const types = (this.appInfo && this.appInfo.types) || [];
    const search = el('input.search', { type: 'search', value: s.q || '', placeholder: 'Search frames (text, =exact, /regex/)',
      'aria-label': 'Search frames', id: 'search', spellcheck: 'false' });
    const doSearch = debounce(() => setState({ q: search.value || null }), 150);
    search.addEventListener('input', doSearch);
    search.addEventListener('keydown', e => { if (e.key === 'Enter') setState({ q: search.value || null }); });
    const labelSugg = this.labelSuggestions();
    const exp = fmt => apiUrl('profile', { ...p, format: fmt });
    const isLive = isRelative(p.to) && p.to === 'now';
    const focused = document.activeElement && this.toolbar.contains(document.activeElement) && document.activeElement.id;
    clear(this.toolbar).append(
      el('div.row', null,
        typeButtons(types.length ? types : [p.type], p.type, t => setState({ type: t, zoom: null }, true)),
        el('div.seg', { role: 'group', 'aria-label': 'Time range presets' }, PRESETS.map(([lbl, v]) =>
          el('button' + (p.from === v && p.to === 'now' ? '.on' : ''), { type: 'button', text: lbl, 'data-range': v,
            onclick: () => setState({ from: v, to: 'now', zoom: null }, true) }))),
        rangeInputs(p.from, p.to, (f, t) => setState({ from: f || DEFAULTS.from, to: t || 'now' }, true), 'range', 'Range'),
        el('span.rangetext.muted', { text: rangeText(p.from, p.to) + (isLive ? '' : ' (fixed)') }),
        el('span.spacer'),
        el('a.btn', { href: hashOf({ view: 'compare', app: p.app, type: p.type, ...defaultCompare(p) }), text: 'Compare…', id: 'compare-btn' }),
        el('button.btn', { type: 'button', text: 'Copy link', onclick: () => copyLink() }),
      ),
      el('div.row', null,
        ...labelInput(p.labels, v => setState({ labels: v || null, zoom: null }, true), labelSugg, 'labels', 'Label filter'),
        search, this.searchInfo,
        el('button.btn', { type: 'button', text: 'Reset zoom', id: 'reset-zoom', disabled: !s.zoom, onclick: () => setState({ zoom: null }) }),
        el('span.spacer'),
        el('span.muted', { text: 'Export:' }),
        [['pprof', '.pb.gz'], ['collapsed', '.collapsed.txt'], ['speedscope', '.speedscope.json']].map(([fmt, ext]) =>
          el('a.btn.small', { href: exp(fmt), download: `${p.app}-${p.type}${ext}`, text: fmt,
            onclick: ev => {   // fetched with the tab's token, then saved
              ev.preventDefault();
              download('profile', { ...p, format: fmt }, `${p.app}-${p.type}${ext}`)
                .catch(e => toast('Export failed: ' + e.message, 5000));
            } }))));
    if (focused) { const f = document.getElementById(focused); if (f) f.focus(); }
    this.showSearchInfo(this.fg && this.fg.searchInfo);
  }

  labelSuggestions() {
    const out = new Set();
    for (const i of this.instances) for (const [k, v] of Object.entries(i.labels || {})) out.add(`${k}=${v}`);
    return [...out].sort();
  }

  async loadInstances() {
    try {
      const [apps, inst] = await Promise.all([get('apps'), get('instances', { app: this.app })]);
      this.appInfo = (apps.apps || []).find(a => a.name === this.app) || { name: this.app, types: [] };
      this.instances = inst.instances || [];
      this.renderInstances();
      if (this.profile && !this.profile.rootTotal && this.shown.app && !document.getElementById('widen')) this.suggestRange(this.params());
      this.syncToolbar(state);
    } catch (e) {
      clear(this.instBox).append(errorBox(e));
    }
  }

  renderInstances() {
    const inst = this.instances;
    const conn = inst.filter(i => i.connected).length;
    this.instDetails.querySelector('.inst-sum').textContent = ` ${conn} of ${inst.length} connected`;
    // A big fleet starts folded (the graph matters more); the user's choice
    // sticks after the first load.
    if (!this.instFolded) { this.instFolded = true; this.instDetails.open = inst.length <= 8; }
    if (!inst.length) { clear(this.instBox).append(el('p.muted', { text: 'No instances known for this app.' })); return; }
    const rows = inst.map(i => {
      const q = i.quality || {};
      const tried = (q.samples || 0) + (q.failed || 0);
      const failTitle = Object.entries(q.fail || {}).filter(([, v]) => v).map(([k, v]) => `${k}: ${v}`).join('\n');
      // dropped: samples lost for sure; possibly_dropped: samples of sent
      // batches given up before their ack (the relay may have them); the
      // drop.* counters by name (batches, threads...) go in the tooltip.
      const maybe = q.possibly_dropped || 0;
      const dropTitle = [`samples lost: ${q.dropped || 0}`]
        .concat(maybe ? [`samples possibly lost (sent, not acknowledged): ${maybe}`] : [])
        .concat(Object.entries(q.drop || {}).filter(([, v]) => v).map(([k, v]) => `drop.${k}: ${v}`)).join('\n');
      return el('tr', null,
        el('td', null, el('span.status' + (i.connected ? '.on' : '.off'), { title: i.connected ? 'connected' : 'disconnected' }),
          el('span.sr-only', { text: i.connected ? 'connected' : 'disconnected' })),
        el('td.mono', { text: i.host ? `${i.host}:${i.pid}` : String(i.id), title: 'instance ' + i.id }),
        el('td', null, Object.entries(i.labels || {}).map(([k, v]) =>
          el('button.chip', { type: 'button', title: 'Filter by this label', text: `${k}=${v}`,
            onclick: () => setState({ labels: addLabel(state.labels, `${k}=${v}`), zoom: null }, true) }))),
        el('td', { text: i.jvm || '' }),
        el('td', { text: i.agent_version || '' }),
        el('td.num', { text: fmtCount(q.samples || 0) }),
        el('td.num' + (tried && q.failed / tried > 0.1 ? '.warn' : ''), { text: tried ? pct(q.failed || 0, tried) : '–', title: failTitle || 'no failed samples' }),
        el('td.num' + (q.dropped ? '.warn' : ''), { text: fmtCount(q.dropped || 0) + (maybe ? ` (+${fmtCount(maybe)}?)` : ''), title: dropTitle }),
        el('td.num', { text: q.rate_hz != null ? Number(q.rate_hz).toFixed(0) + ' Hz' : '–' }),
        el('td', { text: ago(i.last_seen), title: i.last_seen ? fmtTime(i.last_seen, true) : '' }));
    });
    clear(this.instBox).append(el('table.data.compact', null,
      el('thead', null, el('tr', null, ['', 'Instance', 'Labels', 'JVM', 'Agent', 'Samples', 'Failed', 'Dropped', 'Rate', 'Last seen']
        .map(h => el('th', { scope: 'col', text: h })))),
      el('tbody', null, rows)));
  }

  async load(isLive) {
    const s = state;
    const p = this.params(s);
    if (this.abort) this.abort.abort();
    const ac = this.abort = new AbortController();
    const from = resolveTime(p.from), to = resolveTime(p.to);
    const step = timelineStep(from, to);
    if (!isLive) this.status.textContent = 'Loading…';
    const t0 = performance.now();
    try {
      const [prof, tl] = await Promise.all([
        get('profile', { ...p, format: 'json' }, ac.signal),
        get('timeline', { ...p, step }, ac.signal).catch(e => { if (e.name === 'AbortError') throw e; return { points: [], step }; }),
      ]);
      if (ac.signal.aborted) return;
      const t1 = performance.now();
      this.shown = { ...s };
      this.profile = new Profile(prof);
      clear(this.errBox);
      this.timeline.setData(tl, from, to, this.profile.unit);
      this.fg.query = s.q || '';
      this.fg.setProfile(this.profile, s.zoom ? s.zoom.split(ZOOM_SEP) : null);
      this.afterGraph(s);
      clear(this.legendBox).append(kindLegend(this.profile));
      const t2 = performance.now();
      this.status.textContent = `${fmtValue(this.profile.sum, this.profile.unit)} total · ${this.profile.n.toLocaleString()} frame${this.profile.n === 1 ? '' : 's'}` +
        ` · fetched in ${Math.round(t1 - t0)} ms, drawn in ${Math.round(t2 - t1)} ms` + (isLive ? ` · updated ${fmtTime(Date.now() / 1000)}` : '');
      if (!this.profile.rootTotal) this.suggestRange(p);
      this.lastRefresh = Date.now();
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.status.textContent = '';
      clear(this.errBox).append(errorBox(e));
      this.profile = new Profile({ names: [], kinds: [], tree: [] });
      this.fg.setProfile(this.profile);
      this.table.update(this.profile, 0, null);
      this.shown = { ...s };
    }
  }

  // An empty range: offer the smallest preset that reaches the app's last
  // report (an app that stopped an hour ago shows nothing in "last 15m").
  suggestRange(p) {
    const last = this.appInfo && this.appInfo.last_seen;
    if (!last) return;
    const age = Date.now() / 1000 - last;
    const pre = PRESETS.find(([, v]) => Date.now() / 1000 - resolveTime(v) > age + 30);
    if (!pre || pre[1] === p.from) return;
    this.status.append(' · ', el('span', { text: `last report ${ago(last)}: ` }),
      el('button.link', { type: 'button', id: 'widen', text: `show the last ${pre[0]}`,
        onclick: () => setState({ from: pre[1], to: 'now', zoom: null }, true) }));
  }

  // Zoom and search changed, data did not.
  applyView(s) {
    if (!this.profile) return;
    const zi = s.zoom ? this.profile.findPath(s.zoom.split(ZOOM_SEP)) : 0;
    const searchChanged = (s.q || '') !== (this.fg.query || '');
    if (searchChanged) { this.fg.query = s.q || ''; this.fg._applySearch(); }
    // A click already zoomed the graph before it told us: draw only once.
    if (zi !== this.fg.zoom || searchChanged) this.fg.setZoom(zi);
    this.afterGraph(s);
  }

  afterGraph(s) {
    const p = this.profile;
    const z = this.fg.zoom;
    this.table.selected = s.q && s.q[0] === '=' ? s.q.slice(1) : null;
    this.table.update(p, z, s.q ? p.matchNames(s.q) : null);
    const path = z ? p.pathOf(z) : [];
    clear(this.zoomPath);
    if (path.length) {
      this.zoomPath.append(el('button.link', { type: 'button', text: 'all', onclick: () => setState({ zoom: null }) }));
      const shownPath = path.length > 4 ? path.slice(-4) : path;
      if (path.length > 4) this.zoomPath.append(el('span.sep', { text: ' › … ' }));
      shownPath.forEach((nm, k) => {
        const full = path.slice(0, path.length - shownPath.length + k + 1);
        this.zoomPath.append(el('span.sep', { text: ' › ' }),
          el('button.link', { type: 'button', text: nm, title: nm, onclick: () => setState({ zoom: full.join(ZOOM_SEP) }) }));
      });
    }
    const rz = document.getElementById('reset-zoom');
    if (rz) rz.disabled = !z;
  }

  showSearchInfo(info) {
    if (!this.searchInfo) return;
    if (!info) { this.searchInfo.textContent = ''; this.searchInfo.className = 'search-info'; return; }
    this.searchInfo.className = 'search-info' + (info.count ? ' found' : ' none');
    this.searchInfo.textContent = info.count
      ? `${info.count.toLocaleString()} frame${info.count === 1 ? '' : 's'} of ${info.names} function${info.names === 1 ? '' : 's'} · ${pct(info.value, info.total)} of total`
      : 'no match';
  }

  onWindow(msg) {
    if (msg.app && msg.app !== this.app) return;
    if (msg.type && msg.type !== (state.type || DEFAULTS.type)) return;
    const wait = Math.max(0, 2000 - (Date.now() - this.lastRefresh));
    clearTimeout(this.liveTimer);
    this.liveTimer = setTimeout(() => { this.load(true); }, wait);
    if (!this.instTick || Date.now() - this.instTick > 5000) { this.instTick = Date.now(); this.loadInstances(); }
  }
}

// A short how-to next to the graph (folded).
function helpBox() {
  const li = (k, v) => el('li', null, el('strong', { text: k }), ' ', v);
  return el('details.help', null, el('summary', { text: 'How to read it', title: 'How to read and use the flame graph' }),
    el('div.help-body', null,
      el('p', { text: 'Each box is a function; the one below it is what it called. Width = share of the samples. The root is on top.' }),
      el('ul', null,
        li('Click', 'a frame to zoom into it; click the zoomed frame to go up; Reset zoom or Escape for all.'),
        li('Hover', 'for self (in the function itself) and total (with its callees), in % of all.'),
        li('Keys', 'with the graph focused: arrows move (up = caller, down = callee), Enter zooms.'),
        li('Search', 'text (any case), =exact.Name, or /regex/. Matches keep their colour; the share counts nested matches once.'),
        li('Table', 'functions under the zoom; click a row to highlight that function everywhere.'),
        li('Timeline', 'drag across it to pick a time range.'),
        li('Link', 'the address holds the whole view: copy it to share.'))));
}

function addLabel(cur, kv) {
  const parts = (cur || '').split(',').map(x => x.trim()).filter(Boolean);
  const key = kv.split('=')[0];
  const out = parts.filter(x => x.split('=')[0] !== key);
  out.push(kv);
  return out.join(',');
}

function defaultCompare(p) {
  // Compare the previous period of the same length with the current one.
  if (isRelative(p.from) && p.to === 'now') {
    const m = /^now-(\d+)([smhdw])$/.exec(p.from);
    if (m) return { bfrom: `now-${2 * m[1]}${m[2]}`, bto: p.from, cfrom: p.from, cto: 'now', blabels: p.labels, clabels: p.labels };
  }
  const a = Math.floor(resolveTime(p.from)), b = Math.ceil(resolveTime(p.to));
  return { bfrom: String(a - (b - a)), bto: String(a), cfrom: String(a), cto: String(b), blabels: p.labels, clabels: p.labels };
}

async function copyLink() {
  try { await navigator.clipboard.writeText(location.href); toast('Link copied: it reopens this exact view.'); }
  catch (e) { toast('Copy this address from the address bar: ' + location.href, 5000); }
}

// ---------------------------------------------------------------- compare view

class CompareView {
  constructor(host) {
    this.host = host;
    this.app = state.app;
    this.shown = {};
    this.liveWanted = false;
    this.toolbar = el('div.toolbar');
    this.errBox = el('div');
    this.status = el('div.status-line', { role: 'status', 'aria-live': 'polite' });
    this.legendBox = el('div.difflegend');
    this.fgHost = el('div');
    this.summary = el('div.diff-summary');
    this.tableHost = el('div');
    this.searchInfo = el('span.search-info');
    this.tlHost = el('div');
    this.dragTarget = 'cmp';
    this.dragSeg = el('div.seg', { role: 'radiogroup', 'aria-label': 'Dragging on the timeline sets' });
    host.append(
      el('section.panel', null, el('div.panel-head', null, el('h1', { text: 'Compare' }),
        el('span.muted', { text: 'Base against comparison: each side is normalised to its own total, so the change is in shares, not raw counts.' })),
        this.toolbar,
        el('div.row.dragrow', null, el('span.muted', { text: 'Drag on the timeline to set the' }), this.dragSeg, el('span.muted', { text: 'range.' })),
        this.tlHost, this.errBox),
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
    live.subscribe(null);
    setLiveState('paused', 'compare');
    // Label values of the app's instances, as suggestions for both sides.
    get('instances', { app: this.app }).then(r => {
      const sugg = new Set();
      for (const i of r.instances || []) for (const [k, v] of Object.entries(i.labels || {})) sugg.add(`${k}=${v}`);
      this.labelSugg = [...sugg].sort();
      // In place: rebuilding the toolbar would wipe what the user is typing.
      fillDatalist('base-labels-list', this.labelSugg);
      fillDatalist('cmp-labels-list', this.labelSugg);
    }).catch(() => { /* suggestions are optional */ });
  }

  destroy() { this.fg.destroy(); if (this.abort) this.abort.abort(); }

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

  params(s = state) {
    return {
      app: s.app, type: s.type || DEFAULTS.type,
      'base.from': s.bfrom || 'now-30m', 'base.to': s.bto || 'now-15m', 'base.labels': s.blabels || '',
      'cmp.from': s.cfrom || 'now-15m', 'cmp.to': s.cto || 'now', 'cmp.labels': s.clabels || '',
    };
  }

  update(s) {
    const keys = ['app', 'type', 'bfrom', 'bto', 'blabels', 'cfrom', 'cto', 'clabels'];
    const key = JSON.stringify(this.params(s)) + (s.zoom ? 'z' : '');
    if (key !== this.toolbarKey) { this.toolbarKey = key; this.buildToolbar(s); }
    if (keys.some(k => (s[k] || '') !== (this.shown[k] || '')) || !this.profile) this.load();
    else this.applyView(s);
  }

  buildToolbar(s) {
    const p = this.params(s);
    // Enter in any field (or Apply) takes all six fields at once, so both
    // sides can be edited before the diff is fetched.
    const applyAll = () => {
      const v = id => (document.getElementById(id) || {}).value;
      setState({ bfrom: v('base-from'), bto: v('base-to'), blabels: (v('base-labels') || '').trim() || null,
        cfrom: v('cmp-from'), cto: v('cmp-to'), clabels: (v('cmp-labels') || '').trim() || null, zoom: null }, true);
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
    const s = state;
    if (this.abort) this.abort.abort();
    const ac = this.abort = new AbortController();
    this.status.textContent = 'Loading…';
    const t0 = performance.now();
    try {
      this.loadTimeline(this.params(s));
      const d = await get('diff', this.params(s), ac.signal);
      if (ac.signal.aborted) return;
      const t1 = performance.now();
      this.shown = { ...s };
      this.profile = new Profile(d, true);
      this.profile.unit = d.unit || TYPE_UNIT[s.type || DEFAULTS.type] || '';
      this.timeline.unit = this.profile.unit;
      this.timeline.render();
      this.json = d;
      clear(this.errBox);
      this.fg.query = s.q || '';
      this.fg.setProfile(this.profile, s.zoom ? s.zoom.split(ZOOM_SEP) : null);
      this.renderLegend();
      this.renderSummary();
      this.table.update(this.profile, this.fg.zoom, s.q ? this.profile.matchNames(s.q) : null);
      this.status.textContent = `base ${fmtValue(this.profile.baseSum, this.profile.unit)} · comparison ${fmtValue(this.profile.cmpSum, this.profile.unit)} · ` +
        `${this.profile.n.toLocaleString()} frames · fetched in ${Math.round(t1 - t0)} ms, drawn in ${Math.round(performance.now() - t1)} ms`;
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.status.textContent = '';
      clear(this.errBox).append(errorBox(e));
      clear(this.summary);
    }
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

render();

// Hooks for the browser tests and for poking around in devtools.
window.cprof = { state: () => state, setState, view: () => current };
