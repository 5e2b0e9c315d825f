// realrelay.mjs - a real `cprof relay` and real JVMs for the browser tests
// that need them (ui_outage, ui_explain, ui_insights): free port, a relay
// that can be stopped and started again on the same port and data
// directory, tests/java programs (CpuSplit, ...) run with the agent, JSON
// reads, and waits. Children are killed on exit.

import fs from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { sleep, SOURCE, BUILD, UI_DIR } from './lib.mjs';

export const CPROF = path.join(BUILD, 'cli', 'cprof');
export const AGENT = path.join(BUILD, 'jvmti', 'libcprof-jvm.so');
export const JDK = ['/usr/lib/jvm/java-17-openjdk-amd64', '/usr/lib/jvm/temurin-25-jdk-amd64'].find(j => fs.existsSync(j + '/bin/java'));
// As in tests/integration/cplib.py: JVMs started here sample at the
// intervals their test asks for. Under the default 1% budget a short JVM on
// a busy machine had its CPU interval stretched to ~20 samples in 14 s
// (ui_insights' apps then read "Too few samples"); a test of the budget
// passes overhead=N% in its options (options win over CPROF_*).
process.env.CPROF_OVERHEAD ??= 'off';
const children = [];

export function cleanup() { for (const p of children) if (p.exitCode === null && p.signalCode === null) { try { p.kill('SIGKILL'); } catch (e) { /* gone */ } } }
process.on('exit', cleanup);

// Skips the test (exit 77) without a JDK, the CLI or the agent.
export function needJvm() {
  if (!JDK || !fs.existsSync(CPROF) || !fs.existsSync(AGENT)) {
    console.log(`SKIP: need a JDK, ${CPROF} and ${AGENT}`);
    process.exit(77);
  }
}

export function freePort() {
  return new Promise(res => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)); }); });
}

export function start(cmd, args, logFile) {
  const log = fs.openSync(logFile, 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', log, log] });
  p.done = new Promise(r => p.on('exit', code => r(code)));
  children.push(p);
  return p;
}

// describe (optional, async): what the page held at the timeout, for the error.
export async function waitFor(fn, timeoutMs, what, describe) {
  const end = Date.now() + timeoutMs;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await sleep(250);
  }
  let seen = '';
  if (describe) { try { seen = '; ' + await describe(); } catch (e) { seen = '; ' + e; } }
  throw new Error(`timed out waiting for ${what} (last: ${last}${seen})`);
}

export async function getJson(base, p) {
  const r = await fetch(base + p);
  if (!r.ok) throw new Error(`${p}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

// A relay on a free port with its own data directory; stop() and start()
// again keep both (an outage, then the same relay back).
export class Relay {
  constructor(outDir) {
    this.out = outDir;
    this.data = fs.mkdtempSync(path.join(os.tmpdir(), 'cprof-ui-'));
  }

  async start() {
    if (!this.port) this.port = await freePort();
    this.base = `http://127.0.0.1:${this.port}`;
    this.ws = `ws://127.0.0.1:${this.port}`;
    this.proc = start(CPROF, ['relay', '--listen', `127.0.0.1:${this.port}`, '--data', this.data, '--ui', UI_DIR],
      path.join(this.out, 'relay.log'));
    await waitFor(async () => (await fetch(this.base + '/api/v1/apps')).ok, 15000, 'the relay');
  }

  async stop() {
    this.proc.kill('SIGTERM');
    await Promise.race([this.proc.done, sleep(10000)]);
    if (this.proc.exitCode === null && this.proc.signalCode === null) { this.proc.kill('SIGKILL'); await this.proc.done; }
  }

  async close() {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) await this.stop();
    fs.rmSync(this.data, { recursive: true, force: true });
  }
}

// Compiles tests/java/NAME.java once per build (same place as cplib.py);
// returns the class path.
export function javaClasses(name) {
  const classes = path.join(BUILD, 'test-java-classes');
  fs.mkdirSync(classes, { recursive: true });
  const src = path.join(SOURCE, `tests/java/${name}.java`);
  const cls = path.join(classes, `${name}.class`);
  if (!fs.existsSync(cls) || fs.statSync(cls).mtimeMs < fs.statSync(src).mtimeMs)
    execFileSync(path.join(JDK, 'bin/javac'), ['--release', '11', '-nowarn', '-d', classes, src]);
  return classes;
}

export function cpuSplitClasses() { return javaClasses('CpuSplit'); }

// tests/java/NAME with args, profiled by the agent (opts: agent options
// after relay=, e.g. "app=a,cpu=10ms"); the log goes next to the relay's.
export function javaRun(relay, name, opts, args, logName) {
  return start(path.join(JDK, 'bin/java'), [`-agentpath:${AGENT}=relay=${relay.ws}/ingest,${opts}`, '-cp', javaClasses(name), name,
    ...args.map(String)], path.join(relay.out, logName || `jvm-${name}.log`));
}

// CpuSplit for secs seconds (burnA : burnB = a : b) with the agent sending
// to relay as app, labels {run}; flush every second.
export function cpuSplit(relay, app, run, secs, a = 9, b = 1) {
  const opts = `relay=${relay.ws}/ingest,app=${app},label.run=${run},cpu=10ms,flush=1s`;
  return start(path.join(JDK, 'bin/java'), [`-agentpath:${AGENT}=${opts}`, '-cp', cpuSplitClasses(), 'CpuSplit', String(secs), String(a), String(b)],
    path.join(relay.out, `jvm-${app}-${run}.log`));
}
