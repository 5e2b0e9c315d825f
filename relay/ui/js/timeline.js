// timeline.js - samples over time for the selected app/type/labels, drawn on
// a canvas (bars), with extra series (e.g. gc.pause_ns, heap.used_bytes) as
// lines on their own scale; the legend toggles each series (GC pauses are on
// by default, the rest off, to keep the chart readable). Drag across it to pick a time range: onRange(fromS, toS) in unix
// seconds. A DOM box shows the selection while dragging. Main thread only.

import { el, clear, fmtValue, fmtCount } from './util.js';
import { fmtTime, fmtDateTime } from './time.js';

const H = 86, PAD_L = 64, PAD_B = 18, PAD_T = 6;
const SERIES_COLOURS = ['#c0392b', '#8e44ad', '#16a085', '#d35400', '#2c3e50', '#7f8c8d', '#b7950b'];

export class Timeline {
  constructor(host, opts = {}) {
    this.opts = opts;
    host.classList.add('timeline');
    this.canvas = el('canvas', { role: 'img', 'aria-label': 'Samples over time. Drag to select a time range.' });
    this.sel = el('div.tl-sel'); this.sel.hidden = true;
    this.legend = el('div.tl-legend');
    this.tip = el('div.tl-tip'); this.tip.hidden = true;
    this.wrap = el('div.tl-wrap', null, this.canvas, this.sel, this.tip);
    clear(host).append(this.wrap, this.legend);
    this.data = null;
    this.enabled = new Set(['gc.pause_ns']);
    this.canvas.addEventListener('mousedown', e => this._down(e));
    window.addEventListener('mousemove', e => this._move(e));
    window.addEventListener('mouseup', e => this._up(e));
    this.canvas.addEventListener('mousemove', e => this._hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    this._w = 0;
    new ResizeObserver(entries => {
      const w = Math.round(entries[entries.length - 1].contentRect.width);
      if (w !== this._w) { this._w = w; this.render(); }
    }).observe(this.wrap);
  }

  // points: [[t, v], ...]; series: {name: [[t, v], ...]}; from/to: unix s
  setData(json, from, to, unit) {
    this.data = json; this.from = from; this.to = to; this.unit = unit;
    this.render();
  }

  // Shaded ranges drawn behind the bars: [{from, to, colour, label}].
  setMarks(marks) { this.marks = marks || []; this.render(); }

  render() {
    const W = this._w || (this._w = this.wrap.clientWidth) || 800;
    const dpr = window.devicePixelRatio || 1;
    const cv = this.canvas;
    cv.width = Math.round(W * dpr); cv.height = Math.round(H * dpr);
    cv.style.width = W + 'px'; cv.style.height = H + 'px';
    const ctx = cv.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);
    const d = this.data;
    const from = this.from, to = this.to;
    if (!d || !(to > from)) return;
    const pts = d.points || [];
    const step = d.step || Math.max(1, (to - from) / 100);
    const plotW = W - PAD_L - 4, plotH = H - PAD_B - PAD_T;
    const xOf = t => PAD_L + (t - from) / (to - from) * plotW;
    let max = 0;
    for (const [, v] of pts) if (v > max) max = v;
    // axes
    ctx.strokeStyle = '#d5d9e0'; ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(PAD_L, PAD_T + plotH + 0.5); ctx.lineTo(W - 4, PAD_T + plotH + 0.5); ctx.stroke();
    ctx.fillStyle = '#667'; ctx.font = '11px system-ui, sans-serif';
    ctx.textAlign = 'right'; ctx.textBaseline = 'top';
    // Axis: time and bytes with their unit, plain counts without (room).
    const u = (this.unit || '').toLowerCase();
    const axis = v => (u.startsWith('n') || u.startsWith('byte')) ? fmtValue(v, u) : fmtCount(v);
    ctx.fillText(max ? axis(max) : '0', PAD_L - 6, PAD_T);
    ctx.textBaseline = 'bottom';
    ctx.fillText('0', PAD_L - 6, PAD_T + plotH);
    // time ticks
    const span = to - from;
    const nice = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];
    let tick = nice[nice.length - 1];
    for (const s of nice) if (span / s <= Math.max(3, plotW / 90)) { tick = s; break; }
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    const withDate = span > 86400;
    for (let t = Math.ceil(from / tick) * tick; t <= to; t += tick) {
      const x = xOf(t);
      ctx.fillStyle = '#eef0f4'; ctx.fillRect(Math.round(x), PAD_T, 1, plotH);
      ctx.fillStyle = '#667';
      let label = fmtTime(t, withDate && t % 86400 === 0);
      if (tick % 60 === 0) label = label.slice(0, -3);
      ctx.fillText(label, x, PAD_T + plotH + 3);
    }
    // bars and series stay inside the plot area
    ctx.save();
    ctx.beginPath(); ctx.rect(PAD_L, 0, plotW + 1, PAD_T + plotH + 1); ctx.clip();
    ctx.fillStyle = '#4c7bd9';
    const bw = Math.max(1, step / span * plotW - 1);
    for (const [t, v] of pts) {
      if (t + step < from || t > to || !max) continue;
      const h = v / max * plotH;
      ctx.fillRect(xOf(t), PAD_T + plotH - h, bw, h);
    }
    // marked ranges (compare view: base and comparison), over the bars
    (this.marks || []).forEach((m, idx) => {
      const a = Math.max(PAD_L, xOf(m.from)), b = Math.min(PAD_L + plotW, xOf(m.to));
      if (b <= a) return;
      ctx.fillStyle = m.colour;
      ctx.fillRect(a, PAD_T, b - a, plotH);
      ctx.fillStyle = m.text || '#333';
      ctx.fillRect(Math.round(a), PAD_T, 1.5, plotH);
      ctx.fillRect(Math.round(b) - 1.5, PAD_T, 1.5, plotH);
      if (m.label) {
        ctx.font = '600 11px system-ui, sans-serif';
        ctx.textAlign = 'left'; ctx.textBaseline = 'top';
        const tw = ctx.measureText(m.label).width;
        const lx = b - a > tw + 8 ? a + 4 : Math.max(PAD_L, a - tw - 4);
        const ly = PAD_T + 2 + idx * 16;    // one line per mark: overlapping ranges stay readable
        ctx.fillStyle = 'rgba(255,255,255,0.85)'; ctx.fillRect(lx - 2, ly - 1, tw + 4, 14);
        ctx.fillStyle = m.text || '#333'; ctx.fillText(m.label, lx, ly);
        ctx.font = '11px system-ui, sans-serif';
      }
    });
    // extra series (lines, own scale), toggled from the legend
    clear(this.legend);
    const names = Object.keys(d.series || {}).sort();
    const unitOf = n => n.endsWith('_ns') ? 'ns' : n.endsWith('_bytes') ? 'bytes' : '';
    names.forEach((name, k) => {
      const s = d.series[name];
      let m = 0;
      for (const [, v] of s) if (v > m) m = v;
      const col = SERIES_COLOURS[k % SERIES_COLOURS.length];
      const on = this.enabled.has(name);
      if (on && s.length) {
        ctx.strokeStyle = col; ctx.lineWidth = 1.5; ctx.beginPath();
        s.forEach(([t, v], j) => {
          const x = xOf(t + step / 2), y = PAD_T + plotH - (m ? v / m * plotH : 0);
          if (j) ctx.lineTo(x, y); else ctx.moveTo(x, y);
        });
        ctx.stroke();
      }
      const sw = el('span.sw'); sw.style.background = on ? col : '#d5d9e0';
      this.legend.append(el('button.item.toggle' + (on ? '.on' : ''), { type: 'button', 'aria-pressed': on ? 'true' : 'false',
        title: on ? 'hide this series' : 'show this series',
        onclick: () => { if (on) this.enabled.delete(name); else this.enabled.add(name); this.render(); } },
        sw, `${name} (max ${fmtValue(m, unitOf(name))})`));
    });
    ctx.restore();
    if (names.length) {
      const sw = el('span.sw'); sw.style.background = '#4c7bd9';
      this.legend.prepend(el('span.item', null, sw, 'samples'));
    }
    this.xOf = xOf; this.plotW = plotW; this.W = W; this.step = step;
  }

  _tAt(clientX) {
    const r = this.canvas.getBoundingClientRect();
    const x = Math.max(PAD_L, Math.min(clientX - r.left, PAD_L + this.plotW));
    return this.from + (x - PAD_L) / this.plotW * (this.to - this.from);
  }

  _down(e) {
    if (!this.data) return;
    e.preventDefault();
    this.drag = { t0: this._tAt(e.clientX), t1: this._tAt(e.clientX) };
    this._drawSel();
  }

  _move(e) {
    if (!this.drag) return;
    this.drag.t1 = this._tAt(e.clientX);
    this._drawSel();
  }

  _up(e) {
    if (!this.drag) return;
    const { t0, t1 } = this.drag;
    this.drag = null;
    this.sel.hidden = true;
    const a = Math.min(t0, t1), b = Math.max(t0, t1);
    if ((b - a) / (this.to - this.from) * this.plotW >= 4 && this.opts.onRange)
      this.opts.onRange(Math.floor(a), Math.ceil(b));
  }

  _drawSel() {
    const a = Math.min(this.drag.t0, this.drag.t1), b = Math.max(this.drag.t0, this.drag.t1);
    const s = this.sel.style;
    this.sel.hidden = false;
    s.left = this.xOf(a) + 'px'; s.width = Math.max(1, this.xOf(b) - this.xOf(a)) + 'px';
    s.top = PAD_T + 'px'; s.height = (H - PAD_B - PAD_T) + 'px';
  }

  _hover(e) {
    if (!this.data || this.drag) return;
    const t = this._tAt(e.clientX);
    const pts = this.data.points || [];
    let best = null;
    for (const p of pts) if (p[0] <= t && t < p[0] + this.step) { best = p; break; }
    if (!best) { this.tip.hidden = true; return; }
    this.tip.hidden = false;
    this.tip.textContent = `${fmtDateTime(best[0])}  ${fmtValue(best[1], this.unit)}`;
    const r = this.canvas.getBoundingClientRect();
    this.tip.style.left = Math.min(e.clientX - r.left + 10, this.W - 200) + 'px';
    this.tip.style.top = '2px';
  }
}
