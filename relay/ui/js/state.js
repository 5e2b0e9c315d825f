// state.js - the view state and its URL form. Everything a view shows sits
// in the hash (#app=..&type=..&from=..&to=..&labels=..&q=..&zoom=..
// &view=compare&bfrom=..), so a pasted link opens the same view. Times in
// the hash are relative forms (now-15m) or unix seconds (time.js), the same
// instant in every zone. Pure functions and constants; app.js owns the
// current state and setState().

export const TYPES = ['cpu', 'wall', 'alloc', 'alloc_objects', 'lock', 'lock_count'];
export const TYPE_LABEL = { cpu: 'CPU', wall: 'Wall clock', alloc: 'Alloc bytes', alloc_objects: 'Alloc objects',
  lock: 'Lock wait', lock_count: 'Lock count' };
export const PRESETS = [['5m', 'now-5m'], ['15m', 'now-15m'], ['1h', 'now-1h'], ['6h', 'now-6h'], ['24h', 'now-24h'], ['7d', 'now-7d']];
export const DEFAULTS = { type: 'cpu', from: 'now-15m', to: 'now' };
export const STATE_KEYS = ['view', 'app', 'type', 'from', 'to', 'labels', 'q', 'zoom',
  'bfrom', 'bto', 'blabels', 'cfrom', 'cto', 'clabels'];
export const ZOOM_SEP = ';';
// The type buttons of an app: the known types first, in TYPES order, then
// any other type its agents sent, then the current one. Agents send
// allocation bytes as "alloc_bytes", which the API also answers as "alloc"
// (docs/api.md): one button, "alloc", whichever way the type arrived.
export function typeList(types, cur) {
  const have = types.map(t => (t === 'alloc_bytes' ? 'alloc' : t));
  if (cur === 'alloc_bytes') cur = 'alloc';
  const all = TYPES.filter(t => have.includes(t)).concat(have.filter(t => !TYPES.includes(t)));
  if (!all.includes(cur)) all.push(cur);
  return all;
}

// Unit of a type when an answer does not say (the diff has no "unit").
export const TYPE_UNIT = { cpu: 'ns', wall: 'ns', lock: 'ns', alloc: 'bytes' };

export function parseHash(hash) {
  const h = hash.replace(/^#\/?/, '');
  const p = new URLSearchParams(h);
  const s = {};
  for (const k of STATE_KEYS) if (p.has(k)) s[k] = p.get(k);
  if (!s.view) s.view = s.app ? 'app' : 'apps';
  return s;
}

export function hashOf(s) {
  const p = new URLSearchParams();
  for (const k of STATE_KEYS) {
    if (k === 'view' && (s.view === 'apps' || s.view === 'app')) continue;
    if (s[k] != null && s[k] !== '') p.set(k, s[k]);
  }
  const q = p.toString();
  return q ? '#' + q : '#';
}
