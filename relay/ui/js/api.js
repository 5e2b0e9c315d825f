// api.js - the relay's HTTP API (docs/api.md) and live websocket, as used by
// the UI. Every request goes to the page's own origin (the relay serves both
// the UI and the API; the CSP allows only 'self').
//
// Tokens (docs/security.md): a relay with --auth answers 401 without a read
// token. The UI then asks for one once, keeps it for this tab only
// (sessionStorage) and sends it as "Authorization: Bearer" on every fetch;
// the live websocket, which browsers cannot give headers, offers it as a
// subprotocol entry "bearer.TOKEN" next to "cprof.live". The token never
// goes into a URL, so it stays out of history, logs and Referer.
//
// Every request's outcome goes to health.js: a request that got no answer
// is an outage said once for the page, not an error of that request.

import { reported, suspect } from './health.js';

const TOKEN_KEY = 'cprof.token';
let asking = null;   // one prompt at a time, shared by concurrent requests

function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { return ''; }
}

// Asks the user for a token (after a 401); resolves true if one was given.
function askToken(why) {
  if (!asking) {
    asking = new Promise(resolve => {
      const t = window.prompt(why + '\nPaste a read token (cprof token new --role read). ' +
                              'It is kept for this browser tab only.');
      const v = (t || '').trim();
      try {
        if (v) sessionStorage.setItem(TOKEN_KEY, v); else sessionStorage.removeItem(TOKEN_KEY);
      } catch (e) { /* private mode: the token lives until the page reloads */ }
      resolve(!!v);
    }).finally(() => { setTimeout(() => { asking = null; }, 0); });
  }
  return asking;
}

// fetch with the tab's token; on 401 asks once for a (new) token and retries.
async function authFetch(url, opts = {}) {
  for (let attempt = 0; ; attempt++) {
    const t = token();
    const headers = { ...(opts.headers || {}) };
    if (t) headers.Authorization = 'Bearer ' + t;
    let r;
    try { r = await fetch(url, { ...opts, headers }); }
    catch (e) { if (e.name !== 'AbortError') reported(false); throw e; }
    reported(r.status !== 502 && r.status !== 504);
    if (r.status !== 401 || attempt > 0) return r;
    if (!await askToken(t ? 'The relay did not accept the token.' : 'This relay needs a token.')) return r;
  }
}

// status 0: the relay gave no answer (unreachable; health.js says so).
export class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
  get unreachable() { return this.status === 0 || this.status === 502 || this.status === 504; }
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, v);
  return q.toString();
}

export function apiUrl(path, params = {}) {
  const qs = query(params);
  return '/api/v1/' + path + (qs ? '?' + qs : '');
}

// GET JSON; throws ApiError with the relay's {"error": "..."} message.
export async function get(path, params = {}, signal) {
  let r;
  try {
    r = await authFetch(apiUrl(path, params), { signal, headers: { Accept: 'application/json' } });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'relay unreachable (' + e.message + ')');
  }
  let body = null;
  const text = await r.text();
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
  if (!r.ok) throw new ApiError(r.status, (body && body.error) || `HTTP ${r.status} ${r.statusText}`);
  if (body == null) throw new ApiError(r.status, 'the relay sent no JSON');
  return body;
}

// POST JSON (fleet control, docs/api.md); returns {status, body}: the
// caller shows a refusal (403: the token is not an admin's) itself.
export async function post(path, obj) {
  let r;
  try {
    r = await authFetch(apiUrl(path), { method: 'POST', body: JSON.stringify(obj),
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' } });
  } catch (e) {
    throw new ApiError(0, 'relay unreachable (' + e.message + ')');
  }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  return { status: r.status, body: body || {} };
}

// Downloads an export (pprof, collapsed, speedscope) with the tab's token:
// a plain link could not send the Authorization header.
export async function download(path, params, filename) {
  const r = await authFetch(apiUrl(path, params));
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new ApiError(r.status, msg);
  }
  const url = URL.createObjectURL(await r.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// Live updates: one websocket (subprotocol cprof.live) that reconnects with
// backoff. subscribe({app, type, labels}) replaces the subscription;
// onWindow(msg) is called for each {"kind":"window",...}; onState(str)
// reports 'connecting' | 'live' | 'offline'; onReconnect() follows a
// 'live' that ended an 'offline' spell (pushes may have been missed).
export class Live {
  constructor(onWindow, onState, onReconnect) {
    this.onWindow = onWindow;
    this.onState = onState || (() => {});
    this.onReconnect = onReconnect || (() => {});
    this.wasOffline = false;
    this.sub = null;
    this.ws = null;
    this.backoff = 1000;
    this.closed = false;
  }

  subscribe(sub) {
    const same = JSON.stringify(sub) === JSON.stringify(this.sub);
    this.sub = sub;
    if (!sub) { this.close(); return; }
    this.closed = false;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { if (!same) this._send(); }
    else if (!this.ws) this._connect();
  }

  _send() {
    const s = { app: this.sub.app, type: this.sub.type };
    if (this.sub.labels) s.labels = this.sub.labels;
    try { this.ws.send(JSON.stringify({ subscribe: s })); } catch (e) { /* reconnect handles it */ }
  }

  _connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.onState('connecting');
    let ws;
    const t = token();
    try { ws = new WebSocket(`${proto}//${location.host}/api/v1/live`, t ? ['cprof.live', 'bearer.' + t] : 'cprof.live'); }
    catch (e) { this._retry(); return; }
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 1000; this.onState('live'); this._send();
      if (this.wasOffline) { this.wasOffline = false; this.onReconnect(); }
    };
    ws.onmessage = ev => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m && m.kind === 'window') this.onWindow(m);
    };
    ws.onclose = () => { if (this.ws === ws) { this.ws = null; this._retry(); } };
    ws.onerror = () => { /* onclose follows */ };
  }

  _retry() {
    if (this.closed || !this.sub) return;
    this.wasOffline = true;
    suspect();
    this.onState('offline');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 30000);
  }

  // The relay is back (health.js): reconnect now instead of after the
  // backoff.
  kick() {
    this.wasOffline = false;     // the caller reloads the view itself
    if (this.closed || !this.sub || this.ws) return;
    clearTimeout(this.timer);
    this.backoff = 1000;
    this._connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    this.onState('off');
  }
}
