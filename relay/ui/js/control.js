// control.js - the instances table's control panel (fleet control, issue 19;
// docs/api.md "POST /api/v1/control"): pick connected instances, what to turn
// on and for how long; each agent's acknowledgement and the settings it runs
// with come from GET /api/v1/control and show next to the instance.
import { get, post } from './api.js';
import { el, clear } from './util.js';

const WHAT = [['alloc', '256k', 'Allocations (256 KiB)'], ['lock', '10ms', 'Lock contention (10 ms)'],
  ['wall', '10ms', 'Wall clock (10 ms)'], ['cpu', '1ms', 'CPU at 1 ms'], ['python', 'on', 'Python workers (PySpark)']];
const FOR = ['1m', '5m', '15m', '1h'];

export class ControlPanel {
  constructor(app) {
    this.app = app;
    this.picked = new Set();
    this.box = el('div.control-panel');
    this.status = el('p.muted.control-status', { text: '' });
    this.acks = {};
  }

  // The checkbox cell for instance i (connected ones only).
  pickCell(i) {
    if (!i.connected) return el('td');
    const cb = el('input', { type: 'checkbox', title: 'Select for control', 'aria-label': 'select ' + i.id });
    cb.dataset.instance = i.id;
    cb.checked = this.picked.has(i.id);
    cb.onchange = () => { if (cb.checked) this.picked.add(i.id); else this.picked.delete(i.id); };
    return el('td', null, cb);
  }

  // The cell with instance i's last acknowledgement and settings.
  ackCell(i) {
    const a = this.acks[i.id];
    if (!a) return el('td.muted', { text: '\u2013' });
    const e = a.effective || {};
    const on = ['cpu', 'wall', 'alloc', 'lock', 'python'].filter(k => e[k] && e[k] !== 'off').map(k => `${k} ${e[k]}`);
    const refused = Object.entries(a.refused || {}).map(([k, v]) => `${k}: ${v}`);
    const title = `${a.event} (${a.id})\n` + Object.entries(e).map(([k, v]) => `${k}=${v}`).join('\n') +
      (refused.length ? '\nrefused: ' + refused.join('; ') : '');
    return el('td.control-ack' + (refused.length ? '.warn' : ''), { title, text: `${a.event}: ${on.join(' \u00b7 ') || 'defaults'}` });
  }

  async refresh() {
    try {
      const doc = await get('control', { app: this.app });
      this.acks = doc.instances || {};
      return doc;
    } catch (e) { return null; }
  }

  render(onApplied) {
    const what = el('select.control-what', { 'aria-label': 'what to turn on' },
      WHAT.map(([k, v, t]) => el('option', { value: k + '=' + v, text: t })));
    const dur = el('select.control-for', { 'aria-label': 'for how long' }, FOR.map(f => el('option', { value: f, text: 'for ' + f })));
    const go = el('button.control-apply', { type: 'button', text: 'Apply to selected' });
    go.onclick = async () => {
      if (!this.picked.size) { this.status.textContent = 'Select connected instances first.'; return; }
      const [k, v] = what.value.split('=');
      const ids = [...this.picked];
      const results = await Promise.all(ids.map(id =>
        post('control', { app: this.app, instance: id, set: { [k]: v }, for: dur.value }).catch(e => ({ status: 0, body: { error: e.message } }))));
      const bad = results.find(r => r.status !== 200);
      this.status.textContent = bad ? `Refused (${bad.status}): ${bad.body.error || ''}`
        : `Sent ${k}=${v} for ${dur.value} to ${ids.length} instance(s); acknowledgements follow.`;
      setTimeout(async () => { await this.refresh(); if (onApplied) onApplied(); }, 1500);
    };
    clear(this.box).append(el('div.control-row', null, what, dur, go), this.status);
    return this.box;
  }
}
