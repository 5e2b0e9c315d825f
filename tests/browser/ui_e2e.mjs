// ui_e2e.mjs - the web UI end to end: a real `cprof relay` serving relay/ui,
// fed by real JVMs (tests/java/CpuSplit) profiled by the real agent, driven
// in Debian's chromium. Two runs of one app whose hot method differs (run
// one: burnA 9 : burnB 1, then run two: 1 : 9). The test opens the app from
// the apps list, finds the hot method by search, zooms, checks the table,
// sees a live update keep the zoom, opens a diff between the two runs' time
// ranges and sees the hot method move, follows a shared link and fetches the
// export links. Screenshots go to $CPROF_TEST_OUT or
// <build>/test-out/ui_e2e; look at them.
//
// Run: CPROF_BUILD=build-ui node tests/browser/ui_e2e.mjs

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { launch, newPage, check, done, shot, outDir, waitDrawn, labelBox, sleep, SOURCE, BUILD, UI_DIR } from './lib.mjs';
import { CPROF, AGENT, JDK, needJvm, freePort, start as startProc, waitFor, getJson, cleanup } from './realrelay.mjs';

const OUT = outDir('ui_e2e');
const APP = 'shop';
const start = (cmd, args, logName) => startProc(cmd, args, path.join(OUT, logName));

needJvm();

// Compile the target once per build (same place as cplib.py).
const classes = path.join(BUILD, 'test-java-classes');
fs.mkdirSync(classes, { recursive: true });
const src = path.join(SOURCE, 'tests/java/CpuSplit.java');
const cls = path.join(classes, 'CpuSplit.class');
if (!fs.existsSync(cls) || fs.statSync(cls).mtimeMs < fs.statSync(src).mtimeMs)
  execFileSync(path.join(JDK, 'bin/javac'), ['--release', '11', '-nowarn', '-d', classes, src]);

const port = await freePort();
const data = fs.mkdtempSync(path.join(os.tmpdir(), 'cprof-ui-e2e-'));
const BASE = `http://127.0.0.1:${port}`;
const relay = start(CPROF, ['relay', '--listen', `127.0.0.1:${port}`, '--data', data, '--ui', UI_DIR], 'relay.log');
await waitFor(async () => (await fetch(BASE + '/api/v1/apps')).ok, 15000, 'the relay');

function jvm(run, a, b, secs) {
  const opts = `relay=ws://127.0.0.1:${port}/ingest,app=${APP},label.run=${run},cpu=10ms,flush=1s,overhead=off`;
  return start(path.join(JDK, 'bin/java'), [`-agentpath:${AGENT}=${opts}`, '-cp', classes, 'CpuSplit', String(secs), String(a), String(b)], `jvm-${run}.log`);
}

