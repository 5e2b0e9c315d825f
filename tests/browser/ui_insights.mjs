// ui_insights.mjs - the Insights panel and the apps list's warning badge, on
// a real `cprof relay` fed by a real JVM (tests/java/InsightsUi: a loop that
// splits lines with String.split("[,;]"), compiling the regex every call)
// and a calm one (InsightsUi calm: the same work with the pattern compiled
// once), driven in chromium:
//  - the apps list draws at once and badges the app with WARN findings
//    (the count the API gives), not the calm one; the list's 5 s refreshes
//    reuse the answer (one /insights request per app);
//  - the app view's panel lists the findings in the API's order with their
//    severity; a finding expands to its evidence (share with CI and
//    samples, callers, example stack, worst window, instances, saving,
//    fix), the same numbers as the API;
//  - "Show in flame graph", clicked while the graph shows another type
//    (the app sends cpu and alloc), switches to the finding's type and
//    range and highlights its frames (the search shows them, the rest
//    fades, the table lists them); a caller likewise; a frame of the
//    example stack zooms the graph to it along that stack;
//  - rules without enough data are listed quietly;
//  - an unknown app is said once (the view's message), the panel says it
//    has nothing to check; no console errors or CSP violations.
// Screenshots go to $CPROF_TEST_OUT or <build>/test-out/ui_insights.
//
// Run: CPROF_BUILD=build node tests/browser/ui_insights.mjs

import { launch, newPage, check, done, shot, outDir, waitDrawn, sleep } from './lib.mjs';
import { Relay, needJvm, javaRun, getJson, waitFor, cleanup } from './realrelay.mjs';
import { fracPct as pctText } from '../../relay/ui/js/insights.js';
import { fmtCount } from '../../relay/ui/js/util.js';

needJvm();
const OUT = outDir('ui_insights');
const APP = 'regex', CALM = 'calm';
const relay = new Relay(OUT);
await relay.start();
const browser = await launch();

