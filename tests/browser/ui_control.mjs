// ui_control.mjs - the instances table's control panel (fleet control, issue
// 19) on a real `cprof relay` with two real JVMs (ControlTarget, allocation
// profiling off by their own options), driven in chromium:
//  - the table lists both connected instances with a checkbox each and no
//    acknowledgement yet;
//  - selecting one, picking "Allocations (256 KiB)" for 1m and applying sends
//    POST /api/v1/control for that instance only (the API's audit shows it,
//    with that one target);
//  - the panel then shows that agent's acknowledgement ("applied: ... alloc
//    256k") next to it, and nothing next to the other;
//  - no console errors or CSP violations.
// Run: CPROF_BUILD=build node tests/browser/ui_control.mjs

import { launch, newPage, check, done, shot, outDir, sleep } from './lib.mjs';
import { Relay, needJvm, javaRun, getJson, waitFor, cleanup } from './realrelay.mjs';

needJvm();
const OUT = outDir('ui_control');
const APP = 'ctlui';
const relay = new Relay(OUT);
await relay.start();
const browser = await launch();

try {
  javaRun(relay, 'ControlTarget', `app=${APP},flush=1s,label.n=1`, [25], 'jvm-1.log');
  javaRun(relay, 'ControlTarget', `app=${APP},flush=1s,label.n=2`, [25], 'jvm-2.log');
  const inst = await waitFor(async () => {
    const r = await getJson(relay.base, `/api/v1/instances?app=${APP}`).catch(() => null);
    return r && r.instances.filter(i => i.connected).length === 2 ? r.instances : null;
  }, 20000, 'two connected instances');
  const page = await newPage(browser);
  await page.goto(`${relay.base}/#app=${APP}&type=cpu&from=now-5m&to=now`);
  await page.waitForSelector('.instances input[type=checkbox]', { timeout: 15000 });
  const boxes = await page.$$eval('.instances input[type=checkbox]', bs => bs.map(b => b.dataset.instance));
  check(boxes.length === 2 && inst.every(i => boxes.includes(i.id)), 'a checkbox per connected instance', boxes.join(','));
  const target = inst[0].id, other = inst[1].id;
  await page.check(`.instances input[data-instance="${target}"]`);
  await page.selectOption('.control-what', 'alloc=256k');
  await page.selectOption('.control-for', '1m');
  await page.click('.control-apply');
  await page.waitForFunction(() => /Sent alloc=256k/.test(document.querySelector('.control-status').textContent), null, { timeout: 10000 });
  const doc = await waitFor(async () => {
    const d = await getJson(relay.base, `/api/v1/control?app=${APP}`);
    return d.instances[target] ? d : null;
  }, 15000, 'the agent\'s acknowledgement');
  const row = doc.audit[0];
  check(row.action === 'change' && JSON.stringify(row.instances) === JSON.stringify([target]) &&
        row.request.set.alloc === '256k' && row.request.for_ms === 60000, 'the API got the change for that one instance', JSON.stringify(row));
  check(!doc.instances[other], 'the other instance got nothing');
  // the panel shows the acknowledgement next to the instance
  const cell = await waitFor(async () => {
    const cells = await page.$$eval('.instances tbody tr', trs => trs.map(tr => ({
      id: (tr.querySelector('input[type=checkbox]') || {}).dataset?.instance, ack: (tr.querySelector('.control-ack') || {}).textContent || '' })));
    const c = cells.find(x => x.id === target);
    return c && /applied/.test(c.ack) && /alloc 256k/.test(c.ack) ? cells : null;
  }, 15000, 'the acknowledgement in the table');
  check(!/applied/.test(cell.find(x => x.id === other).ack), 'no acknowledgement next to the other instance');
  await shot(page, OUT, '01-acknowledged');
  check(page.problems.length === 0, 'no console errors or CSP violations', page.problems.join(' | '));
} catch (e) {
  check(false, 'test ran to the end', e.stack);
} finally {
  await browser.close();
  await relay.close();
  cleanup();
}
done();
