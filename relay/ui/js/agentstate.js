// agentstate.js - what each agent reported about itself (the instances
// document's "state", batch key 18: docs/protocol.md "Agent state"): the
// sampling intervals in force and the agent's measured CPU against its
// overhead budget, as two cells of the instances table.
import { el, fmtBytes, fmtDuration } from './util.js';

export const STATE_HEADERS = ['Intervals', 'Overhead'];

const ppm = v => (v / 10000).toFixed(v < 10000 ? 2 : 1) + '%';

// The intervals in force, short: "cpu 80 ms · wall 1.00 s"; the tooltip
// says every kind and the budget's factor.
function intervals(s) {
  const kinds = [['cpu', s['interval.cpu_ns'], fmtDuration], ['wall', s['interval.wall_ns'], fmtDuration],
    ['alloc', s['interval.alloc_bytes'], fmtBytes], ['lock', s['interval.lock_ns'], fmtDuration]];
  const on = kinds.filter(([, v]) => v > 0).map(([k, v, f]) => `${k} ${f(v)}`);
  const scale = s['overhead.scale'] || 1;
  // each kind has its own factor (older agents: one for all)
  const x = k => s[`overhead.scale.${k}`] || scale;
  const title = kinds.map(([k, v, f]) => `${k}: ${v > 0 ? f(v) : 'off'}` +
    (v > 0 && x(k) > 1 ? ` (stretched \u00d7${x(k)} by the overhead budget)` : '')).join('\n') +
    (scale > 1 ? '' : '\nas asked');
  return el('td.mono' + (scale > 1 ? '.warn' : ''), { text: on.length ? on.join(' \u00b7 ') : 'off', title });
}

// "0.42% / 1%": the agent's share of the JVM's CPU over the last minute,
// against the budget (or "off" for fixed intervals).
function overhead(s) {
  const budget = s['overhead.budget_ppm'] || 0, minute = s['overhead.minute_ppm'] || 0;
  const title = [`agent CPU, last minute: ${ppm(minute)} of the JVM's CPU`,
    `last second: ${ppm(s['overhead.last_ppm'] || 0)}`,
    budget ? `budget: ${ppm(budget)} (intervals changed ${s['overhead.changes'] || 0} times)` : 'budget: off (fixed intervals)',
    `memory: ${fmtBytes(s['memory.used_bytes'] || 0)} of ${fmtBytes(s['memory.budget_bytes'] || 0)}`].join('\n');
  const over = budget && minute > budget;
  return el('td.num' + (over ? '.warn' : ''), { text: `${ppm(minute)} / ${budget ? ppm(budget) : 'off'}`, title });
}

// The two cells for instance i (dashes for agents that send no state).
export function stateCells(i) {
  const s = i.state;
  if (!s) return [el('td', { text: '\u2013' }), el('td.num', { text: '\u2013' })];
  return [intervals(s), overhead(s)];
}
