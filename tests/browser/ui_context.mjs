// ui_context.mjs - the request-context parts of the app view (issue 18), on a
// real relay fed by two real JVMs (tests/java/CtxService: a front service on
// the JDK's HTTP server calling a back service with a traceparent header; no
// cprof code, the agent's automatic context labels every request):
//  - the Endpoints panel lists the front's endpoints with the shares and
//    sample counts the API gives (/top?group_by=endpoint), and a row for the
//    samples taken outside requests;
//  - clicking an endpoint filters the view (labels=endpoint=... in the URL):
//    the functions table then holds that endpoint's work method and not the
//    other's; the row is marked; clicking it again removes the filter;
//  - the trace box takes a pasted trace id (or a whole traceparent), and
//    draws that request's flame graph across both services (roots: the two
//    apps), with a sentence naming them; an id with no samples and a
//    malformed one are said plainly;
//  - an app without endpoint labels (no HTTP server) shows no Endpoints panel;
// The JVMs run with overhead=off: under the default 1% budget the labelled
// share and the trace samples came out far too small (reported to BUD/CTXA).
//  - no console errors or CSP violations.
// Screenshots go to $CPROF_TEST_OUT or <build>/test-out/ui_context.
//
// Run: CPROF_BUILD=build node tests/browser/ui_context.mjs

import { launch, newPage, check, done, shot, outDir, waitDrawn, sleep } from './lib.mjs';
import { Relay, needJvm, javaRun, cpuSplit, getJson, waitFor, cleanup } from './realrelay.mjs';
import { pct } from '../../relay/ui/js/util.js';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

needJvm();
const OUT = outDir('ui_context');
const FRONT = 'ui-front', BACK = 'ui-back';
const ORDERS = 'GET /orders/{n}', USERS = 'GET /users/{n}';
for (const f of ['front.log', 'back.log']) fs.rmSync(path.join(OUT, f), { force: true });   // port= of an earlier run
const relay = new Relay(OUT);
await relay.start();
const browser = await launch();
const hex = n => crypto.randomBytes(n).toString('hex');

async function port(logName) {
  const f = path.join(OUT, logName);
  const m = await waitFor(() => { try { return /port=(\d+)/.exec(fs.readFileSync(f, 'utf8')); } catch (e) { return null; } }, 30000, logName);
  return Number(m[1]);
}

async function call(p, pathQ, trace) {
  const r = await fetch(`http://127.0.0.1:${p}${pathQ}`, { headers: trace ? { traceparent: `00-${trace}-${hex(8)}-01` } : {} });
  return r.text();
}

