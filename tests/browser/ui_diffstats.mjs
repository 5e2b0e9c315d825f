// ui_diffstats.mjs - the compare view's statistics (docs/diff.md) with a
// real relay, real JVMs and chromium. Four tests/java/DiffWork JVMs run at
// once: two labelled side=base, two side=cmp whose DiffWork.hot does twice
// its work (its share goes from ~25% to ~40%). The compare view of the two
// label sets must show the summary line, the REGRESSION verdict, DiffWork.hot
// as a coloured failing row, the other methods' falls in colour, and the
// unchanged methods greyed and hidden until "Show all". The range boxes show
// local date-times with the zone and take now-1h and RFC 3339.
// Screenshots: <build>/test-out/ui_diffstats.
//
// Run: CPROF_BUILD=build node tests/browser/ui_diffstats.mjs

import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { launch, newPage, check, done, shot, outDir, sleep, SOURCE, BUILD } from './lib.mjs';
import { AGENT, JDK, needJvm, start, Relay, cleanup } from './realrelay.mjs';

const OUT = outDir('ui_diffstats');
needJvm();

const classes = path.join(BUILD, 'test-java-classes');
fs.mkdirSync(classes, { recursive: true });
const src = path.join(SOURCE, 'tests/java/DiffWork.java');
const cls = path.join(classes, 'DiffWork.class');
if (!fs.existsSync(cls) || fs.statSync(cls).mtimeMs < fs.statSync(src).mtimeMs)
  execFileSync(path.join(JDK, 'bin/javac'), ['--release', '11', '-nowarn', '-d', classes, src]);

const relay = new Relay(OUT);
await relay.start();
const browser = await launch();
try {
  const t0 = Math.floor(Date.now() / 1000) - 1;
  const jvms = [['base', 0], ['base', 0], ['cmp', 1], ['cmp', 1]].map(([side, slow], i) => start(path.join(JDK, 'bin/java'),
    [`-agentpath:${AGENT}=relay=${relay.ws}/ingest,app=gate,label.side=${side},cpu=1ms,flush=1s,overhead=off`, '-cp', classes,
      'DiffWork', '60', String(slow), '3'], path.join(OUT, `jvm-${i}.log`)));   // 3 s of CPU each, however busy the machine
  for (const j of jvms) check(await j.done === 0, 'DiffWork exited cleanly');
  await sleep(2500);   // the last flush
  const t1 = Math.floor(Date.now() / 1000) + 1;

  const page = await newPage(browser);
  await page.goto(`${relay.base}/#view=compare&app=gate&type=cpu&bfrom=${t0}&bto=${t1}&blabels=side%3Dbase` +
    `&cfrom=${t0}&cto=${t1}&clabels=side%3Dcmp`);
  await page.waitForSelector('.diff-stats-summary', { timeout: 20000 });
  const summary = await page.textContent('.diff-stats-summary');
  check(/^\d+ significant regressions?, \d+ improvements?, \d+ methods? unchanged\.$/.test(summary), 'the summary line', summary);
  check((await page.textContent('.verdict')) === 'REGRESSION', 'the verdict badge says REGRESSION');
  const rows = await page.$$eval('table.diffstats tbody tr', trs => trs.map(t => ({
    name: t.dataset.name, cls: t.className, verdict: t.dataset.verdict, change: t.dataset.change,
    colour: getComputedStyle(t.querySelector('td.delta')).color, text: t.textContent })));
  check(rows.length && rows[0].name === 'DiffWork.hot' && rows[0].verdict === 'REGRESSION' && /fail/.test(rows[0].cls),
    'DiffWork.hot is the first row, a failing regression', JSON.stringify(rows.slice(0, 2)));
  check(rows[0].colour === 'rgb(214, 39, 40)', 'a regression is red', rows[0].colour);
  const falls = rows.filter(r => r.change === 'fall').map(r => r.name);
  const fallColours = rows.filter(r => r.change === 'fall').map(r => r.colour);
  check(['DiffWork.parse', 'DiffWork.hash', 'DiffWork.render'].some(n => falls.includes(n)) &&
    fallColours.every(c => c === 'rgb(31, 102, 196)'),
    'the other methods lost share (each ~5pp): significant falls, in colour', falls.join(', '));
  check(rows.every(r => !/insig/.test(r.cls)), 'only flagged methods are listed before "Show all"', rows.length + ' rows');
  await shot(page, OUT, '01-significant');

  await page.click('#diff-show-all');
  await page.waitForSelector('table.diffstats tr.insig');
  const all = await page.$$eval('table.diffstats tbody tr', trs => trs.map(t => ({ cls: t.className,
    colour: getComputedStyle(t.querySelector('td.name')).color, opacity: getComputedStyle(t.querySelector('td')).opacity })));
  const grey = all.filter(r => /insig/.test(r.cls));
  check(grey.length > 0 && all.length > rows.length, 'Show all adds the unchanged methods', `${rows.length} -> ${all.length}`);
  check(grey.every(r => r.colour === 'rgb(106, 114, 131)' && r.opacity === '0.75'), 'unchanged methods are greyed', JSON.stringify(grey[0]));
  await shot(page, OUT, '02-show-all');

  // a method row selects it in the functions table
  await page.click('table.diffstats tr[data-name="DiffWork.hot"]');
  await page.waitForFunction(() => decodeURIComponent(location.hash).includes('q==DiffWork.hot'));

  // the range boxes: local date-times with the zone; now-1h and RFC 3339 accepted
  const fromText = await page.inputValue('#base-from');
  check(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(fromText), 'the base start is a readable local time', fromText);
  const zone = await page.textContent('.side.base .zone');
  check(zone.length > 0, 'the zone is shown beside the boxes', zone);
  const rfc = new Date(t1 * 1000).toISOString().replace('.000Z', 'Z');
  await page.fill('#base-from', 'now-1h');
  await page.fill('#base-to', rfc);
  await page.click('#compare-apply');
  await page.waitForFunction(t => location.hash.includes('bfrom=now-1h') && location.hash.includes('bto=' + t), t1);
  check(true, 'now-1h and RFC 3339 are taken (bfrom=now-1h, bto=unix seconds)');
  await page.waitForSelector('.diff-stats-summary');
  await shot(page, OUT, '03-typed-range');
} finally {
  await browser.close();
  await relay.close();
  cleanup();
}
done();
