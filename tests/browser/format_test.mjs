// format_test.mjs - unit test of what the UI reads and shows as numbers and
// times, under plain node (no browser): relay/ui/js/time.js (the CLI's time
// forms read in the local zone, their URL/API form, local date-times with
// the zone) and relay/ui/js/util.js (durations and sizes in human units),
// and relay/ui/js/labels.js (label filters as the relay matches them).
// Runs in Europe/Berlin so "local" differs from UTC.
// Run: node tests/browser/format_test.mjs

import path from 'node:path';
import { fileURLToPath } from 'node:url';

process.env.TZ = 'Europe/Berlin';
const HERE = path.dirname(fileURLToPath(import.meta.url));
const UI = path.join(HERE, '../../relay/ui/js');
const { parseTime, apiTime, fmtDateTime, fmtInput, rangeText, fmtSpan } = await import(path.join(UI, 'time.js'));
const { fmtValue, fmtDuration, fmtBytes } = await import(path.join(UI, 'util.js'));
const { parseFilter, matches, noMatchText } = await import(path.join(UI, 'labels.js'));
const { typeList } = await import(path.join(UI, 'state.js'));

let passed = 0, failed = 0;
function eq(got, want, what) {
  const ok = JSON.stringify(got) === JSON.stringify(want);
  if (ok) { passed++; console.log('ok - ' + what); }
  else { failed++; console.log(`not ok - ${what} (got ${JSON.stringify(got)}, want ${JSON.stringify(want)})`); }
}

// 2026-12-03 14:00:00 in Berlin (CET, UTC+1) = 13:00:00Z
const T = Date.UTC(2026, 11, 3, 13, 0, 0) / 1000;
const NOW = T + 3600;
const t = s => { const r = parseTime(s, NOW); return r.error ? 'error' : r.t; };

// ---- accepted forms (relay/timeparse.c cp_time_parse_local)
eq(t('now'), NOW, 'now');
eq(t('now-15m'), NOW - 900, 'now-15m');
eq(t('now-1.5h'), NOW - 5400, 'now-1.5h (a fraction, as the relay reads it)');
eq(t('now+30s'), NOW + 30, 'now+30s');
eq(t(String(T)), T, 'unix seconds');
eq(t('2026-12-03T13:00:00Z'), T, 'RFC 3339, Z');
eq(t('2026-12-03T15:00:00+02:00'), T, 'RFC 3339, offset');
eq(t('2026-12-03 14:00'), T, 'a local date-time without seconds');
eq(t('2026-12-03 14:00:00'), T, 'a local date-time');
eq(t('2026-12-03 14:00:00.250'), T + 0.25, 'milliseconds');
eq(t('2026-12-03 13:00 UTC'), T, 'a date-time in UTC');
eq(t('2026-12-03 14:00 +01:00'), T, 'a date-time with an offset');
eq(t('2026-12-03 14:00:00 GMT+1'), T, 'the zone name the UI prints (en-US: GMT+1) reads back');
eq(t('2026-12-03'), T - 14 * 3600, 'a date alone is local midnight');
eq(t('today'), T - 14 * 3600, 'today');
eq(t('yesterday'), T - 14 * 3600 - 86400, 'yesterday');
eq(t('2026-07-01 12:00'), Date.UTC(2026, 6, 1, 10) / 1000, 'summer time (CEST) on a summer date');
for (const bad of ['', 'bogus', 'now-', 'now-5x', '2026-02-30', '2026-13-01', '2026-12-03 25:00', '2026-12-03 14:00 Mars/Olympus', '123456789012'])
  eq(t(bad), 'error', `refused: '${bad}'`);
eq(/is not a time/.test(parseTime('bogus').error), true, 'a refusal says what was wrong');

// ---- what the URL and the relay get
eq(apiTime('now-15m'), 'now-15m', 'relative forms go to the relay as typed');
eq(apiTime('2026-12-03 14:00'), String(T), 'local forms go as unix seconds');
eq(apiTime('2026-12-03 14:00:00.250'), String(T + 0.25), 'with their milliseconds');

