// api.js - the relay's HTTP API (docs/api.md) and live websocket, as used by
// the UI. Every request goes to the page's own origin (the relay serves both
// the UI and the API; the CSP allows only 'self').

export class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
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
    r = await fetch(apiUrl(path, params), { signal, headers: { Accept: 'application/json' } });
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

// Live updates: one websocket (subprotocol cprof.live) that reconnects with
// backoff. subscribe({app, type, labels}) replaces the subscription;
// onWindow(msg) is called for each {"kind":"window",...}; onState(str)
// reports 'connecting' | 'live' | 'offline'.
export class Live {
  constructor(onWindow, onState) {
    this.onWindow = onWindow;
    this.onState = onState || (() => {});
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
    try { ws = new WebSocket(`${proto}//${location.host}/api/v1/live`, 'cprof.live'); }
    catch (e) { this._retry(); return; }
    this.ws = ws;
    ws.onopen = () => { this.backoff = 1000; this.onState('live'); this._send(); };
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
    this.onState('offline');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, 30000);
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) { const ws = this.ws; this.ws = null; ws.close(); }
    this.onState('off');
  }
}
