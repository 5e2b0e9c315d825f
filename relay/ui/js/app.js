// app.js - the cprof web UI's shell: routing, the view state in the URL
// (state.js), the apps list, the live indicator and the relay-unreachable
// banner. The app view is appview.js, the compare view compare.js.
//
// Changes that navigate (open an app, compare) push a history entry; small
// ones (zoom, search, sort) replace it. render() keeps the view object when
// the kind of view and the app stay, and calls its update(state), which
// does the least work (refetch, or only re-zoom / re-search).
//
// Outages (health.js): the first request that gets no answer shows one
// banner for the page ("The relay is unreachable since ..."); views keep
// what they show instead of adding errors. When a request or a probe gets
// through again the banner goes, the live socket reconnects at once and
// the current view reloads, once. Main thread only.

import { get, Live } from './api.js';
import { onHealth, downSince } from './health.js';
import { AppView } from './appview.js';
import { insightBadge } from './insights.js';
import { CompareView } from './compare.js';
import { el, clear } from './util.js';
import { ago, fmtDateTime, fmtTime, zoneName } from './time.js';
import { DEFAULTS, parseHash, hashOf } from './state.js';

let state = parseHash(location.hash);

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

window.addEventListener('popstate', () => { state = parseHash(location.hash); render(); });
window.addEventListener('hashchange', () => { state = parseHash(location.hash); render(); });

// ---------------------------------------------------------------- shell

const main = document.getElementById('main');
const crumbs = document.getElementById('crumbs');
let current = null;     // the view object on screen

const liveEl = document.getElementById('live');
const liveText = document.getElementById('live-text');
function setLiveState(s, text) {
  liveEl.className = 'live st-' + s;
  liveText.textContent = text || { live: 'live', connecting: 'connecting…', offline: 'live: reconnecting', off: 'live off', paused: 'fixed range' }[s] || s;
}

const live = new Live(msg => { if (current && current.onWindow) current.onWindow(msg); },
  s => { if (current && current.liveWanted) setLiveState(s); else setLiveState('off'); },
  () => { if (current && current.onReconnect) current.onReconnect(); });

const ctx = { state: () => state, setState, live, setLiveState };

// One banner for the page while the relay gives no answer.
const banner = el('div.banner', { id: 'relay-banner', role: 'alert', hidden: true });
main.before(banner);
onHealth(what => {
  if (what === 'down') {
    const t = downSince() / 1000;
    clear(banner).append(el('strong', { text: 'The relay is unreachable' }),
      ` (since ${fmtTime(t)} ${zoneName(t)}): retrying. What you see was loaded before; this page reloads by itself when the relay is back.`);
    banner.title = 'since ' + fmtDateTime(t);
    banner.hidden = false;
  } else {
    banner.hidden = true;
    clear(banner);
    live.kick();
    if (current && current.reload) current.reload();
  }
});

function render() {
  const kind = state.view === 'compare' && state.app ? CompareView : state.app ? AppView : AppsView;
  if (!(current instanceof kind) || (current.app && current.app !== state.app)) {
    if (current && current.destroy) current.destroy();
    clear(main);
    current = new kind(main, ctx);
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

  reload() { this.load(); }

  async load() {
    let r;
    try { r = await get('apps'); }
    catch (e) {
      if (!e.unreachable) clear(this.body).append(el('div.error', { role: 'alert' }, el('strong', { text: 'Could not load: ' }), e.message));
      return;     // unreachable: the banner says it, the list stays
    }
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
        el('td', null, el('a.appname', { href, text: a.name }), ' ', insightBadge(a.name, href)),
        el('td', null, el('span.status' + (a.connected ? '.on' : '.off'), { 'aria-hidden': 'true' }),
          `${a.connected} of ${a.instances} connected`),
        el('td', null, (a.types || []).map(t => el('a.chip', { href: hashOf({ app: a.name, type: t, from: DEFAULTS.from, to: DEFAULTS.to }), text: t }))),
        el('td', { title: a.last_seen ? fmtDateTime(a.last_seen) : '', text: ago(a.last_seen) }));
    });
    clear(this.body).append(el('table.data.apps', null,
      el('thead', null, el('tr', null, ['Application', 'Instances', 'Profile types', 'Last seen'].map(h => el('th', { scope: 'col', text: h })))),
      el('tbody', null, rows)));
  }

  destroy() { clearInterval(this.timer); }
}

render();

// Hooks for the browser tests and for poking around in devtools.
window.cprof = { state: () => state, setState, view: () => current };
