// appview.js - the app view (#app=A): instances, toolbar, timeline, flame
// graph and functions table of one app, type, range and label filter.
//
// render() in app.js calls update(state): it compares the state to what is
// on screen and does the least work (refetch, or only re-zoom / re-search).
// Messages go to one area (notices.js): an error of the API once, however
// many requests hit it; a range that does not parse is said there and not
// fetched (nor shown as a range). An empty answer is explained where the
// graph would be: a label filter no instance has, or a range with no
// samples (with the smallest preset that reaches the last report). When the
// relay is unreachable the data on screen stays (the page's banner says
// why) and reload() refetches it once the relay is back.
//
// Live: while the range ends at "now", windows pushed on the live websocket
// refetch profile and timeline (at most one refresh per 2 s) and the zoom
// is re-applied by its frame-name path. Main thread only.

import { get, apiUrl, download } from './api.js';
import { Profile } from './profile.js';
import { FlameGraph } from './flame.js';
import { FunctionsTable } from './table.js';
import { Timeline } from './timeline.js';
import { Notices } from './notices.js';
import { InsightsPanel } from './insights.js';
import { noMatchText, parseFilter } from './labels.js';
import { STATE_HEADERS, stateCells } from './agentstate.js';
import { ControlPanel } from './control.js';
import { EndpointsPanel, ENDPOINT_KEY, labelElement } from './endpoints.js';
import { TraceBox } from './trace.js';
import { el, clear, pct, fmtValue, fmtCount, debounce } from './util.js';
import { ago, fmtTime, fmtDateTime, rangeText, resolveTime, isRelative, apiTime, parseTime } from './time.js';
import { DEFAULTS, PRESETS, ZOOM_SEP, hashOf } from './state.js';
import { typeButtons, kindLegend, labelInput, fillDatalist, rangeInputs, readRange, timelineStep,
  addLabel, helpBox, copyLink, toast } from './widgets.js';

// The compare view's default: the previous period of the same length
// against the current one.
export function defaultCompare(p) {
  if (isRelative(p.from) && p.to === 'now') {
    const m = /^now-(\d+)([smhdw])$/.exec(p.from);
    if (m) return { bfrom: `now-${2 * m[1]}${m[2]}`, bto: p.from, cfrom: p.from, cto: 'now', blabels: p.labels, clabels: p.labels };
  }
  const a = Math.floor(resolveTime(p.from)), b = Math.ceil(resolveTime(p.to));
  if (!(a < b)) return { blabels: p.labels, clabels: p.labels };
  return { bfrom: String(a - (b - a)), bto: String(a), cfrom: String(a), cto: String(b), blabels: p.labels, clabels: p.labels };
}

export class AppView {
  // ctx: { state(), setState(patch, push), live, setLiveState(s) } (app.js)
  constructor(host, ctx) {
    this.ctx = ctx;
    this.host = host;
    this.app = ctx.state().app;
    this.shown = {};       // the state the data on screen belongs to
    this.liveWanted = false;
    this.lastRefresh = 0;
    this.instances = [];
    this.instancesKnown = false;
    this.appInfo = null;
    const setState = ctx.setState;

    this.instBox = el('div.instances');
    this.control = new ControlPanel(this.app);   // fleet control (control.js)
    this.toolbar = el('div.toolbar');
    this.tlHost = el('div');
    this.status = el('div.status-line', { role: 'status', 'aria-live': 'polite' });
    this.searchInfo = el('span.search-info', { 'aria-live': 'polite' });
    this.zoomPath = el('nav.zoompath', { 'aria-label': 'Zoomed frame path' });
    this.fgHost = el('div');
    this.legendBox = el('div');
    this.tableHost = el('div');
    this.errBox = el('div.notices');
    this.notes = new Notices(this.errBox);
    this.insHost = el('div');
    this.epHost = el('div');
    this.traceHost = el('div');
    this.instDetails = el('details.panel.inst', { open: true }, el('summary', null, el('h2', { text: 'Instances' }), el('span.inst-sum.muted')), this.instBox);
    host.append(
      this.errBox,
      this.instDetails,
      el('section.panel', null, this.toolbar, this.tlHost),
      this.insHost,
      this.epHost,
      el('section.panel.graph', { 'aria-label': 'Flame graph' },
        el('div.graph-head', null, el('h2', { text: 'Flame graph' }), this.zoomPath, el('span.spacer'), this.legendBox, helpBox()),
        this.status, this.fgHost),
      el('section.panel', { 'aria-label': 'Functions' }, el('div.graph-head', null, el('h2', { text: 'Functions' })), this.tableHost),
      this.traceHost);

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
    this.insights = new InsightsPanel(this.insHost, {
      show: patch => {
        setState(patch, true);
        this.fgHost.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      },
    });
    this.endpoints = new EndpointsPanel(this.epHost, {
      filter: v => {
        const rest = (ctx.state().labels || '').split(',').filter(x => x && x.split('=')[0].trim() !== ENDPOINT_KEY);
        if (v != null) rest.push(labelElement(ENDPOINT_KEY, v));
        setState({ labels: rest.join(',') || null, zoom: null }, true);
        this.fgHost.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
      },
    });
    this.trace = new TraceBox(this.traceHost, () => { const ap = this.apiParams(ctx.state()); return { from: ap.from, to: ap.to, type: ap.type }; });
    this.instTimer = setInterval(() => this.loadInstances(), 10000);
  }

