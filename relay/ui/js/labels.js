// labels.js - label filters as the relay reads them (docs/api.md
// "labels", relay/store_labels.c): "k=v,k2=v2", all must match; '\,' '\='
// '\\' escape; after an element's first '=' a bare '=' belongs to the
// value; an element without '=' matches nothing. Used to say "no instance
// has labels run=9" instead of blaming the time range. Pure functions.

// [[key, value|null], ...] of a filter text.
export function parseFilter(text) {
  const out = [];
  let key = '', val = null, cur = '', esc = false;
  const flush = () => {
    if (val === null) { if (cur) out.push([cur, null]); }
    else out.push([key, cur]);
    key = ''; val = null; cur = '';
  };
  for (const ch of text || '') {
    if (esc) { cur += ch; esc = false; }
    else if (ch === '\\') esc = true;
    else if (ch === ',') flush();
    else if (ch === '=' && val === null) { key = cur; cur = ''; val = ''; }
    else cur += ch;
  }
  if (esc) cur += '\\';
  if (cur || val !== null) flush();
  return out;
}

// Does an instance's label object ({k: v}) match the filter text?
export function matches(labels, filter) {
  return parseFilter(filter).every(([k, v]) => v !== null && labels && Object.prototype.hasOwnProperty.call(labels, k) && labels[k] === v);
}

// The canonical text of a label object ("k=v,k2=v2", keys sorted).
export function canon(labels) {
  const esc = s => String(s).replace(/[\\,=]/g, c => '\\' + c);
  return Object.keys(labels || {}).sort().map(k => esc(k) + '=' + esc(labels[k])).join(',');
}

// Why a filter explains an empty answer, or null: "No instance of app
// 'shop' has labels run=9 (its instances have: run=one; run=two)".
export function noMatchText(app, filter, instances, side = '') {
  if (!filter || !instances || !instances.length) return null;
  if (instances.some(i => matches(i.labels, filter))) return null;
  const sets = [...new Set(instances.map(i => canon(i.labels) || '(no labels)'))];
  const shown = sets.slice(0, 8).join('; ') + (sets.length > 8 ? '; …' : '');
  return `No instance of app '${app}' has ${side ? side + ' ' : ''}labels ${filter} (its instances have: ${shown}).`;
}
