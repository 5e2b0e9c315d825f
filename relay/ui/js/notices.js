// notices.js - the one message area of a view. Each source (instances,
// profile, range, ...) has at most one message; setting a source replaces
// its message, and the same text from two sources is shown once, so a
// failure that several requests hit (an unknown app) reads once. A message
// is an error (role=alert) or a note (an explanation, e.g. an empty range).
// The relay being unreachable is not said here but once for the page
// (health.js, the banner in app.js). Main thread only.

import { el, clear } from './util.js';

export class Notices {
  constructor(host) {
    this.host = host;
    this.msgs = new Map();   // source -> { kind, text, extra }
  }

  // kind 'error' | 'note'; text: the message; extra: nodes after it
  // (buttons). set(source, null) removes the source's message.
  set(source, kind, text, extra) {
    if (kind == null) this.msgs.delete(source);
    else this.msgs.set(source, { kind, text, extra: extra || [] });
    this.render();
  }

  clear(source) { this.set(source, null); }

  render() {
    const seen = new Set();
    const boxes = [];
    for (const m of this.msgs.values()) {
      const key = m.kind + '\n' + m.text;
      if (seen.has(key)) continue;
      seen.add(key);
      boxes.push(m.kind === 'error'
        ? el('div.error', { role: 'alert' }, m.text, ...m.extra)
        : el('div.note', { role: 'status' }, m.text, ...m.extra));
    }
    clear(this.host).append(...boxes);
  }
}