try {
  const one = javaRun(relay, 'InsightsUi', `app=${APP},cpu=10ms,alloc=256k,flush=1s`, [14, 'regex'], 'jvm-regex.log');
  const two = javaRun(relay, 'InsightsUi', `app=${CALM},cpu=10ms,flush=1s`, [14, 'calm'], 'jvm-calm.log');
  check(await one.done === 0 && await two.done === 0, 'both JVMs ran and exited');
  await sleep(1500);     // the last flush
  const q = `from=now-15m&to=now`;
  const ins = await waitFor(async () => {
    const r = await getJson(relay.base, `/api/v1/insights?app=${APP}&${q}`);
    return (r.findings || []).some(f => f.severity === 'WARN' && f.frames.length) ? r : null;
  }, 20000, 'a WARN finding with frames for the regex app');
  const calm = await getJson(relay.base, `/api/v1/insights?app=${CALM}&${q}`);
  const warnN = ins.findings.filter(f => f.severity === 'WARN').length;
  check(!calm.findings.some(f => f.severity === 'WARN'), 'the calm app has no WARN finding (API)',
    calm.findings.map(f => `${f.severity} ${f.rule} ${pctText(f.share)}`).join(', '));
  console.log('# findings: ' + ins.findings.map(f => `${f.severity} ${f.rule}/${f.type} ${pctText(f.share)} frames=${f.frames.join('|')}`).join('; '));

  // ---- apps list: drawn at once, the badge follows, cached over refreshes
  const page = await newPage(browser);
  const insReq = [];
  page.on('request', r => { if (r.url().includes('/api/v1/insights')) insReq.push(r.url()); });
  await page.goto(relay.base + '/');
  await page.waitForSelector('table.apps a.appname');
  await page.waitForSelector('.ibadge.on', { timeout: 10000 }).catch(() => {});
  const badge = app => page.evaluate(a => {
    const b = [...document.querySelectorAll('.ibadge')].find(x => x.dataset.app === a);
    return b ? { on: b.classList.contains('on'), text: b.textContent, title: (b.firstChild && b.firstChild.title) || '' } : null;
  }, app);
  await sleep(500);      // the calm app's answer too
  const b1 = await badge(APP), b2 = await badge(CALM);
  check(b1 && b1.on && b1.text === (warnN === 1 ? '1 warning' : `${warnN} warnings`), 'the apps list badges the app with WARN findings', JSON.stringify(b1));
  check(b1 && ins.findings.filter(f => f.severity === 'WARN').every(f => b1.title.includes(f.title)), 'the badge names the warnings', b1 && b1.title);
  check(b2 && !b2.on && b2.text === '', 'the calm app gets no badge', JSON.stringify(b2));
  await shot(page, OUT, '01-apps');
  await sleep(11000);    // two refreshes of the list
  const perApp = app => insReq.filter(u => new URL(u).searchParams.get('app') === app).length;
  check(perApp(APP) === 1 && perApp(CALM) === 1, 'one /insights request per app over three list refreshes (cached)', insReq.length);
  check((await badge(APP)).on, 'the badge stays after a refresh of the list');

  // ---- the panel: findings in the API's order, severity, evidence
  await page.click(`a.appname:text("${APP}")`);
  await waitDrawn(page);
  await page.waitForSelector('details.finding');
  const shown = await page.$$eval('details.finding', ds => ds.map(d => [d.dataset.rule, d.dataset.type, d.querySelector('.sev').textContent]));
  check(JSON.stringify(shown) === JSON.stringify(ins.findings.map(f => [f.rule, f.type, f.severity])),
    'the panel lists the findings in the order of the API, with their severity', JSON.stringify(shown));
  const head = await page.textContent('.ins-sum');
  check(new RegExp(`${warnN} warning`).test(head), 'the panel head counts the warnings', head);
  const fi = ins.findings.findIndex(x => x.severity === 'WARN' && x.frames.length);
  const f = ins.findings[fi];
  const sel = `ol.findings > li:nth-child(${fi + 1}) > details.finding`;
  check(!(await page.isVisible(`${sel} .evidence`)), 'findings start folded');
  await page.click(`${sel} summary`);
  const ev = (await page.textContent(`${sel} .evidence`)).replace(/\s+/g, ' ');
  const want = [
    ['share', pctText(f.share)], ['CI', `95% CI ${pctText(f.ci95[0])} – ${pctText(f.ci95[1])}`],
    ['samples', `${fmtCount(f.samples)} samples`],
    ...(f.instances ? [['instances', `${f.instances.with} of ${f.instances.of} show it`]] : []), ['fix', f.fix.slice(0, 40)],
    ['saving', f.saving.text || String(f.saving.value)],
    ...f.callers.map(c => ['caller ' + c.name, c.name]), ...f.stack.slice(-3).map(s => ['stack frame ' + s, s])];
  for (const [what, text] of want) check(ev.includes(text), `the evidence shows the ${what}`, text);
  if (f.worst_window) check(/Worst window/.test(ev) && ev.includes(pctText(f.worst_window.share)), 'the evidence shows the worst window', pctText(f.worst_window.share));
  const hits = await page.$$eval(`${sel} ol.stack li.hit`, ls => ls.map(l => l.textContent));
  check(hits.length > 0 && hits.every(h => f.frames.includes(h)), 'the example stack marks the matched frames', hits.join(', '));
  await shot(page, OUT, '02-panel');

  // ---- show in flame graph: type, range, highlighted frames
  await page.click(`button[data-type]:not([data-type="${f.type}"])`);   // another type first (cpu and alloc here)
  await page.waitForFunction(t => new URLSearchParams(location.hash.slice(1)).get('type') !== t, f.type);
  await waitDrawn(page);
  await page.click(`${sel} .show-fg`);
  await page.waitForFunction(() => /of total/.test(document.querySelector('.search-info').textContent), null, { timeout: 10000 });
  await waitDrawn(page);
  const hp = new URLSearchParams(page.url().split('#')[1]);
  const onType = await page.getAttribute('button[data-type].on', 'data-type');
  check(hp.get('type') === f.type && onType === f.type && hp.get('from') === 'now-15m' && hp.get('to') === 'now',
    'the graph switches to the finding\'s type and range', page.url().split('#')[1]);
  const labels = await page.$$eval('.fg-label:not([hidden])', ls => ls.map(l => [l.textContent, l.classList.contains('hit'), l.classList.contains('dim')]));
  const hitNames = [...new Set(labels.filter(l => l[1]).map(l => l[0]))];
  check(hitNames.length > 0 && hitNames.every(n => f.frames.includes(n)), 'the matched frames are highlighted in the flame graph', hitNames.join(', '));
  check(labels.some(l => l[2]) && labels.filter(l => l[2]).every(l => !f.frames.includes(l[0])), 'the other frames fade');
  const si = await page.textContent('.search-info');
  check(/of total/.test(si), 'the search line gives the matched frames\' share', si);
  const rows = await page.$$eval('.ftable .gbody .grow', rs => rs.map(r => r.dataset.name));
  check(rows.length > 0 && rows.every(n => f.frames.includes(n)), 'the functions table lists the matched frames', rows.join(', '));
  await shot(page, OUT, '03-flame');

  // ---- a caller: highlighted the same way
  if (f.callers.length) {
    await page.click(`${sel} ol.callers button`);
    await page.waitForFunction(c => new URLSearchParams(location.hash.slice(1)).get('q') === '=' + c, f.callers[0].name, { timeout: 5000 }).catch(() => {});
    const hit2 = await page.$$eval('.fg-label.hit:not([hidden])', ls => [...new Set(ls.map(l => l.textContent))]);
    check(hit2.length === 1 && hit2[0] === f.callers[0].name, 'a caller is highlighted in the flame graph', hit2.join(', '));
  }

  // ---- a frame of the example stack: the graph zooms to it on that path
  if (f.stack.length > 1) {
    const k = f.stack.length - 1;
    await page.click(`${sel} ol.stack li:nth-child(${k + 1}) button`);
    await page.waitForFunction(() => new URLSearchParams(location.hash.slice(1)).get('zoom'), null, { timeout: 5000 }).catch(() => {});
    await waitDrawn(page);
    const z = await page.evaluate(() => { const v = window.cprof.view(); return v.profile.pathOf(v.fg.zoom); });
    check(z.length > 0 && JSON.stringify(z) === JSON.stringify(f.stack.slice(0, z.length)) && z[z.length - 1] === f.stack[k],
      'a frame of the example stack zooms the graph to it', z.slice(-3).join(' > '));
    await shot(page, OUT, '03b-stack-zoom');
  }

  // ---- rules without enough data, listed quietly
  const ned = ins.not_enough_data || [];
  const nedShown = await page.$$eval('.ins-ned .ned', ns => ns.map(n => n.dataset.rule));
  check(JSON.stringify(nedShown) === JSON.stringify(ned.map(n => n.rule)), 'rules without enough data are listed quietly', nedShown.join(', ') || 'none');

  // ---- the calm app: an empty state that says so
  await page.goto(`${relay.base}/#app=${CALM}&type=cpu&from=now-15m&to=now`);
  await waitDrawn(page);
  await page.waitForFunction(() => /warning|note|nothing found/.test((document.querySelector('.ins-sum') || {}).textContent || ''), null, { timeout: 10000 });
  const calmText = (await page.textContent('#insights')).replace(/\s+/g, ' ');
  check(!/\d+ warning/.test(calmText) && (calm.findings.length ? /note/.test(calmText) : /No known problem found/.test(calmText)),
    'the calm app\'s panel has no warning and says what it found', calmText.slice(0, 200));
  await shot(page, OUT, '04-calm');

  // ---- an unknown app: said once, the panel has nothing to check
  await page.goto(`${relay.base}/#app=nope&type=cpu&from=now-15m&to=now`);
  await page.waitForSelector('.error', { timeout: 10000 });
  await page.waitForFunction(() => /Nothing to check/.test(document.querySelector('#insights').textContent), null, { timeout: 10000 }).catch(() => {});
  await sleep(1000);
  const errs = await page.$$eval('.error', es => es.map(e => e.textContent));
  check(errs.length === 1 && /unknown app/.test(errs[0]), 'an unknown app is said once', JSON.stringify(errs));
  const nothing = await page.textContent('#insights');
  check(/Nothing to check/.test(nothing), 'the panel says it has nothing to check', nothing.replace(/\s+/g, ' ').slice(0, 160));
  check(page.problems.length === 0, 'no console errors or CSP violations', page.problems.join(' | '));
} catch (e) {
  check(false, 'test ran to the end', e.stack);
} finally {
  await browser.close();
  await relay.close();
  cleanup();
}
done();
