// ui_explain.mjs - empty answers explained, on a real `cprof relay` holding
// one short CpuSplit run (an app that just started), in chromium:
//  - a label filter no instance has is blamed on the filter ("No instance
//    of app 'fresh' has labels run=9 ..."), not on the range, in the app
//    view and on a compare side;
//  - "Compare…" right after the start: the default base range (the 15
//    minutes before) is empty; the view says so with the app's first
//    sample time instead of listing every function as a regression, and
//    one click compares the first half of the data with the last half: a
//    non-empty base and a steady split (burnA's share about the same).
//  - numbers a person reads: totals in s, compare boxes as local
//    date-times (the browser runs in Europe/Berlin here).
// Screenshots go to $CPROF_TEST_OUT or <build>/test-out/ui_explain.
//
// Run: CPROF_BUILD=build node tests/browser/ui_explain.mjs

import { launch, check, done, shot, outDir, waitDrawn, sleep } from './lib.mjs';
import { Relay, needJvm, cpuSplit, getJson, waitFor } from './realrelay.mjs';

needJvm();
const OUT = outDir('ui_explain');
const APP = 'fresh';
const relay = new Relay(OUT);
await relay.start();
const browser = await launch();
const DATETIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

async function berlinPage() {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 }, timezoneId: 'Europe/Berlin' });
  const page = await ctx.newPage();
  page.problems = [];
  page.on('pageerror', e => page.problems.push('pageerror: ' + e.message));
  page.on('console', m => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push('console: ' + m.text()); });
  return page;
}

// burnA's share of each side's total in the diff on screen.
const shares = page => page.evaluate(() => {
  const p = window.cprof.view().profile;
  let b = 0, c = 0;
  for (let i = 0; i < p.n; i++) if (p.names[p.name[i]] === 'CpuSplit.burnA') { b += p.baseTotal[i]; c += p.cmpTotal[i]; }
  return { base: b / p.baseSum, cmp: c / p.cmpSum, baseSum: p.baseSum, cmpSum: p.cmpSum };
});

