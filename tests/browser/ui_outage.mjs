// ui_outage.mjs - the web UI through a relay outage: a real `cprof relay`
// holding a finished CpuSplit run (no new data will come), the app view
// open in chromium, the relay stopped for ~10 s and started again on the
// same port and data directory. While it is down the page says so once (one
// banner, no error per request, even after the user picks another range);
// when it is back the banner goes and the view reloads by itself, once (no
// new window arrives to trigger it), with no stale error or "No samples".
// Screenshots go to $CPROF_TEST_OUT or <build>/test-out/ui_outage.
//
// Run: CPROF_BUILD=build node tests/browser/ui_outage.mjs

import { launch, newPage, check, done, shot, outDir, waitDrawn, labelBox, sleep } from './lib.mjs';
import { Relay, needJvm, cpuSplit, getJson, waitFor } from './realrelay.mjs';

needJvm();
const OUT = outDir('ui_outage');
const APP = 'outage';
const relay = new Relay(OUT);
await relay.start();
const browser = await launch();

// Visible elements on the page whose text says the relay is unreachable.
const unreachableTexts = page => page.evaluate(() => [...document.querySelectorAll('#relay-banner, .error, .note, .fg-empty, .status-line')]
  .filter(e => !e.hidden && e.offsetParent !== null && /unreachable/i.test(e.textContent)).map(e => e.textContent.trim()));

try {
  const jvm = cpuSplit(relay, APP, 'one', 6);
  check(await jvm.done === 0, 'the JVM ran and exited');
  await waitFor(async () => (await getJson(relay.base, `/api/v1/profile?app=${APP}&type=cpu&from=now-5m&to=now`)).total > 50, 20000, 'the run in the relay');

  const page = await newPage(browser);
  const profileFetches = [];
  page.on('request', r => { if (r.url().includes('/api/v1/profile')) profileFetches.push(Date.now()); });
  await page.goto(`${relay.base}/#app=${APP}&type=cpu&from=now-15m&to=now`);
  await waitDrawn(page);
  check(await labelBox(page, 'CpuSplit.burnA') !== null, 'the app view shows the run');
  await page.waitForFunction(() => /st-live/.test(document.getElementById('live').className), null, { timeout: 10000 });
  await shot(page, OUT, '01-before');

  // ---- the relay goes away
  const tDown = Date.now();
  await relay.stop();
  const banner = await page.waitForSelector('#relay-banner:not([hidden])', { timeout: 10000 }).catch(() => null);
  check(banner && /relay is unreachable/.test(await banner.textContent()), 'while the relay is down the page says so',
    banner ? await banner.textContent() : 'no banner');
  // the user keeps working: another range, while the relay is down
  await page.click('button[data-range="now-5m"]');
  await sleep(2500);
  let said = await unreachableTexts(page);
  check(said.length === 1, 'the outage is said once (no error per failed request)', JSON.stringify(said));
  const errs = await page.$$eval('.error', es => es.map(e => e.textContent));
  check(errs.length === 0, 'no "Could not load" error for requests the outage failed', JSON.stringify(errs));
  check(!/No samples/.test(await page.textContent('.fg-empty')) || !(await page.isVisible('.fg-empty')),
    'the graph does not claim the range is empty', await page.textContent('.fg-empty'));
  await shot(page, OUT, '02-down');
  await sleep(Math.max(0, 10000 - (Date.now() - tDown)));
  said = await unreachableTexts(page);
  check(said.length === 1, 'after 10 s down the outage is still said once', JSON.stringify(said));

  // ---- back on the same port and data directory
  const before = profileFetches.length;
  await relay.start();
  const tUp = Date.now();
  const back = await page.waitForFunction(() => {
    const b = document.getElementById('relay-banner');
    const s = document.querySelector('.status-line');
    return b.hidden && s && /drawn in/.test(s.textContent) && [...document.querySelectorAll('.fg-label')].some(d => !d.hidden && d.textContent === 'CpuSplit.burnA');
  }, null, { timeout: 15000 }).then(() => true, () => false);
  check(back, 'after the relay is back the banner clears and the view reloads by itself', `${((Date.now() - tUp) / 1000).toFixed(1)} s`);
  check(/from=now-5m/.test(page.url()), 'the reloaded view is the range picked during the outage', page.url().split('#')[1]);
  check((await page.$$('.error')).length === 0 && (await unreachableTexts(page)).length === 0, 'no stale error stays',
    JSON.stringify(await unreachableTexts(page)));
  check(!(await page.isVisible('.fg-empty')), 'no stale "No samples in this range"');
  await page.waitForFunction(() => /st-live/.test(document.getElementById('live').className), null, { timeout: 10000 })
    .then(() => check(true, 'the live indicator is live again'), () => check(false, 'the live indicator is live again', '#live'));
  await sleep(6000);
  const reloads = profileFetches.length - before;
  check(reloads >= 1 && reloads <= 2, 'the view reloaded once (not in a loop)', `${reloads} profile fetches since the restart`);
  const n = profileFetches.length;
  await sleep(5000);
  check(profileFetches.length === n, 'no further reloads while nothing changes', `${profileFetches.length - n} more`);
  await shot(page, OUT, '03-back');
  const js = page.problems.filter(p => !/WebSocket|ERR_CONNECTION_REFUSED|net::/.test(p));
  check(js.length === 0, 'no script errors or CSP violations', js.join(' | '));
} catch (e) {
  check(false, 'test ran to the end', e.stack);
} finally {
  await browser.close();
  await relay.close();
}
done();
