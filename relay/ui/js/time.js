// time.js - the time syntax a person types and the way the UI shows times.
//
// Accepted (the CLI's forms, relay/timeparse.c cp_time_parse_local, read in
// the browser's zone instead of TZ):
//   relative    now, now-15m, now-1.5h, now+30s (units ms s m h d w y;
//               a bare number is seconds)
//   absolute    unix seconds (1763773000, 1763773000.5), RFC 3339
//               (2026-11-22T01:00:00Z, ...+02:00), date-times with or
//               without seconds and a zone (2026-12-03 14:00,
//               2026-12-03 14:00:05 UTC, ... +01:00, ... CET when that is
//               the browser's zone), dates alone (2026-12-03: local
//               midnight), today, yesterday
// The relay's API takes relative forms, unix seconds and RFC 3339 only
// (the relay's zone means nothing to its clients), so apiTime() sends
// relative forms as typed and everything else as unix seconds, and the URL
// keeps that same canonical form (a shared link means the same instant in
// every zone). Shown: local date-times with the zone ("2026-12-04
// 03:15:20 UTC"). No state; main thread.

const UNIT_S = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 365 * 86400 };
const HINT = 'use now-15m, 2026-12-03 14:00, 2026-12-03, yesterday or unix seconds';

// A duration as the relay reads it ("15m", "1.5h", "30"): seconds or NaN.
function durationS(s) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)?$/.exec(s);
  return m ? Number(m[1]) * UNIT_S[m[2] || 's'] : NaN;
}

// Short name of the browser's zone at instant t (s): "UTC", "CET", "GMT+1".
export function zoneName(t = Date.now() / 1000) {
  try {
    const parts = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(new Date(t * 1000));
    const z = parts.find(p => p.type === 'timeZoneName');
    if (z) return z.value;
  } catch (e) { /* old browser: fall through */ }
  const off = -new Date(t * 1000).getTimezoneOffset();
  return 'UTC' + (off >= 0 ? '+' : '-') + String(Math.floor(Math.abs(off) / 60)).padStart(2, '0') + ':' + String(Math.abs(off) % 60).padStart(2, '0');
}

// Offset in minutes east of UTC from a zone token, null if it is not one
// ('' means the local zone and returns undefined).
function zoneOffset(z, localT) {
  if (!z) return undefined;
  if (/^(z|utc|gmt)$/i.test(z)) return 0;
  const m = /^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(z);
  if (m) {
    const h = Number(m[2]), mi = Number(m[3] || 0);
    if (h > 23 || mi > 59) return null;
    return (m[1] === '+' ? 1 : -1) * (h * 60 + mi);
  }
  return z === zoneName(localT) ? undefined : null;
}

function localMidnight(nowS, daysBack) {
  const d = new Date(nowS * 1000);
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() - daysBack).getTime() / 1000;
}