  destroy() {
    clearInterval(this.instTimer); clearTimeout(this.liveTimer); this.fg.destroy(); this.insights.destroy();
    this.endpoints.destroy(); this.trace.destroy();
    if (this.abort) this.abort.abort();
  }

  update(s) {
    const data = ['app', 'type', 'from', 'to', 'labels'];
    const changed = data.some(k => (s[k] || '') !== (this.shown[k] || ''));
    this.syncToolbar(s);
    const p = this.params(s);
    const bad = parseTime(p.from).error ? `from: ${parseTime(p.from).error}` : parseTime(p.to).error ? `to: ${parseTime(p.to).error}` : null;
    if (bad) {
      // Not fetched, not drawn as a range: said once, in the message area.
      this.notes.set('range', 'error', bad);
      if (this.abort) this.abort.abort();
      this.showNothing('Nothing loaded: the time range is not valid.');
      this.shown = { ...s };
      this.liveWanted = false;
      this.ctx.live.subscribe(null);
      this.ctx.setLiveState('paused');
      return;
    }
    this.notes.clear('range');
    if (changed || !this.profile) {
      if (!this.appInfo) this.loadInstances();
      this.load(false);
    } else {
      this.applyView(s);
    }
    const wantLive = (s.to || 'now') === 'now';
    this.liveWanted = wantLive;
    if (wantLive) this.ctx.live.subscribe({ app: s.app, type: s.type || DEFAULTS.type, labels: s.labels || '' });
    else { this.ctx.live.subscribe(null); this.ctx.setLiveState('paused'); }
  }

  // The relay is reachable again: fetch what is on screen once more.
  reload() { this.loadInstances(); this.load(false); this.insights.reload(); }

  // The live socket reconnected: windows may have been pushed meanwhile.
  onReconnect() { if (this.liveWanted) this.onWindow({}); }

  params(s = this.ctx.state()) {
    return { app: s.app, type: s.type || DEFAULTS.type, from: s.from || DEFAULTS.from, to: s.to || DEFAULTS.to, labels: s.labels || '' };
  }