try {
  const back = javaRun(relay, 'CtxService', `app=${BACK},cpu=5ms,flush=1s,overhead=off`, ['back'], 'back.log');
  const backPort = await port('back.log');
  const front = javaRun(relay, 'CtxService', `app=${FRONT},cpu=5ms,flush=1s,overhead=off`, ['front', backPort], 'front.log');
  const frontPort = await port('front.log');
  const big = hex(16);
  const stop = Date.now() + 4000;
  let n = 0;
  while (Date.now() < stop) {
    await Promise.all([call(frontPort, `/orders/${n}`, hex(16)), call(frontPort, `/users/${n}`, hex(16))]);
    if (++n === 6) await call(frontPort, '/orders/7?big', big);
  }
  await call(frontPort, '/quit'); await call(backPort, '/quit');
  check(await front.done === 0 && await back.done === 0, 'both services ran and exited', `${n} request pairs`);
  await sleep(1500);

  const q = 'from=now-15m&to=now';
  // The relay may still be storing the last windows of the JVMs that just
  // exited: wait until two answers 1 s apart agree, or the panel (drawn
  // later) would rightly show other shares than this answer.
  let prev = '';
  const top = await waitFor(async () => {
    const r = await getJson(relay.base, `/api/v1/top?app=${FRONT}&type=cpu&${q}&group_by=endpoint`);
    const g = r.groups || [];
    const key = JSON.stringify(g.map(x => [x.value, x.total]));
    const stable = key === prev;
    prev = key;
    if (!stable) await sleep(750);
    return stable && g.some(x => x.value === ORDERS) && g.some(x => x.value === USERS) ? r : null;
  }, 30000, 'endpoint groups of the front, stable');
  const groups = top.groups;
  const sum = groups.reduce((s, g) => s + g.total, 0);
  console.log('# groups: ' + groups.map(g => `${g.value}=${g.total}`).join(', '));

  // ---- the Endpoints panel
  const page = await newPage(browser);
  await page.goto(`${relay.base}/#app=${FRONT}&from=now-15m&to=now`);
  await waitDrawn(page);
  await page.waitForSelector('#endpoints:not([hidden]) tbody tr');
  const rows = await page.$$eval('#endpoints tbody tr', trs => trs.map(tr => ({
    ep: tr.dataset.endpoint, cells: [...tr.querySelectorAll('td')].map(td => td.textContent) })));
  console.log('# rows: ' + JSON.stringify(rows));
  const want = groups.map(g => ({ ep: g.value || '', share: pct(g.total, sum) }));
  check(rows.length === want.length && want.every((w, i) => rows[i].ep === w.ep && rows[i].cells[1] === w.share),
    'the panel lists every endpoint with the API\'s shares, in its order', JSON.stringify(want));
  check(rows.some(r => r.cells[0] === 'outside requests'), 'samples outside requests are one row');
  await shot(page, OUT, '01-endpoints');

  // ---- click: filter by the endpoint
  await page.click(`#endpoints tr[data-endpoint="${USERS}"]`);
  const labelsInUrl = () => page.evaluate(() => new URLSearchParams(location.hash.slice(1)).get('labels') || '');
  await waitFor(async () => (await labelsInUrl()) === 'endpoint=GET /users/{n}', 10000, 'labels=endpoint=GET /users/{n} in the URL');
  await waitDrawn(page);
  await page.waitForFunction(() => document.querySelector('#endpoints tr.selected'));
  const fnames = async () => page.$$eval('[data-name]', r => r.map(x => x.dataset.name));
  // by total: the table draws its first 100 functions, and by self usersWork
  // may not be among them (CI: before the JIT inlines spin() into it, its
  // self time is ~0 beside the HTTP server's and the interpreter's frames)
  await page.click('[role=columnheader][data-key="total"]');
  await waitFor(async () => (await fnames()).some(x => x.includes('usersWork')), 10000, 'usersWork in the table',
    async () => 'the table: ' + (await fnames()).slice(0, 30).join(', '));
  let names = await fnames();
  check(names.some(x => x.includes('CtxService.usersWork')) && !names.some(x => x.includes('CtxService.ordersWork')),
    'filtered by GET /users/{n}: the table has usersWork, not ordersWork');
  check(await page.$eval('#endpoints tr.selected', tr => tr.dataset.endpoint) === USERS, 'the chosen endpoint is marked');
  await shot(page, OUT, '02-users');
  await page.click(`#endpoints tr[data-endpoint="${USERS}"]`);
  await waitFor(async () => (await labelsInUrl()) === '', 10000, 'no label filter in the URL');
  await waitFor(async () => !(await page.$('#endpoints tr.selected')), 10000, 'no endpoint marked');
  await page.fill('#search', 'CtxService.ordersWork');
  await page.waitForSelector('.search-info.found', { timeout: 10000 });
  check(true, 'clicking the marked endpoint again removes the filter (ordersWork is found again)');

  // ---- the trace box
  await page.fill('#trace-id', `00-${big}-${hex(8)}-01`);
  await page.click('#trace-show');
  await page.waitForFunction(() => /Trace [0-9a-f]{32}: .* in 2 apps/.test(document.querySelector('#trace-status').textContent), null, { timeout: 15000 })
    .catch(async e => { console.log('# trace status: ' + await page.$eval('#trace-status', x => x.textContent)); throw e; });
  const st = await page.$eval('#trace-status', e => e.textContent);
  check(st.includes(FRONT) && st.includes(BACK) && st.includes(big), 'a pasted traceparent shows that trace across both services', st);
  const tl = await page.$$eval('#trace .fg-label', ls => ls.filter(l => !l.hidden).map(l => l.textContent));
  check(tl.some(t => t.endsWith(FRONT)) && tl.some(t => t.endsWith(BACK)), 'the trace graph is rooted by the two apps', tl.slice(0, 8).join(' | '));
  await shot(page, OUT, '03-trace');
  await page.fill('#trace-id', hex(16));
  await page.click('#trace-show');
  await page.waitForFunction(() => /No samples of trace/.test(document.querySelector('#trace-status').textContent), null, { timeout: 10000 });
  check(true, 'an unknown trace id says it has no samples');
  await page.fill('#trace-id', 'xyz');
  await page.click('#trace-show');
  check(/Not a trace id/.test(await page.$eval('#trace-status', e => e.textContent)), 'a malformed id is said, not sent');

  // ---- an app without endpoint labels (no HTTP server): no panel
  const plain = cpuSplit(relay, 'ui-plain', 'r1', 2);
  check(await plain.done === 0, 'a JVM without an HTTP server ran');
  await sleep(1500);
  await page.goto(`${relay.base}/#app=ui-plain&from=now-15m&to=now`);
  await waitDrawn(page);
  await sleep(500);
  check(await page.$eval('#endpoints', e => e.hidden), 'an app without endpoint labels shows no Endpoints panel');

  check(page.problems.length === 0, 'no console errors or CSP violations', page.problems.join('; '));
} catch (e) {
  check(false, 'unexpected error: ' + (e.stack || e) + (e.cause ? ' cause: ' + e.cause : ''));
} finally {
  await browser.close();
  await relay.close();
  cleanup();
}
done();
