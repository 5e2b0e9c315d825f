// flame.js - the flame graph (icicle: root on top) for profiles and diffs.
//
// Drawing: rectangles go on one <canvas> (fast for 50,000 nodes); frame
// names go in a DOM layer of absolutely placed <div>s over it, one per frame
// wide enough to hold text, so names are real text that browser find and
// screen readers reach. The label layer ignores the pointer; the canvas
// handles hover (tooltip + outline) and click (zoom).
//
// Speed: siblings are stored by descending total, so as soon as one child is
// narrower than half a pixel the rest of its siblings are skipped. Colours
// come from a small palette (16 shades per kind, 41 diff levels) and each
// draw fills one path per palette colour. The width comes from a
// ResizeObserver, never from a layout read; the canvas only grows. Hover
// never redraws the canvas (the outline is a DOM box). Zoom is a node index;
// callers keep its name path (Profile.pathOf) to survive refreshes.
// Keyboard: arrows walk caller/callee/siblings, Enter zooms, Escape resets.
//
// Thread: the browser's main thread only, like every UI module.

import { KIND_NAMES } from './profile.js';
import { el, clear, pct, fmtValue, hash, signedPct } from './util.js';

const ROW = 18;          // px per frame row
const MIN_W = 0.5;       // frames narrower than this (px) are not drawn
const LABEL_W = 36;      // frames at least this wide get a text label (~3 chars)
const MAX_LABELS = 4000;

// Base hue, saturation, lightness per frame kind (see KIND_NAMES).
const KIND_HSL = [
  [105, 45, 58],   // 0 Java
  [52, 70, 60],    // 1 interpreted
  [125, 45, 55],   // 2 JIT compiled
  [178, 45, 55],   // 3 inlined
  [28, 75, 62],    // 4 native
  [4, 70, 64],     // 5 kernel
  [215, 15, 74],   // 6 thread
  [210, 60, 66],   // 7 allocation
  [275, 45, 70],   // 8 lock
  [0, 0, 62],      // 9 error
  [320, 50, 66],   // 10 Python (magenta: no JVM kind is near it)
];

// Colours come from a small palette (16 shades per kind) so that drawing can
// batch all rectangles of one colour into one path: few fillStyle changes.
const SHADES = 16;
const DIFF_LEVELS = 20;        // per side of zero

function kindBucket(kind, name) {
  const j = name ? hash(name) : 0;
  return ((kind >= 0 && kind < KIND_HSL.length ? kind : 0) * SHADES) + (j & 15);
}

function bucketColour(b, dim) {
  const kind = Math.floor(b / SHADES), v = b % SHADES;
  const [h, s, l] = KIND_HSL[kind] || KIND_HSL[0];
  const hh = h + ((v & 3) - 1.5) * 4;
  const ll = l + ((v >> 2) - 1.5) * 3.5;
  if (dim) return `hsl(${hh.toFixed(0)},${(s * 0.25).toFixed(0)}%,88%)`;
  return `hsl(${hh.toFixed(0)},${s}%,${ll.toFixed(0)}%)`;
}

export function kindColour(kind, name, dim = false) {
  return bucketColour(kindBucket(kind, name), dim);
}

// Diff colour: t in [-1, 1], negative = less (improvement, blue),
// positive = more (regression, red), 0 = unchanged (light grey).
export function diffColour(t, dim = false) {
  t = Math.max(-1, Math.min(1, t));
  const a = Math.abs(t);
  const base = [225, 225, 228];
  const to = t > 0 ? [214, 39, 40] : [31, 102, 196];
  const c = base.map((b, i) => Math.round(b + (to[i] - b) * Math.pow(a, 0.7)));
  if (dim) return `rgb(${c.map(v => Math.round(v + (245 - v) * 0.7)).join(',')})`;
  return `rgb(${c.join(',')})`;
}