try {
  const jvm = cpuSplit(relay, APP, 'one', 12);
  check(await jvm.done === 0, 'the JVM ran and exited');
  await waitFor(async () => (await getJson(relay.base, `/api/v1/profile?app=${APP}&type=cpu&from=now-5m&to=now`)).total > 100, 20000, 'the run in the relay');
  const apps = await getJson(relay.base, '/api/v1/apps');
  const first = apps.apps.find(a => a.name === APP).first_sample.cpu;
  check(first > Date.now() / 1000 - 120, 'the relay gives the first sample time', first);
  const page = await berlinPage();

  // ---- (c) a label filter that matches no instance
  await page.goto(`${relay.base}/#app=${APP}&type=cpu&from=now-15m&to=now&labels=run%3D9`);
  await page.waitForFunction(() => /No instance/.test(document.querySelector('.fg-empty').textContent), null, { timeout: 10000 }).catch(() => {});
  const empty = await page.textContent('.fg-empty');
  check(/No instance of app 'fresh' has labels run=9 \(its instances have: run=one\)/.test(empty) && await page.isVisible('.fg-empty'),
    'a label filter no instance has is blamed on the filter', empty);
  check(!/No samples in this range/.test(await page.textContent('main')), 'and not on the time range');
  await shot(page, OUT, '01-labels-nothing');
  if (await page.$('#clear-labels')) await page.click('#clear-labels');
  else await page.goto(`${relay.base}/#app=${APP}&type=cpu&from=now-15m&to=now`);
  await waitDrawn(page);
  check(!/labels=/.test(page.url()) && !(await page.isVisible('.fg-empty')), 'one click removes the filter and shows the data');
  const status = await page.textContent('.status-line');
  check(/^\d+(\.\d+)? s total|^\d+ min( \d+ s)? total/.test(status), 'the total is a duration in seconds, not nanoseconds', status.split(' · ')[0]);

  await page.goto(`${relay.base}/#view=compare&app=${APP}&type=cpu&bfrom=now-15m&bto=now&cfrom=now-15m&cto=now&clabels=run%3D9`);
  await page.waitForSelector('.diff-empty', { timeout: 10000 }).catch(() => {});
  const cmpEmpty = (await page.$('.diff-empty')) ? await page.textContent('.diff-empty') : '';
  check(/No instance of app 'fresh' has comparison labels run=9/.test(cmpEmpty), 'compare: a side whose labels match nothing says so', cmpEmpty);

  // ---- (b) Compare… on an app that just started
  await page.goto(`${relay.base}/#app=${APP}&type=cpu&from=now-15m&to=now`);
  await waitDrawn(page);
  await page.click('#compare-btn');
  await page.waitForSelector('.diff-empty', { timeout: 10000 }).catch(() => {});
  const why = (await page.$('.diff-empty')) ? await page.textContent('.diff-empty') : '';
  check(/The base range \(.*\) has no samples: this app's first cpu sample is at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} (CET|CEST|GMT\+[12])/.test(why),
    'an empty base is explained with the first sample time (local, with the zone)', why);
  const firstLocal = new Date(first * 1000).toLocaleString('sv-SE', { timeZone: 'Europe/Berlin' });
  check(why.includes(firstLocal), 'the first sample time is the relay\'s, in the browser\'s zone', firstLocal);
  check((await page.$$('.changes.worse tbody tr')).length === 0, 'no function is listed as a regression against an empty base');
  check(/base 0 s ·/.test(await page.textContent('.status-line')), 'an empty total reads "0 s"', (await page.textContent('.status-line')).split(' · ').slice(0, 2).join(' · '));
  await shot(page, OUT, '02-empty-base');
  const btn = await page.$('#compare-halves');
  check(btn && /Compare the first \d+ s of data with the last \d+ s/.test(await btn.textContent()), 'one click is offered', btn && await btn.textContent());

  // ---- one click: a non-empty base and a sensible diff
  if (btn) await btn.click();
  else await page.goto(`${relay.base}/#view=compare&app=${APP}&type=cpu&bfrom=${Math.floor(first)}&bto=${Math.floor(first) + 4}&cfrom=now-8s&cto=now`);
  await page.waitForFunction(() => /bfrom=\d+/.test(location.hash) && /drawn in/.test(document.querySelector('.status-line').textContent), null, { timeout: 10000 });
  await page.waitForSelector('.changes', { timeout: 10000 }).catch(() => {});
  const u = new URLSearchParams(page.url().split('#')[1]);
  check(Number(u.get('bfrom')) === Math.floor(first) && Number(u.get('bto')) - Number(u.get('bfrom')) === Number(u.get('cto')) - Number(u.get('cfrom')),
    'the base starts at the first sample and both sides have the same length', page.url().split('#')[1]);
  const sh = await shares(page);
  check(sh.baseSum > 0 && sh.cmpSum > 0, 'both sides have samples', JSON.stringify(sh));
  check(sh.base > 0.5 && sh.cmp > 0.5 && Math.abs(sh.base - sh.cmp) < 0.2, 'a steady run gives a steady diff (burnA about the same share)',
    `${(100 * sh.base).toFixed(1)}% → ${(100 * sh.cmp).toFixed(1)}%`);
  check(!(await page.$('.diff-empty')), 'the explanation is gone');
  const boxes = await page.$$eval('input.time', is => is.map(i => i.value));
  check(boxes.length === 4 && boxes.every(v => DATETIME.test(v)), 'the range boxes show local date-times, not unix seconds', boxes.join(' | '));
  const zone = await page.$$eval('.side .zone', zs => zs.map(z => z.textContent));
  check(zone.length === 2 && zone.every(z => /^(CET|CEST|GMT\+[12])$/.test(z)), 'the zone is shown beside the boxes', zone.join(' '));
  check(!/base 0 s/.test(await page.textContent('.status-line')), 'the base total is not 0', (await page.textContent('.status-line')).split(' · ').slice(0, 2).join(' · '));
  await shot(page, OUT, '03-first-vs-last');

  // ---- typed local date-times are read in the browser's zone
  const [bfromLocal] = boxes;
  await page.fill('#base-from', bfromLocal);
  await page.fill('#cmp-from', 'now-1h');
  await page.click('#compare-apply');
  await page.waitForFunction(() => /cfrom=now-1h/.test(location.hash));
  check(new URLSearchParams(page.url().split('#')[1]).get('bfrom') === String(Math.floor(first)), 'a typed local date-time means the same instant', page.url().split('#')[1]);
  await page.fill('#base-from', 'bogus');
  await page.click('#compare-apply');
  await sleep(300);
  const errs = await page.$$eval('.error', es => es.map(e => e.textContent));
  check(errs.length === 1 && /^Base from: 'bogus' is not a time/.test(errs[0]), 'a time that does not parse is said once, naming the box', JSON.stringify(errs));

  // ---- errors appear once; a range that does not parse is not shown as one
  await page.goto(`${relay.base}/#app=nope&type=cpu&from=now-15m&to=now`);
  await page.waitForSelector('.error', { timeout: 10000 });
  await sleep(1500);     // the instances and the profile both failed by now
  const unknown = await page.$$eval('.error', es => es.map(e => e.textContent));
  check(unknown.length === 1 && /unknown app/.test(unknown[0]), 'the unknown-app error is shown once', JSON.stringify(unknown));
  await page.goto(`${relay.base}/#app=${APP}&type=cpu&from=bogus&to=now`);
  await page.waitForSelector('.error', { timeout: 10000 });
  const bad = await page.$$eval('.error', es => es.map(e => e.textContent));
  const rt = await page.textContent('.rangetext');
  check(bad.length === 1 && /from: 'bogus' is not a time/.test(bad[0]) && rt === '', 'a range that does not parse is said once and not shown as a range',
    JSON.stringify(bad) + ' range text: ' + JSON.stringify(rt));
  await page.goto(`${relay.base}/#app=${APP}&type=cpu&from=yesterday&to=now`);
  await waitDrawn(page);
  check((await page.$$('.error')).length === 0 && /^\d{4}-\d{2}-\d{2} 00:00:00 → now/.test(await page.textContent('.rangetext')),
    'from=yesterday is read as local midnight', await page.textContent('.rangetext'));
  check(page.problems.length === 0, 'no console errors or CSP violations', page.problems.join(' | '));
} catch (e) {
  check(false, 'test ran to the end', e.stack);
} finally {
  await browser.close();
  await relay.close();
}
done();