  // What the API gets: times in a form the relay reads (time.js).
  apiParams(s) {
    const p = this.params(s);
    return { ...p, from: apiTime(p.from), to: apiTime(p.to) };
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
    const setState = this.ctx.setState;
    const p = this.params(s);
    const types = (this.appInfo && this.appInfo.types) || [];
    const search = el('input.search', { type: 'search', value: s.q || '', placeholder: 'Search frames (text, =exact, /regex/)',
      'aria-label': 'Search frames', id: 'search', spellcheck: 'false' });
    const doSearch = debounce(() => setState({ q: search.value || null }), 150);
    search.addEventListener('input', doSearch);
    search.addEventListener('keydown', e => { if (e.key === 'Enter') setState({ q: search.value || null }); });
    const labelSugg = this.labelSuggestions();
    const ap = this.apiParams(s);
    const exp = fmt => apiUrl('profile', { ...ap, format: fmt });
    const isLive = p.to === 'now';
    const rt = rangeText(p.from, p.to, PRESETS);
    const focused = document.activeElement && this.toolbar.contains(document.activeElement) && document.activeElement.id;
    const applyRange = (f, t) => {
      const r = readRange(f || DEFAULTS.from, t || 'now', 'Range');
      if (r.error) { this.notes.set('range', 'error', r.error); return; }
      setState({ from: r.from, to: r.to }, true);
    };
    clear(this.toolbar).append(
      el('div.row', null,
        typeButtons(types.length ? types : [p.type], p.type, t => setState({ type: t, zoom: null }, true)),
        el('div.seg', { role: 'group', 'aria-label': 'Time range presets' }, PRESETS.map(([lbl, v]) =>
          el('button' + (p.from === v && p.to === 'now' ? '.on' : ''), { type: 'button', text: lbl, 'data-range': v,
            onclick: () => setState({ from: v, to: 'now', zoom: null }, true) }))),
        rangeInputs(p.from, p.to, applyRange, 'range', 'Range'),
        el('span.rangetext.muted', { text: rt ? rt + (isLive ? '' : ' (fixed)') : '' }),
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
              download('profile', { ...ap, format: fmt }, `${p.app}-${p.type}${ext}`)
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
      await this.control.refresh();   // each agent's last acknowledgement (none: an older relay)
      this.instancesKnown = true;
      this.notes.clear('instances');
      this.renderInstances();
      this.explainEmpty();
      this.syncToolbar(this.ctx.state());
    } catch (e) {
      if (e.unreachable) return;      // the page's banner says it; keep what is shown
      this.notes.set('instances', 'error', 'Could not load: ' + e.message);
      clear(this.instBox).append(el('p.muted', { text: 'No instances to show.' }));
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
            onclick: () => this.ctx.setState({ labels: addLabel(this.ctx.state().labels, `${k}=${v}`), zoom: null }, true) }))),
        el('td', { text: i.jvm || '' }),
        el('td', { text: i.agent_version || '' }),
        el('td.num', { text: fmtCount(q.samples || 0) }),
        el('td.num' + (tried && q.failed / tried > 0.1 ? '.warn' : ''), { text: tried ? pct(q.failed || 0, tried) : '–', title: failTitle || 'no failed samples' }),
        el('td.num' + (q.dropped ? '.warn' : ''), { text: fmtCount(q.dropped || 0) + (maybe ? ` (+${fmtCount(maybe)}?)` : ''), title: dropTitle }),
        el('td.num', { text: q.rate_hz != null ? Number(q.rate_hz).toFixed(0) + ' Hz' : '–' }),
        ...stateCells(i),
        el('td', { text: ago(i.last_seen), title: i.last_seen ? fmtDateTime(i.last_seen) : '' }),
        this.control.ackCell(i), this.control.pickCell(i));
    });
    clear(this.instBox).append(el('table.data.compact', null,
      el('thead', null, el('tr', null, ['', 'Instance', 'Labels', 'JVM', 'Agent', 'Samples', 'Failed', 'Dropped', 'Rate', ...STATE_HEADERS, 'Last seen', 'Control', 'Select']
        .map(h => el('th', { scope: 'col', text: h })))),
      el('tbody', null, rows)),
      this.control.render(() => this.renderInstances()));
  }

  // An empty graph with a reason, for when there is no profile to show.
  showNothing(why) {
    this.status.textContent = '';
    this.profile = new Profile({ names: [], kinds: [], tree: [] });
    this.fg.setEmptyText(why);
    this.fg.setProfile(this.profile);
    this.table.update(this.profile, 0, null);
    clear(this.legendBox);
  }

  async load(isLive) {
    const s = this.ctx.state();
    const p = this.params(s);
    if (this.abort) this.abort.abort();
    const ac = this.abort = new AbortController();
    const from = resolveTime(p.from), to = resolveTime(p.to);
    const step = timelineStep(from, to);
    const ap = this.apiParams(s);
    // Insights cover every type of the range: refetched when the range or
    // labels change, and on a live view at most every 30 s.
    this.insights.load({ app: p.app, from: p.from, to: p.to, labels: p.labels },
      { app: ap.app, from: ap.from, to: ap.to, labels: ap.labels }, isLive ? 30000 : Infinity);
    const ep = parseFilter(p.labels).find(([k]) => k === ENDPOINT_KEY);
    this.endpoints.load(ap, ep ? ep[1] : null);
    if (!isLive) this.status.textContent = 'Loading…';
    const t0 = performance.now();
    try {
      const [prof, tl] = await Promise.all([
        get('profile', { ...ap, format: 'json' }, ac.signal),
        get('timeline', { ...ap, step }, ac.signal).catch(e => { if (e.name === 'AbortError') throw e; return { points: [], step }; }),
      ]);
      if (ac.signal.aborted) return;
      const t1 = performance.now();
      this.shown = { ...s };
      this.profile = new Profile(prof);
      this.notes.clear('profile');
      this.timeline.setData(tl, from, to, this.profile.unit);
      this.fg.query = s.q || '';
      this.explainEmpty(false);
      this.fg.setProfile(this.profile, s.zoom ? s.zoom.split(ZOOM_SEP) : null);
      this.afterGraph(s);
      clear(this.legendBox).append(kindLegend(this.profile));
      const t2 = performance.now();
      this.status.textContent = `${fmtValue(this.profile.sum, this.profile.unit)} total · ${this.profile.n.toLocaleString()} frame${this.profile.n === 1 ? '' : 's'}` +
        ` · fetched in ${Math.round(t1 - t0)} ms, drawn in ${Math.round(t2 - t1)} ms` + (isLive ? ` · updated ${fmtTime(Date.now() / 1000)}` : '');
      this.explainEmpty();
      this.lastRefresh = Date.now();
    } catch (e) {
      if (e.name === 'AbortError') return;
      if (e.unreachable) {
        // Said once by the page's banner; what is on screen stays, and
        // reload() fetches this state when the relay is back.
        if (!this.profile || this.shown.app !== s.app) this.showNothing('Waiting for the relay…');
        this.status.textContent = 'Waiting for the relay to answer…';
        return;
      }
      this.notes.set('profile', 'error', 'Could not load: ' + e.message);
      this.showNothing('Nothing to show: the relay refused the query (see above).');
      this.shown = { ...s };
    }
  }

  // Says why the profile is empty: a label filter that no instance has
  // (known once the instances arrived), else the range (with a wider
  // preset that reaches the app's last report). redraw=false when the
  // caller draws the graph itself.
  explainEmpty(redraw = true) {
    if (!this.profile || this.profile.rootTotal) return;
    const p = this.params(this.shown.app ? this.shown : this.ctx.state());
    const why = this.instancesKnown ? noMatchText(this.app, p.labels, this.instances) : null;
    if (why) {
      this.fg.setEmptyText(why, ' ', el('button.link', { type: 'button', id: 'clear-labels', text: 'Remove the label filter',
        onclick: () => this.ctx.setState({ labels: null, zoom: null }, true) }));
    } else {
      this.fg.setEmptyText(`No samples in this range (${rangeText(p.from, p.to, PRESETS)}).`);
      if (!document.getElementById('widen')) this.suggestRange(p);
    }
    if (redraw) this.fg.render();
  }

  // An empty range: offer the smallest preset that reaches the app's last
  // report (an app that stopped an hour ago shows nothing in "last 15m").
  suggestRange(p) {
    const last = this.appInfo && this.appInfo.last_seen;
    if (!last || !this.status.textContent || /Loading|Waiting/.test(this.status.textContent)) return;
    const age = Date.now() / 1000 - last;
    const pre = PRESETS.find(([, v]) => Date.now() / 1000 - resolveTime(v) > age + 30);
    if (!pre || pre[1] === p.from) return;
    this.status.append(' · ', el('span', { text: `last report ${ago(last)}: ` }),
      el('button.link', { type: 'button', id: 'widen', text: `show the last ${pre[0]}`,
        onclick: () => this.ctx.setState({ from: pre[1], to: 'now', zoom: null }, true) }));
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
      const setState = this.ctx.setState;
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
    const s = this.ctx.state();
    if (msg.app && msg.app !== this.app) return;
    if (msg.type && msg.type !== (s.type || DEFAULTS.type)) return;
    const wait = Math.max(0, 2000 - (Date.now() - this.lastRefresh));
    clearTimeout(this.liveTimer);
    this.liveTimer = setTimeout(() => { this.load(true); }, wait);
    if (!this.instTick || Date.now() - this.instTick > 5000) { this.instTick = Date.now(); this.loadInstances(); }
  }
}
