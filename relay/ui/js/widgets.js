// widgets.js - toolbar pieces and small helpers the app and compare views
// share: type buttons, label and range inputs, the kind legend, the help
// box, the toast and "copy link". DOM only; no view state. Main thread.

import { el, clear } from './util.js';
import { TYPE_LABEL, typeList } from './state.js';
import { KIND_NAMES } from './profile.js';
import { kindColour } from './flame.js';
import { parseTime, fmtInput, zoneName } from './time.js';

export function toast(msg, ms = 2500) {
  const t = document.getElementById('toast');
  t.textContent = msg;
  t.hidden = false;
  clearTimeout(toast.t);
  toast.t = setTimeout(() => { t.hidden = true; }, ms);
}

export async function copyLink() {
  try { await navigator.clipboard.writeText(location.href); toast('Link copied: it reopens this exact view.'); }
  catch (e) { toast('Copy this address from the address bar: ' + location.href, 5000); }
}

export function timelineStep(from, to) {
  const span = Math.max(1, to - from);
  const nice = [10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  for (const s of nice) if (span / s <= 150) return s;
  return 86400;
}

export function typeButtons(types, cur, onPick) {
  const all = typeList(types, cur);
  if (cur === 'alloc_bytes') cur = 'alloc';
  return el('div.seg', { role: 'radiogroup', 'aria-label': 'Profile type' }, all.map(t =>
    el('button' + (t === cur ? '.on' : ''), { type: 'button', role: 'radio', 'aria-checked': t === cur ? 'true' : 'false',
      'data-type': t, onclick: () => onPick(t), text: TYPE_LABEL[t] || t })));
}

export function kindLegend(profile) {
  const seen = new Set(profile.kinds);
  return el('div.legend', { 'aria-label': 'Frame colours' }, KIND_NAMES.map((k, i) => {
    if (!seen.has(i)) return null;
    const sw = el('span.sw'); sw.style.background = kindColour(i, '');
    return el('span.item', null, sw, k);
  }));
}

export function labelInput(value, onApply, suggestions, id, aria) {
  const listId = id + '-list';
  const input = el('input.labels', { id, type: 'text', value: value || '', placeholder: 'labels: k=v,k2=v2',
    'aria-label': aria || 'Label filter', list: listId, spellcheck: 'false', autocomplete: 'off' });
  const dl = el('datalist', { id: listId }, (suggestions || []).map(s => el('option', { value: s })));
  input.addEventListener('keydown', e => { if (e.key === 'Enter') onApply(input.value.trim()); });
  input.addEventListener('change', () => onApply(input.value.trim()));
  return [input, dl];
}

export function fillDatalist(id, values) {
  const dl = document.getElementById(id);
  if (!dl) return;
  const have = [...dl.options].map(o => o.value).join('\n');
  if (have !== values.join('\n')) clear(dl).append(...values.map(v => el('option', { value: v })));
}

const TIME_TITLE = 'now-15m, 2026-12-03 14:00, 2026-12-03 (a day, local), yesterday, RFC 3339 or unix seconds';

// Two time boxes showing local date-times (or the relative form typed),
// with the zone beside them; Enter calls onApply(fromText, toText).
export function rangeInputs(from, to, onApply, prefix, label) {
  const f = el('input.time', { type: 'text', value: fmtInput(from), 'aria-label': label + ' from', spellcheck: 'false', id: prefix + '-from', title: TIME_TITLE });
  const t = el('input.time', { type: 'text', value: fmtInput(to), 'aria-label': label + ' to', spellcheck: 'false', id: prefix + '-to', title: TIME_TITLE });
  const apply = () => onApply(f.value.trim(), t.value.trim());
  for (const i of [f, t]) i.addEventListener('keydown', e => { if (e.key === 'Enter') apply(); });
  return el('span.range', null, f, el('span.muted', { text: '→' }), t,
    el('span.zone.muted', { text: zoneName(), title: 'Times without a zone are read in this zone' }));
}

// Both ends of a typed range in their URL form, or { error } naming the box.
export function readRange(fromText, toText, label) {
  const a = parseTime(fromText), b = parseTime(toText || 'now');
  if (a.error) return { error: `${label} from: ${a.error}` };
  if (b.error) return { error: `${label} to: ${b.error}` };
  if (a.t >= b.t) return { error: `${label}: the start (${fromText}) is not before the end (${toText || 'now'})` };
  return { from: a.canon, to: b.canon };
}

export function addLabel(cur, kv) {
  const parts = (cur || '').split(',').map(x => x.trim()).filter(Boolean);
  const key = kv.split('=')[0];
  const out = parts.filter(x => x.split('=')[0] !== key);
  out.push(kv);
  return out.join(',');
}

// A short how-to next to the graph (folded).
export function helpBox() {
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
        li('Times', 'type now-15m, 2026-12-03 14:00 (your zone), 2026-12-03, yesterday, or unix seconds.'),
        li('Link', 'the address holds the whole view: copy it to share.'))));
}
