// health.js - is the relay reachable? One answer for the whole page, so an
// outage is said once (the banner in app.js) instead of by every request
// that failed, and the view reloads once when the relay is back.
//
// Inputs: api.js reports every request's outcome (reported(ok)); the live
// websocket's close makes us probe at once (suspect()). While down, a probe
// (GET of the static favicon: it needs no token, so any HTTP answer but a
// proxy's 502/504 means the relay is up) runs every 1-5 s. Listeners get
// 'down' once when the first failure is seen and 'up' once when a request
// or probe gets through again. Main thread only.

const listeners = new Set();
let down = false;
let since = 0;           // ms, when the outage was first seen
let timer = 0;
let delay = 1000;

export function onHealth(fn) { listeners.add(fn); return () => listeners.delete(fn); }
export function relayDown() { return down; }
export function downSince() { return since; }

function notify(what) { for (const fn of listeners) fn(what); }

function schedule(ms) {
  clearTimeout(timer);
  timer = setTimeout(probe, ms);
}

async function probe() {
  timer = 0;
  let ok = false;
  try {
    const r = await fetch('/favicon.svg?probe=' + Date.now(), { cache: 'no-store' });
    ok = r.status !== 502 && r.status !== 504;
  } catch (e) { ok = false; }
  reported(ok);
}

// A request to the relay got an HTTP answer (ok) or no answer at all.
export function reported(ok) {
  if (ok) {
    clearTimeout(timer); timer = 0; delay = 1000;
    if (down) { down = false; notify('up'); }
    return;
  }
  if (!down) { down = true; since = Date.now(); notify('down'); }
  if (!timer) { schedule(delay); delay = Math.min(delay * 1.5, 5000); }
}

// Something hints at an outage (the live socket closed): probe now.
export function suspect() { if (!down && !timer) schedule(0); }