// Parses what a person typed. Returns { t: unix seconds, relative: bool,
// canon: the form for the URL and the API } or { error: 'why' }.
export function parseTime(text, nowS = Date.now() / 1000) {
  const s = String(text == null ? '' : text).trim();
  if (!s) return { error: 'empty: ' + HINT };
  if (/^now/.test(s)) {
    if (s === 'now') return { t: nowS, relative: true, canon: s };
    const m = /^now([+-])(.+)$/.exec(s);
    const d = m ? durationS(m[2]) : NaN;
    if (isNaN(d)) return { error: `'${s}' is not a time: after now comes -15m, -2h, -7d...` };
    return { t: m[1] === '-' ? nowS - d : nowS + d, relative: true, canon: s };
  }
  if (s === 'today' || s === 'yesterday') {
    const t = localMidnight(nowS, s === 'today' ? 0 : 1);
    return { t, relative: false, canon: String(t) };
  }
  if (/^\d+(\.\d+)?$/.test(s)) {
    const v = Number(s);
    if (v > 1e11) return { error: `'${s}' is not a time: unix seconds are at most 11 digits` };
    return { t: v, relative: false, canon: s };
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(\S*)$/.exec(s);
  if (!m) return { error: `'${s}' is not a time: ${HINT}` };
  const [Y, M, D, h, mi, sec] = [1, 2, 3, 4, 5, 6].map(k => Number(m[k] || 0));
  const ms = m[7] ? Number((m[7] + '00').slice(0, 3)) : 0;
  if (M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || sec > 59 || Y < 1970) return { error: `'${s}' is not a valid date-time` };
  const probe = new Date(Date.UTC(Y, M - 1, D));
  if (probe.getUTCDate() !== D) return { error: `'${s}': that day does not exist` };
  const local = new Date(Y, M - 1, D, h, mi, sec, ms).getTime() / 1000;
  const off = zoneOffset(m[8], local);
  if (off === null) return { error: `'${s}': unknown zone '${m[8]}' (use Z, UTC, +01:00 or ${zoneName(local)})` };
  const t = off === undefined ? local : (Date.UTC(Y, M - 1, D, h, mi, sec, ms) / 1000 - off * 60);
  return { t, relative: false, canon: String(Math.round(t * 1000) / 1000) };
}

// unix seconds for drawing, NaN when the text is not a time.
export function resolveTime(text, nowS = Date.now() / 1000) {
  const r = parseTime(text, nowS);
  return r.error ? NaN : r.t;
}

// The form the relay's API accepts: relative as typed, else unix seconds.
export function apiTime(text) {
  const r = parseTime(text);
  return r.error ? text : r.canon;
}

export function isRelative(t) { return t == null || t === '' || /^now/.test(t); }

const p2 = n => String(n).padStart(2, '0');

// "03:15:20" (local), or "2026-12-04 03:15:20" with the date.
export function fmtTime(unixS, withDate = false) {
  const d = new Date(unixS * 1000);
  const t = p2(d.getHours()) + ':' + p2(d.getMinutes()) + ':' + p2(d.getSeconds());
  return withDate ? d.getFullYear() + '-' + p2(d.getMonth() + 1) + '-' + p2(d.getDate()) + ' ' + t : t;
}

// "2026-12-04 03:15:20 UTC": a local date-time with the zone.
export function fmtDateTime(unixS) { return fmtTime(unixS, true) + ' ' + zoneName(unixS); }

// What a time box shows: relative forms as typed, instants as local
// date-times (the zone is printed beside the boxes).
export function fmtInput(text) {
  if (isRelative(text)) return text || '';
  const r = parseTime(text);
  if (r.error) return text;
  const d = new Date(r.t * 1000);
  const frac = d.getMilliseconds() ? '.' + String(d.getMilliseconds()).padStart(3, '0') : '';
  return fmtTime(r.t, true) + frac;
}

export function ago(unixS) {
  if (!unixS) return 'never';
  const d = Date.now() / 1000 - unixS;
  if (d < 5) return 'just now';
  if (d < 60) return Math.round(d) + ' s ago';
  if (d < 3600) return Math.round(d / 60) + ' min ago';
  if (d < 86400) return Math.round(d / 3600) + ' h ago';
  return Math.round(d / 86400) + ' d ago';
}

// A span of seconds as a person says it: "45 s", "2 min 30 s", "3 h 5 min".
export function fmtSpan(s) {
  s = Math.max(0, Math.round(s));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min' + (s % 60 ? ' ' + (s % 60) + ' s' : '');
  if (s < 86400) return Math.floor(s / 3600) + ' h' + (Math.floor(s / 60) % 60 ? ' ' + Math.floor(s / 60) % 60 + ' min' : '');
  return Math.floor(s / 86400) + ' d' + (Math.floor(s / 3600) % 24 ? ' ' + Math.floor(s / 3600) % 24 + ' h' : '');
}

// A range as a person reads it, or '' when either end is not a time.
// "last 15m", "2026-12-04 02:45:00 → now (UTC)",
// "2026-12-04 02:45:00 → 03:00:00 UTC".
export function rangeText(from, to, presets = []) {
  const a = parseTime(from), b = parseTime(to || 'now');
  if (a.error || b.error) return '';
  if (a.relative && (to || 'now') === 'now') {
    const pre = presets.find(p => p[1] === from);
    if (pre) return 'last ' + pre[0];
  }
  const sameDay = new Date(a.t * 1000).toDateString() === new Date(b.t * 1000).toDateString();
  const left = a.relative ? from : fmtTime(a.t, true);
  if (b.relative) return `${left} → ${to || 'now'} (${zoneName(a.t)})`;
  return `${left} → ${fmtTime(b.t, !sameDay || a.relative)} ${zoneName(b.t)}`;
}