export class FlameGraph {
  // host: an empty element. opts.onZoom(nodeIndex), opts.onSearchInfo(info)
  constructor(host, opts = {}) {
    this.opts = opts;
    this.host = host;
    this.profile = null;
    this.zoom = 0;
    this.match = null;       // per-node Uint8Array, or null when no search
    this.searchInfo = null;
    this.colours = null;     // cached fill style per name id
    this.diffScale = 0.05;   // |change| (fraction of total) that is full colour
    this.labelPool = [];
    this.hover = -1;

    clear(host);
    host.classList.add('flame');
    this.canvas = el('canvas.fg-canvas', { tabindex: '0', role: 'img',
      'aria-label': 'Flame graph. Click a frame to zoom. Keys: arrows move between frames, Enter zooms, Escape resets.' });
    this.labels = el('div.fg-labels', { role: 'list', 'aria-label': 'Frames in the flame graph' });
    this.outline = el('div.fg-outline');
    this.tip = el('div.fg-tip', { role: 'tooltip' });
    this.empty = el('div.fg-empty', { text: 'No samples in this range.' });
    this.wrap = el('div.fg-wrap', null, this.canvas, this.labels, this.outline, this.empty);
    host.append(this.wrap, this.tip);

    this.canvas.addEventListener('mousemove', e => this._onMove(e));
    this.canvas.addEventListener('mouseleave', () => this._setHover(-1));
    this.canvas.addEventListener('click', e => this._onClick(e));
    this.canvas.addEventListener('keydown', e => this._onKey(e));
    this.canvas.addEventListener('blur', () => { if (this.kbd >= 0) { this.kbd = -1; this._setHover(-1); } });
    this.announce = el('div.sr-only', { 'aria-live': 'polite' });
    host.append(this.announce);
    this.kbd = -1;
    this._width = 0;
    // The width comes from the ResizeObserver, so drawing never forces a
    // synchronous layout (reading clientWidth after DOM changes would).
    this.ro = new ResizeObserver(entries => {
      const w = Math.round(entries[entries.length - 1].contentRect.width);
      if (w !== this._width) { this._width = w; this.render(); }
    });
    this.ro.observe(this.wrap);
  }

  // What the graph says when there is nothing to draw (why it is empty:
  // the range, a label filter, the relay...); null = the default.
  setEmptyText(text, ...extra) { clear(this.empty).append(text || 'No samples in this range.', ...extra); }

  setProfile(profile, zoomPath = null, diffScale = null) {
    this.profile = profile;
    const nn = profile.names.length;
    this.colours = new Array(nn);
    this.palette = [];
    if (profile.diff) this.diffScale = diffScale || this._autoDiffScale();
    this.zoom = zoomPath ? profile.findPath(zoomPath) : 0;
    this.match = null;
    this._applySearch();
    this.render();
  }

