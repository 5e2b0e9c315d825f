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

// A duration in nanoseconds as a person says it: "0 s", "850 ns",
// "12.5 ms", "1.25 s", "2 min 5 s", "3 h 20 min".
export function fmtDuration(ns) {
  const a = Math.abs(ns), sign = ns < 0 ? '\u2212' : '';
  if (a === 0) return '0 s';
  if (a < 1e3) return sign + Math.round(a) + ' ns';
  if (a < 1e6) return sign + (a / 1e3).toFixed(a < 1e4 ? 2 : 1) + ' \u00b5s';
  if (a < 1e9) return sign + (a / 1e6).toFixed(a < 1e7 ? 2 : 1) + ' ms';
  if (a < 60e9) return sign + (a / 1e9).toFixed(a < 1e10 ? 2 : 1) + ' s';
  const s = Math.round(a / 1e9);
  if (s < 3600) return sign + Math.floor(s / 60) + ' min' + (s % 60 ? ' ' + s % 60 + ' s' : '');
  const m = Math.round(s / 60);
  if (m < 1440) return sign + Math.floor(m / 60) + ' h' + (m % 60 ? ' ' + m % 60 + ' min' : '');
  const h = Math.round(m / 60);
  return sign + Math.floor(h / 24) + ' d' + (h % 24 ? ' ' + h % 24 + ' h' : '');
}

// A size in bytes: "0 B", "512 B", "1.50 KiB", "12.3 MiB".
export function fmtBytes(v) { return si(v, [' B', ' KiB', ' MiB', ' GiB', ' TiB'], 1024); }

// A value in the profile's unit: durations (ns) and sizes (bytes) in human
// units, samples and counts with k/M/G. Exact values stay in the API's JSON
// and the exports.
export function fmtValue(v, unit) {
  unit = (unit || '').toLowerCase();
  if (unit.startsWith('nano') || unit === 'ns') return fmtDuration(v);
  if (unit.startsWith('byte')) return fmtBytes(v);
  const s = si(v, ['', 'k', 'M', 'G'], 1000);
  return unit ? s + ' ' + unit : s;
}

export function fmtCount(v) { return si(v, ['', 'k', 'M', 'G'], 1000); }

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