const browser = await launch();
try {
  // ---- run one: burnA is hot
  const t0 = Math.floor(Date.now() / 1000) - 1;
  const one = jvm('one', 9, 1, 18);   // long enough to still be running at the live check
  await waitFor(async () => {
    const p = await getJson(BASE, `/api/v1/profile?app=${APP}&type=cpu&from=now-5m&to=now`);
    return p.names.some(n => n.includes('CpuSplit.burnA')) && p.total > 50;
  }, 30000, 'run one in the relay');

  const page = await newPage(browser);
  await page.goto(BASE + '/');
  await page.waitForSelector('table.apps a.appname');
  check((await page.textContent('table.apps')).includes(APP), 'the apps list shows the app');
  check(/1 of 1 connected/.test(await page.textContent('table.apps')), 'the apps list shows the connected instance');
  const hdr = await (await fetch(BASE + '/')).headers.get('content-security-policy');
  check(/script-src 'self'/.test(hdr || ''), 'the relay serves the UI with a strict CSP', hdr);
  await shot(page, OUT, '01-apps');

  await page.click(`a.appname:text("${APP}")`);
  await waitDrawn(page);
  await page.waitForSelector('.instances td');
  const inst = await page.textContent('.instances');
  check(/run=one/.test(inst) && /Hz/.test(inst), 'the instance shows its labels and sample rate', inst.replace(/\s+/g, ' ').slice(0, 160));
  await shot(page, OUT, '02-app');

  // ---- find the hot method by search
  await page.fill('#search', 'burnA');
  await page.waitForFunction(() => /of total/.test(document.querySelector('.search-info').textContent));
  const si = await page.textContent('.search-info');
  const share = Number(/([\d.]+)% of total/.exec(si)[1]);
  check(share > 50, 'search finds the hot method with most of the CPU', si);
  await shot(page, OUT, '03-search');

  // ---- zoom into it (click the frame) and check the table
  const lb = await labelBox(page, 'CpuSplit.burnA');
  check(lb !== null, 'the hot method is a labelled frame in the graph');
  await page.mouse.click(lb.x, lb.y);
  await page.waitForFunction(() => /zoom=/.test(location.hash));
  const zb = await labelBox(page, 'CpuSplit.burnA');
  check(zb && zb.w > 1200, 'clicking zooms the hot method to full width', zb && zb.w);
  const rows = await page.$$eval('.ftable .gbody .grow', rs => rs.map(r => [r.dataset.name, r.querySelectorAll('.gc')[2].textContent]));
  check(rows.length >= 1 && rows.every(([n]) => /CpuSplit/.test(n)), 'the table lists the functions under the zoom that match', rows.map(r => r.join(' ')).join(', '));
  await shot(page, OUT, '04-zoom');

  // ---- live: a new window refreshes the graph, the zoom stays
  await page.waitForFunction(() => /updated/.test(document.querySelector('.status-line').textContent), null, { timeout: 20000 });
  check(/st-live/.test(await page.getAttribute('#live', 'class')), 'the live indicator is on', await page.textContent('#live'));
  const zb2 = await labelBox(page, 'CpuSplit.burnA');
  check(zb2 && zb2.w > 1200 && /zoom=/.test(page.url()), 'a live update keeps the zoom');
  const sharedUrl = page.url();

  // ---- the shared link opens the same view
  const p2 = await newPage(browser);
  await p2.goto(sharedUrl);
  await waitDrawn(p2);
  const zb3 = await labelBox(p2, 'CpuSplit.burnA');
  check(zb3 && zb3.w > 1200, 'a shared link reopens the zoom');
  check(await p2.inputValue('#search') === 'burnA', 'a shared link reopens the search');
  await shot(p2, OUT, '05-shared-link');
  check(p2.problems.length === 0, 'no console errors or CSP violations on the shared page', p2.problems.join(' | '));
  await p2.close();

  // ---- export links work against the relay
  const hrefs = await page.$$eval('a[download]', as => as.map(a => a.href));
  for (const h of hrefs) {
    const r = await fetch(h);
    const body = Buffer.from(await r.arrayBuffer());
    const fmt = new URL(h).searchParams.get('format');
    const ok = r.ok && (fmt === 'collapsed' ? body.toString().includes('CpuSplit.burnA')
      : fmt === 'speedscope' ? JSON.parse(body.toString()).profiles.length > 0
        : body[0] === 0x1f && body[1] === 0x8b);
    check(ok, `export ${fmt} downloads a valid file`, `${body.length} bytes`);
  }

  await one.done;
  // the ranges meet at a whole second after run one's exit and before run
  // two's start: a floored t1 put run one's last window in the comparison,
  // whose two instances then made a 2-block bootstrap (df 1, INCONCLUSIVE)
  const t1 = Math.ceil(Date.now() / 1000);
  await sleep(t1 * 1000 - Date.now() + 20);
  // ---- run two: burnB is hot
  const two = jvm('two', 1, 9, 8);
  check(await one.done === 0, 'run one exited cleanly');
  check(await two.done === 0, 'run two exited cleanly');
  await sleep(2500);    // last flush
  const t2 = Math.floor(Date.now() / 1000) + 1;

  // ---- compare the two runs' time ranges through the UI
  await page.click('text=Reset zoom');
  await page.fill('#search', '');
  await page.click('#compare-btn');
  await page.waitForSelector('#base-from');
  await page.fill('#base-from', String(t0)); await page.fill('#base-to', String(t1));
  await page.fill('#cmp-from', String(t1)); await page.fill('#cmp-to', String(t2));
  await page.click('#compare-apply');
  await page.waitForFunction(([a, b, c]) => location.hash.includes('cfrom=' + b) && location.hash.includes('cto=' + c) &&
    location.hash.includes('bfrom=' + a) && location.hash.includes('bto=' + b), [t0, t1, t2]);
  await page.waitForFunction(() => /fetched/.test(document.querySelector('.status-line').textContent));
  // a timeout here says what the diff showed instead (status line, table, range)
  await page.waitForSelector('table.diffstats tr.rise').catch(async e => {
    const seen = await page.evaluate(() => [(document.querySelector('.status-line') || {}).textContent,
      ((document.querySelector('table.diffstats') || {}).innerText || 'no diffstats table').slice(0, 1500),
      location.hash].join(' || '));
    throw new Error(`no significant rise in the diff after 30 s: ${seen} (${e.message.split('\n')[0]})`);
  });
  await sleep(300);
  const worse = await page.$$eval('table.diffstats tr.rise', trs => trs.map(t => t.dataset.name + ' ' + t.lastChild.textContent));
  const better = await page.$$eval('table.diffstats tr.fall', trs => trs.map(t => t.dataset.name + ' ' + t.lastChild.textContent));
  check(/CpuSplit\.(burnB|mixB)/.test(worse[0] || ''), 'diff: the new hot method tops the significant regressions', worse.slice(0, 3).join(', '));
  check(/CpuSplit\.(burnA|mixA)/.test(better[0] || ''), 'diff: the old hot method tops the significant improvements', better.slice(0, 3).join(', '));
  const lb4 = await labelBox(page, 'CpuSplit.burnB');
  if (lb4) {
    // the tooltip follows the next animation frame: wait for it (busy CI)
    await page.mouse.move(lb4.x + 1, lb4.y);
    await page.mouse.move(lb4.x, lb4.y);
    await page.waitForFunction(() => /Total.*→/.test((document.querySelector('.fg-tip') || {}).textContent || ''),
      null, { timeout: 5000 }).catch(() => {});
    const tip = await page.textContent('.fg-tip');
    check(/Total.*→/.test(tip), 'diff tooltip shows base → comparison', tip.replace(/\s+/g, ' ').slice(0, 120));
  } else check(false, 'diff graph shows CpuSplit.burnB');
  await shot(page, OUT, '06-compare');

  // ---- labels: the same diff by label sets
  const cmpUrl = `${BASE}/#view=compare&app=${APP}&type=cpu&bfrom=now-10m&bto=now&blabels=run%3Done&cfrom=now-10m&cto=now&clabels=run%3Dtwo`;
  await page.goto(cmpUrl);
  // a timeout here says what the diff showed instead (status line, table, range)
  await page.waitForSelector('table.diffstats tr.rise').catch(async e => {
    const seen = await page.evaluate(() => [(document.querySelector('.status-line') || {}).textContent,
      ((document.querySelector('table.diffstats') || {}).innerText || 'no diffstats table').slice(0, 1500),
      location.hash].join(' || '));
    throw new Error(`no significant rise in the diff after 30 s: ${seen} (${e.message.split('\n')[0]})`);
  });
  const worse2 = await page.$$eval('table.diffstats tr.rise', trs => trs.map(t => t.dataset.name));
  check(/CpuSplit\.(burnB|mixB)/.test(worse2[0] || ''), 'diff by label sets shows the same change', worse2.slice(0, 3).join(', '));
  await shot(page, OUT, '07-compare-labels');

  // ---- the timeline shows both runs
  await page.goto(`${BASE}/#app=${APP}&type=cpu&from=now-5m&to=now`);
  await waitDrawn(page);
  const pts = await page.evaluate(() => window.cprof.view().timeline.data.points.filter(p => p[1] > 0).length);
  check(pts >= 2, 'the timeline has samples over time', pts + ' non-empty steps');
  await shot(page, OUT, '08-both-runs');
  check(page.problems.length === 0, 'no console errors or CSP violations', page.problems.join(' | '));
} catch (e) {
  check(false, 'test ran to the end', e.stack);
} finally {
  await browser.close();
  relay.kill('SIGTERM');
  await Promise.race([relay.done, sleep(5000)]);
  cleanup();
  fs.rmSync(data, { recursive: true, force: true });
}
done();
