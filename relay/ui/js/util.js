// util.js - formatting and small DOM helpers shared by the UI modules.
// No state. DOM is built with createElement/textContent only: the relay's
// CSP forbids inline styles and scripts, and names must never become HTML.

// el('div.cls1.cls2', {attr: v, onclick: fn}, child|string|[...])
export function el(spec, attrs, ...kids) {
  const [tag, ...cls] = spec.split('.');
  const e = document.createElement(tag || 'div');
  if (cls.length) e.className = cls.join(' ');
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else if (k === 'text') e.textContent = v;
      else if (k in e && typeof v !== 'string') e[k] = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
  }
  append(e, kids);
  return e;
}

function append(e, kids) {
  for (const k of kids) {
    if (k == null || k === false) continue;
    if (Array.isArray(k)) append(e, k);
    else e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

export function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

export function pct(part, whole) {
  if (!whole) return '0%';
  const p = 100 * part / whole;
  if (p === 0) return '0%';
  if (p < 0.01) return '<0.01%';
  return (p < 10 ? p.toFixed(2) : p.toFixed(1)) + '%';
}

export function signedPct(p) {   // p already in percent points
  const s = p > 0 ? '+' : p < 0 ? '\u2212' : '\u00b1';
  const a = Math.abs(p);
  return s + (a < 10 ? a.toFixed(2) : a.toFixed(1)) + '%';
}

function si(v, units, base) {
  let i = 0;
  while (Math.abs(v) >= base && i < units.length - 1) { v /= base; i++; }
  return (i === 0 ? String(Math.round(v)) : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)) + units[i];
}

// A value in the profile's unit: samples, nanoseconds or bytes.
export function fmtValue(v, unit) {
  unit = (unit || '').toLowerCase();
  if (unit.startsWith('nano') || unit === 'ns') {
    if (v < 1e3) return Math.round(v) + ' ns';
    if (v < 1e6) return (v / 1e3).toFixed(1) + ' \u00b5s';
    if (v < 1e9) return (v / 1e6).toFixed(1) + ' ms';
    return (v / 1e9).toFixed(v < 1e10 ? 2 : 1) + ' s';
  }
  if (unit.startsWith('byte')) return si(v, [' B', ' KiB', ' MiB', ' GiB', ' TiB'], 1024);
  const s = si(v, ['', 'k', 'M', 'G'], 1000);
  return unit ? s + ' ' + unit : s;
}

export function fmtCount(v) { return si(v, ['', 'k', 'M', 'G'], 1000); }

export function ago(unixS) {
  if (!unixS) return 'never';
  const d = Date.now() / 1000 - unixS;
  if (d < 5) return 'just now';
  if (d < 60) return Math.round(d) + ' s ago';
  if (d < 3600) return Math.round(d / 60) + ' min ago';
  if (d < 86400) return Math.round(d / 3600) + ' h ago';
  return Math.round(d / 86400) + ' d ago';
}

export function fmtTime(unixS, withDate = false) {
  const d = new Date(unixS * 1000);
  const p = n => String(n).padStart(2, '0');
  const t = p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  return withDate ? d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + t : t;
}

// "now-15m" etc. to unix seconds (for drawing); numbers pass through.
export function resolveTime(t, now = Date.now() / 1000) {
  if (t == null || t === '') return now;
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const m = /^now(?:-(\d+)([smhdw]))?$/.exec(t);
  if (m) {
    if (!m[1]) return now;
    const mul = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]];
    return now - Number(m[1]) * mul;
  }
  const d = Date.parse(t);
  return isNaN(d) ? now : d / 1000;
}

export function isRelative(t) { return t == null || t === '' || /^now/.test(t); }

export function debounce(fn, ms) {
  let h = 0;
  return (...a) => { clearTimeout(h); h = setTimeout(() => fn(...a), ms); };
}

// Stable small hash of a string (FNV-1a), for colour jitter.
export function hash(s) {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return h >>> 0;
}

// Short display of a Java frame: drop the package, keep Class.method.
export function shortName(s) {
  const paren = s.indexOf('(');
  const base = paren >= 0 ? s.slice(0, paren) : s;
  const parts = base.split('.');
  if (parts.length <= 2) return s;
  return parts.slice(-2).join('.') + (paren >= 0 ? s.slice(paren) : '');
}