// ---- what a person reads
eq(fmtDateTime(T), '2026-12-03 14:00:00 GMT+1', 'a local date-time with the zone');
eq(fmtInput(String(T)), '2026-12-03 14:00:00', 'a time box shows a local date-time');
eq(fmtInput('now-15m'), 'now-15m', 'a time box keeps a relative form');
eq(rangeText('now-15m', 'now', [['15m', 'now-15m']]), 'last 15m', 'a preset range');
eq(rangeText(String(T), String(T + 600)), '2026-12-03 14:00:00 → 14:10:00 GMT+1', 'an absolute range');
eq(rangeText('bogus', 'now'), '', 'a range that does not parse is not shown');
eq(fmtSpan(45), '45 s', 'span: seconds');
eq(fmtSpan(150), '2 min 30 s', 'span: minutes');
eq(fmtSpan(3 * 3600 + 300), '3 h 5 min', 'span: hours');
eq(fmtDuration(0), '0 s', 'duration: zero is "0 s", not "0 ns"');
eq(fmtDuration(850), '850 ns', 'duration: ns');
eq(fmtDuration(12.5e6), '12.5 ms', 'duration: ms');
eq(fmtDuration(6734457000), '6.73 s', 'duration: the issue\'s total 6734457000 ns');
eq(fmtDuration(125e9), '2 min 5 s', 'duration: minutes');
eq(fmtDuration((3 * 3600 + 20 * 60) * 1e9), '3 h 20 min', 'duration: hours');
eq(fmtDuration((2 * 86400 + 5 * 3600) * 1e9), '2 d 5 h', 'duration: days');
eq(fmtValue(1.2e9, 'nanoseconds'), '1.20 s', 'a value in nanoseconds');
eq(fmtBytes(0), '0 B', 'bytes: zero');
eq(fmtBytes(1536), '1.50 KiB', 'bytes: KiB');
eq(fmtValue(12.9 * 1048576, 'bytes'), '12.9 MiB', 'a value in bytes');
eq(fmtValue(2200, 'samples'), '2.20k samples', 'samples keep k/M');

// ---- label filters (relay/store_labels.c)
eq(parseFilter('env=prod,zone=a'), [['env', 'prod'], ['zone', 'a']], 'filter: pairs');
eq(parseFilter('env=x\\,y'), [['env', 'x,y']], 'filter: an escaped comma');
eq(parseFilter('k=a=b'), [['k', 'a=b']], 'filter: a bare = after the first belongs to the value');
eq(matches({ env: 'prod', zone: 'a' }, 'env=prod'), true, 'match: a subset');
eq(matches({ env: 'x,region=prod' }, 'region=prod'), false, 'match: whole pairs only');
eq(matches({ env: 'prod' }, 'env'), false, 'match: an element without = matches nothing');
eq(noMatchText('shop', 'run=9', [{ labels: { run: 'one' } }, { labels: { run: 'two' } }]),
  "No instance of app 'shop' has labels run=9 (its instances have: run=one; run=two).", 'no match: the filter is blamed');
eq(noMatchText('shop', 'run=one', [{ labels: { run: 'one' } }]), null, 'a filter that matches explains nothing');

// type buttons: the agent's "alloc_bytes" and the API's "alloc" are one button
eq(typeList(['cpu', 'alloc_bytes'], 'alloc'), ['cpu', 'alloc'], 'alloc_bytes from the agent and alloc in the URL: one button');
eq(typeList(['cpu', 'alloc_bytes'], 'cpu'), ['cpu', 'alloc'], 'alloc_bytes shows as alloc');
eq(typeList(['lock', 'cpu', 'custom'], 'wall'), ['cpu', 'lock', 'custom', 'wall'], 'known types first, then others, then the current');

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