  // The change that saturates the colour: the largest node change, rounded
  // up to a friendly number, so the legend reads well.
  _autoDiffScale() {
    const p = this.profile;
    let m = 0;
    for (let i = 1; i < p.n; i++) {
      const d = Math.abs(p.cmpTotal[i] / (p.cmpSum || 1) - p.baseTotal[i] / (p.baseSum || 1));
      if (d > m) m = d;
    }
    const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1];
    for (const s of steps) if (m <= s) return s;
    return 1;
  }

  nodeDelta(i) {   // change of a node's total share, fraction of the total
    const p = this.profile;
    return p.cmpTotal[i] / (p.cmpSum || 1) - p.baseTotal[i] / (p.baseSum || 1);
  }

  setZoom(i, notify = false) {
    if (!this.profile) return;
    this.zoom = Math.max(0, Math.min(i, this.profile.n - 1));
    this.render();
    if (notify && this.opts.onZoom) this.opts.onZoom(this.zoom);
  }

  setSearch(query) {
    this.query = query || '';
    this._applySearch();
    this.render();
    return this.searchInfo;
  }

  _applySearch() {
    const p = this.profile;
    if (!p || !this.query) { this.match = null; this.searchInfo = null; }
    else {
      const names = p.matchNames(this.query);
      const r = p.searchNodes(names, 0);
      this.match = r.hit;
      this.searchInfo = { count: r.count, value: r.value, total: p.rootTotal,
        unit: p.unit, names: names.reduce((a, b) => a + b, 0) };
    }
    if (this.opts.onSearchInfo) this.opts.onSearchInfo(this.searchInfo);
  }

  // Palette bucket of node i (see bucketColour / diffColour); dimmed
  // (non-matching during a search) colours sit in the upper half.
  _bucket(i) {
    const p = this.profile;
    const dim = this.match && !this.match[i] ? 1 : 0;
    if (p.diff) {
      const t = Math.max(-1, Math.min(1, this.nodeDelta(i) / this.diffScale));
      return Math.round(t * DIFF_LEVELS) + DIFF_LEVELS + dim * (2 * DIFF_LEVELS + 1);
    }
    const k = p.name[i];
    let b = this.colours[k];
    if (b === undefined) b = this.colours[k] = kindBucket(p.kinds[k] ?? 0, p.names[k]);
    return b + dim * KIND_HSL.length * SHADES;
  }

  _paletteColour(b) {
    let c = this.palette[b];
    if (c) return c;
    if (this.profile.diff) {
      const half = 2 * DIFF_LEVELS + 1;
      c = diffColour(((b % half) - DIFF_LEVELS) / DIFF_LEVELS, b >= half);
    } else {
      const half = KIND_HSL.length * SHADES;
      c = bucketColour(b % half, b >= half);
    }
    return (this.palette[b] = c);
  }

  _fill(i) { return this._paletteColour(this._bucket(i)); }

  render() {
    const t0 = performance.now();
    const p = this.profile;
    const W = this._width || (this._width = this.wrap.clientWidth) || 800;
    const dpr = window.devicePixelRatio || 1;
    const hasData = p && p.n > 0 && p.rootTotal > 0;
    this.empty.hidden = !!hasData;
    const lab = this.labelList = [];
    const z = hasData ? this.zoom : 0;
    const scale = hasData ? W / p.total[z] : 1;
    const x0 = hasData ? p.start[z] : 0;
    let drawn = 0, maxD = 0;
    // Pass 1: pick the visible nodes and sort them into colour buckets;
    // the graph is as tall as the deepest visible frame.
    const buckets = this._buckets || (this._buckets = []);   // bucket -> node list, reused
    for (const l of buckets) if (l) l.length = 0;
    const end = hasData ? p.end[z] : 0;
    for (let i = z; i < end;) {
      const w = p.total[i] * scale;
      if (w < MIN_W) {
        // Siblings come by descending total: the rest are narrower still.
        const par = p.parent[i];
        i = par >= z ? p.end[par] : end;
        continue;
      }
      const b = this._bucket(i);
      const list = buckets[b] || (buckets[b] = []);
      list.push(i);
      drawn++;
      if (p.depth[i] > maxD) maxD = p.depth[i];
      if (w >= LABEL_W && lab.length < MAX_LABELS * 3) lab.push(i, (p.start[i] - x0) * scale, w);
      i++;
    }
    const H = (maxD + 1) * ROW;
    this.rows = maxD + 1;
    const cv = this.canvas;
    // The canvas only grows: reallocating its backing store on every zoom
    // costs more than drawing. The wrapper (overflow hidden) shows H px.
    const needH = Math.max(H, hasData ? (p.maxDepth + 1) * ROW : H);
    if (cv.width !== Math.round(W * dpr) || cv.height < Math.round(needH * dpr)) {
      cv.width = Math.round(W * dpr); cv.height = Math.round(needH * dpr);
      cv.style.width = W + 'px'; cv.style.height = needH + 'px';
    }
    if (!hasData) { this.wrap.style.height = ''; this._h = -1; }      // room for the "no samples" note
    else if (this._h !== H) { this.wrap.style.height = H + 'px'; this._h = H; }
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, Math.max(H, this._drawnH || 0));
    this._drawnH = H;
    if (!hasData) { this._placeLabels(); this._setHover(-1); return; }
    // Ancestors of the zoomed frame: full width rows, a little faded.
    ctx.globalAlpha = 0.55;
    for (let a = p.parent[z]; a >= 0; a = p.parent[a]) {
      ctx.fillStyle = this._fill(a);
      ctx.fillRect(0, p.depth[a] * ROW, W - 1, ROW - 1);
      lab.push(a, 0, W);
    }
    ctx.globalAlpha = 1;
    // Pass 2: one path and one fill per colour.
    for (let b = 0; b < buckets.length; b++) {
      const list = buckets[b];
      if (!list || !list.length) continue;
      ctx.fillStyle = this._paletteColour(b);
      ctx.beginPath();
      for (const i of list) {
        const w = p.total[i] * scale;
        ctx.rect((p.start[i] - x0) * scale, p.depth[i] * ROW, w > 2 ? w - 1 : w, ROW - 1);
      }
      ctx.fill();
    }
    if (p.diff) this._drawDiffMarkers(ctx, z, scale, x0);
    this._placeLabels();
    this.kbd = -1;
    this._setHover(-1);
    this.lastRender = { ms: performance.now() - t0, drawn, labels: lab.length / 3 };
  }

  // In a diff, frames that exist on only one side get a hatch mark so
  // "new" and "gone" are visible apart from colour.
  _drawDiffMarkers(ctx, z, scale, x0) {
    const p = this.profile;
    ctx.fillStyle = 'rgba(0,0,0,0.35)';
    for (let i = z; i < p.end[z]; i++) {
      const w = p.total[i] * scale;
      if (w < 4) { const par = p.parent[i]; i = (par >= z ? p.end[par] : p.end[z]) - 1; continue; }
      if (p.baseTotal[i] === 0 || p.cmpTotal[i] === 0) {
        const x = (p.start[i] - x0) * scale;
        ctx.fillRect(x, p.depth[i] * ROW + ROW - 4, Math.max(1, w - 1), 3);
      }
    }
  }

  _placeLabels() {
    const p = this.profile;
    const lab = this.labelList;
    const n = lab.length / 3;
    const pool = this.labelPool;
    while (pool.length < n) {
      const d = el('div.fg-label', { role: 'listitem' });
      pool.push(d);
      this.labels.append(d);
    }
    for (let k = 0; k < pool.length; k++) {
      const d = pool[k];
      if (k >= n) { if (!d.hidden) d.hidden = true; continue; }
      const i = lab[3 * k], x = lab[3 * k + 1], w = lab[3 * k + 2];
      d.hidden = false;
      const s = d.style;
      s.left = x + 'px';
      s.top = p.depth[i] * ROW + 'px';
      s.width = Math.max(0, w - 1) + 'px';
      const name = p.nameOf(i);
      if (d.textContent !== name) d.textContent = name;
      const dim = this.match && !this.match[i];
      d.classList.toggle('dim', !!dim);
      d.classList.toggle('hit', !!(this.match && this.match[i]));
      d.classList.toggle('light', !!(p.diff && Math.abs(this.nodeDelta(i)) / this.diffScale > 0.6));
    }
  }

  _nodeAt(e) {
    const p = this.profile;
    if (!p || !p.n) return -1;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    const depth = Math.floor(y / ROW);
    if (depth < 0 || depth >= this.rows) return -1;
    const z = this.zoom;
    const ux = p.start[z] + x / r.width * p.total[z];
    const i = p.hit(z, depth, ux);
    if (i >= 0 && p.total[i] / p.total[z] * r.width < MIN_W) return -1;
    return i;
  }

  // Keyboard: Up = caller, Down = widest callee, Left/Right = siblings,
  // Enter = zoom, Escape = reset. The focused frame gets the outline and
  // the tooltip, and its name and values are announced.
  _onKey(e) {
    const p = this.profile;
    if (!p || !p.n) return;
    let k = this.kbd >= 0 ? this.kbd : this.zoom;
    const par = p.parent[k];
    switch (e.key) {
      case 'Escape': this.kbd = -1; this.setZoom(0, true); return;
      case 'Enter': if (this.kbd >= 0) this.setZoom(this.kbd, true); this.kbd = -1; return;
      case 'ArrowUp': if (par >= 0) k = par; break;
      case 'ArrowDown': if (p.end[k] > k + 1) k = k + 1; break;
      case 'ArrowRight': if (par >= 0 && p.end[k] < p.end[par]) k = p.end[k]; break;
      case 'ArrowLeft':
        if (par >= 0) { let prev = -1; for (let c = par + 1; c < k; c = p.end[c]) prev = c; if (prev >= 0) k = prev; }
        break;
      default: return;
    }
    e.preventDefault();
    // Stay inside what is drawn: the zoomed subtree or its ancestors.
    const z = this.zoom;
    if (!(k >= z && k < p.end[z]) && !(p.depth[k] < p.depth[z] && k < z && p.end[k] >= p.end[z])) return;
    this.kbd = k;
    this._setHover(k, null);
    this.announce.textContent = this.tip.textContent;
  }

  _onMove(e) {
    const i = this._nodeAt(e);
    this._setHover(i, e);
  }

  _onClick(e) {
    const i = this._nodeAt(e);
    if (i >= 0) this.setZoom(i === this.zoom ? (this.profile.parent[i] >= 0 ? this.profile.parent[i] : 0) : i, true);
  }

  _rect(i) {
    const p = this.profile, z = this.zoom;
    const W = this._width || this.wrap.clientWidth;
    if (p.depth[i] < p.depth[z]) return [0, W];
    const scale = W / p.total[z];
    return [(p.start[i] - p.start[z]) * scale, p.total[i] * scale];
  }

  _setHover(i, e) {
    this.hover = i;
    if (i < 0) { this.outline.hidden = true; this.tip.hidden = true; this.canvas.style.cursor = ''; return; }
    const p = this.profile;
    const [x, w] = this._rect(i);
    const s = this.outline.style;
    this.outline.hidden = false;
    s.left = x + 'px'; s.top = p.depth[i] * ROW + 'px'; s.width = Math.max(1, w - 1) + 'px'; s.height = (ROW - 1) + 'px';
    this.canvas.style.cursor = 'pointer';
    this._fillTip(i);
    this.tip.hidden = false;
    if (!e) {   // keyboard: place the tip under the frame
      const r = this.canvas.getBoundingClientRect();
      e = { clientX: r.left + x + Math.min(w / 2, 60), clientY: r.top + p.depth[i] * ROW + ROW };
    }
    {
      const tw = this.tip.offsetWidth, th = this.tip.offsetHeight;
      let tx = e.clientX + 14, ty = e.clientY + 16;
      if (tx + tw > window.innerWidth - 8) tx = Math.max(8, e.clientX - tw - 14);
      if (ty + th > window.innerHeight - 8) ty = Math.max(8, e.clientY - th - 12);
      this.tip.style.left = tx + 'px'; this.tip.style.top = ty + 'px';
    }
  }

  _fillTip(i) {
    const p = this.profile;
    const name = p.nameOf(i);
    const kind = KIND_NAMES[p.kindOf(i)] || 'frame';
    const rows = [];
    const row = (k, v, cls) => el('tr' + (cls ? '.' + cls : ''), null, el('th', { text: k }), el('td', { text: v }));
    if (!p.diff) {
      const all = p.sum || p.rootTotal;
      rows.push(row('Total', `${fmtValue(p.total[i], p.unit)}  (${pct(p.total[i], all)})`));
      rows.push(row('Self', `${fmtValue(p.self[i], p.unit)}  (${pct(p.self[i], all)})`));
      if (this.zoom > 0) rows.push(row('Of zoomed', pct(p.total[i], p.total[this.zoom])));
      if (this.zoom !== i && p.parent[i] >= 0) rows.push(row('Of parent', pct(p.total[i], p.total[p.parent[i]])));
    } else {
      const bs = p.baseSum || 1, cs = p.cmpSum || 1;
      const bt = 100 * p.baseTotal[i] / bs, ct = 100 * p.cmpTotal[i] / cs;
      const bsf = 100 * p.baseSelf[i] / bs, csf = 100 * p.cmpSelf[i] / cs;
      rows.push(row('Total', `${bt.toFixed(2)}% \u2192 ${ct.toFixed(2)}%  (${signedPct(ct - bt)})`,
        ct - bt > 0.005 ? 'worse' : ct - bt < -0.005 ? 'better' : ''));
      rows.push(row('Self', `${bsf.toFixed(2)}% \u2192 ${csf.toFixed(2)}%  (${signedPct(csf - bsf)})`,
        csf - bsf > 0.005 ? 'worse' : csf - bsf < -0.005 ? 'better' : ''));
      rows.push(row('Value', `${fmtValue(p.baseTotal[i], p.unit)} \u2192 ${fmtValue(p.cmpTotal[i], p.unit)}`));
      if (p.baseTotal[i] === 0) rows.push(row('', 'new in comparison'));
      if (p.cmpTotal[i] === 0) rows.push(row('', 'gone in comparison'));
    }
    clear(this.tip).append(
      el('div.tip-name', { text: name }),
      el('div.tip-kind', { text: kind }),
      el('table', null, rows),
      el('div.tip-hint', { text: i === this.zoom ? 'click to zoom out' : 'click to zoom' }));
  }

  destroy() { this.ro.disconnect(); clear(this.host); }
}
