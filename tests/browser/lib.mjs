// lib.mjs - shared helpers for the UI browser tests: launch Debian's
// chromium through playwright-core (no downloads, see FACTS.md), collect
// console errors and CSP violations (any is a test failure), save
// screenshots, and tiny assertion helpers that print TAP-like lines.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Missing tools skip the test (exit 77, meson's convention) instead of
// failing it: scripts/setup installs both.
const pw = await import('playwright-core').catch(() => null);
if (!pw) { console.log('SKIP: playwright-core not installed (run scripts/setup)'); process.exit(77); }
const { chromium } = pw;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) { console.log(`SKIP: no ${CHROMIUM} (apt-get install chromium)`); process.exit(77); }

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SOURCE = process.env.CPROF_SOURCE || path.resolve(HERE, '../..');
export const BUILD = process.env.CPROF_BUILD || path.join(SOURCE, 'build');
export const UI_DIR = path.join(SOURCE, 'relay/ui');
// The relay's CSP (libwebsockets' security best practices), to serve
// fixtures under the same rules.
export const CSP = "default-src 'none'; img-src 'self' data: ; script-src 'self'; font-src 'self'; style-src 'self'; " +
  "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none';form-action 'self';";

// Like cplib.out_dir: $CPROF_TEST_OUT/<name> or <build>/test-out/<name>.
export function outDir(name) {
  const d = path.join(process.env.CPROF_TEST_OUT || path.join(BUILD, 'test-out'), name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

// A page that records console errors, page errors and CSP violations.
export async function newPage(browser, size = { width: 1400, height: 1000 }) {
  const ctx = await browser.newContext({ viewport: size, deviceScaleFactor: 1 });
  const page = await ctx.newPage();
  page.problems = [];
  page.on('console', m => {
    if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) page.problems.push('console: ' + m.text());
    if (/Content Security Policy/i.test(m.text())) page.problems.push('CSP: ' + m.text());
  });
  page.on('pageerror', e => page.problems.push('pageerror: ' + e.message));
  return page;
}

let failures = 0, passes = 0;
export function check(cond, what, extra = '') {
  if (cond) { passes++; console.log(`ok - ${what}${extra ? ' (' + extra + ')' : ''}`); }
  else { failures++; console.log(`not ok - ${what}${extra ? ' (' + extra + ')' : ''}`); }
  return cond;
}

export function done() {
  console.log(`${passes} passed, ${failures} failed`);
  process.exit(failures ? 1 : 0);
}

export async function shot(page, dir, name, maxHeight = 1700) {
  const f = path.join(dir, name + '.png');
  // Draw every table row (the UI skips off-screen rows with
  // content-visibility), and cut very long pages at maxHeight.
  const h = await page.evaluate(() => { document.documentElement.classList.add('no-cv'); return document.documentElement.scrollHeight; });
  const vp = page.viewportSize();
  await page.screenshot({ path: f, fullPage: true, clip: { x: 0, y: 0, width: vp.width, height: Math.min(h, maxHeight) } });
  await page.evaluate(() => document.documentElement.classList.remove('no-cv'));
  console.log('# screenshot ' + f);
  return f;
}

// Wait for the app view to have drawn a profile (status line says "drawn").
export async function waitDrawn(page, timeout = 15000) {
  await page.waitForFunction(() => {
    const s = document.querySelector('.status-line');
    return s && /drawn in/.test(s.textContent);
  }, null, { timeout });
}

export function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

// Screen position of the centre of the flame-graph label with this exact text.
export async function labelBox(page, text) {
  return page.evaluate(t => {
    for (const d of document.querySelectorAll('.fg-label')) {
      if (!d.hidden && d.textContent === t) {
        // the mouse only reaches what is inside the viewport
        d.scrollIntoView({ block: 'center', inline: 'nearest' });
        const r = d.getBoundingClientRect();
        return { x: r.left + Math.min(r.width / 2, 40), y: r.top + r.height / 2, w: r.width };
      }
    }
    return null;
  }, text);
}
