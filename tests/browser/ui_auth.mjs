// ui_auth.mjs - the web UI against a relay with --auth, in Debian's chromium.
// A real JVM (tests/java/CpuSplit) sends with an ingest token; the page
// loads the static UI without a token, the API answers 401, the UI asks for
// a token once (a prompt, answered with a read token), keeps it for the tab
// (a reload asks nothing), draws the flame graph, goes live over the
// websocket (token as a "bearer." subprotocol entry) and downloads an
// export with it. No URL the page requested may contain the token.
//
// Run: CPROF_BUILD=build node tests/browser/ui_auth.mjs

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { launch, newPage, check, done, shot, outDir, waitDrawn, labelBox, sleep, SOURCE, BUILD, UI_DIR } from './lib.mjs';
import { CPROF, AGENT, JDK, needJvm, freePort, start as startProc, waitFor, getJson } from './realrelay.mjs';

const OUT = outDir('ui_auth');
const APP = 'guarded';
const start = (cmd, args, logName) => startProc(cmd, args, path.join(OUT, logName));

needJvm();
const classes = path.join(BUILD, 'test-java-classes');
fs.mkdirSync(classes, { recursive: true });
const src = path.join(SOURCE, 'tests/java/CpuSplit.java');
const cls = path.join(classes, 'CpuSplit.class');
if (!fs.existsSync(cls) || fs.statSync(cls).mtimeMs < fs.statSync(src).mtimeMs)
  execFileSync(path.join(JDK, 'bin/javac'), ['--release', '11', '-nowarn', '-d', classes, src]);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cprof-ui-auth-'));
const auth = path.join(tmp, 'auth.txt');
const tokenNew = role => execFileSync(CPROF, ['token', 'new', '--tenant', 'web', '--role', role, '--auth', auth]).toString().trim();
const INGEST = tokenNew('ingest'), READ = tokenNew('read');

const port = await freePort();
const BASE = `http://127.0.0.1:${port}`;
start(CPROF, ['relay', '--listen', `127.0.0.1:${port}`, '--data', path.join(tmp, 'data'), '--ui', UI_DIR, '--auth', auth], 'relay.log');
await waitFor(async () => (await fetch(BASE + '/api/v1/apps')).status === 401, 15000, 'the relay');
const opts = `relay=ws://127.0.0.1:${port}/ingest,app=${APP},cpu=10ms,flush=1s,token=${INGEST}`;
const jvm = start(path.join(JDK, 'bin/java'), [`-agentpath:${AGENT}=${opts}`, '-cp', classes, 'CpuSplit', '14', '9', '1'], 'jvm.log');
await waitFor(async () => {
  const r = await fetch(`${BASE}/api/v1/profile?app=${APP}&type=cpu&from=now-5m&to=now`, { headers: { Authorization: 'Bearer ' + READ } });
  return r.ok && (await r.json()).names.some(n => n.includes('CpuSplit.burnA'));
}, 40000, 'the JVM\'s profile in the relay');

const browser = await launch();
try {
  const page = await newPage(browser);
  const urls = [];
  page.on('request', r => urls.push(r.url()));
  page.on('websocket', ws => urls.push(ws.url()));
  let prompts = 0;
  page.on('dialog', d => { prompts++; d.type() === 'prompt' ? d.accept(READ) : d.dismiss(); });

  await page.goto(BASE + '/');
  await page.waitForSelector('table.apps a.appname', { timeout: 20000 });
  check(prompts === 1, 'the UI asked for a token once, after the API answered 401', `${prompts} prompts`);
  check((await page.textContent('table.apps')).includes(APP), 'with the token the apps list shows the app');

  await page.click(`a.appname:text("${APP}")`);
  await waitDrawn(page, 20000);
  check(await labelBox(page, 'CpuSplit.burnA') !== null, 'the flame graph shows the JVM\'s hot method');
  await page.waitForFunction(() => /st-live/.test(document.querySelector('#live').className), null, { timeout: 20000 })
    .catch(() => {});
  check(/st-live/.test(await page.getAttribute('#live', 'class')), 'the live websocket is accepted with the token',
    await page.textContent('#live'));
  await shot(page, OUT, '01-flame-with-token');

  // an export, fetched with the token and saved
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.click('a.btn.small:text("collapsed")')]);
  const file = path.join(OUT, 'export.collapsed.txt');
  await dl.saveAs(file);
  check(fs.readFileSync(file, 'utf8').includes('CpuSplit.burnA'), 'the collapsed export downloads with the token',
    dl.suggestedFilename());

  // the tab keeps the token: a reload asks nothing
  await page.reload();
  await waitDrawn(page, 20000);
  check(prompts === 1, 'a reload of the tab does not ask again', `${prompts} prompts`);
  check(await page.evaluate(() => sessionStorage.getItem('cprof.token')) === READ, 'the token is kept in sessionStorage');

  // a new tab (new browser context) has no token: it asks, and a wrong one is refused
  const p2 = await newPage(browser);
  let asked2 = 0;
  p2.on('request', r => urls.push(r.url()));
  p2.on('dialog', d => { asked2++; d.accept(asked2 === 1 ? 'cpt_wrong' : READ); });
  await p2.goto(BASE + '/');
  await p2.waitForSelector('table.apps a.appname', { timeout: 20000 });
  check(asked2 === 2, 'another tab asks again; a wrong token is refused and asked once more', `${asked2} prompts`);
  await p2.close();

  check(urls.length > 5 && !urls.some(u => u.includes(READ) || u.includes(INGEST) || u.includes('cpt_')),
    'no token in any URL the pages requested', `${urls.length} URLs`);
  check(page.problems.filter(p => !/401/.test(p)).length === 0, 'no console errors or CSP violations',
    page.problems.join(' | '));
  const relayLog = fs.readFileSync(path.join(OUT, 'relay.log'), 'utf8');
  check(!relayLog.includes(READ) && !relayLog.includes(INGEST), 'no token in the relay log');
  check(await jvm.done === 0, 'the JVM exited cleanly');
} finally {
  await browser.close();
}
done();
