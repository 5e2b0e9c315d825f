// fixtures.mjs - synthetic relay API answers for the UI's fixture test
// (ui_fixture.mjs): profiles built from collapsed stacks with the same flat
// tree layout the relay sends (docs/api.md), including a 50,000-node one for
// the speed budget. Used only by tests; the end-to-end test (ui_e2e.mjs)
// talks to a real relay.

// stacks: Map("a;b;c" -> value). kindOf(name) -> frame kind.
export function treeFromStacks(stacks, kindOf = () => 0) {
  const root = { name: '<root>', self: 0, total: 0, kids: new Map() };
  for (const [stack, v] of stacks) {
    let n = root;
    n.total += v;
    for (const f of stack.split(';')) {
      let c = n.kids.get(f);
      if (!c) { c = { name: f, self: 0, total: 0, kids: new Map() }; n.kids.set(f, c); }
      c.total += v;
      n = c;
    }
    n.self += v;
  }
  const names = [], kinds = [], ids = new Map(), tree = [];
  const id = nm => { if (!ids.has(nm)) { ids.set(nm, names.length); names.push(nm); kinds.push(nm === '<root>' ? 6 : kindOf(nm)); } return ids.get(nm); };
  const walk = (n, parent) => {
    const me = tree.length / 4;
    tree.push(parent, id(n.name), n.self, n.total);
    for (const c of [...n.kids.values()].sort((a, b) => b.total - a.total)) walk(c, me);
  };
  walk(root, -1);
  return { names, kinds, tree, total: root.total };
}

export function diffFromStacks(base, cmp, kindOf = () => 0) {
  const keys = new Set([...base.keys(), ...cmp.keys()]);
  const both = new Map();
  for (const k of keys) both.set(k, [base.get(k) || 0, cmp.get(k) || 0]);
  // Build a tree over both sides; sort children by combined normalised total.
  const bt = [...base.values()].reduce((a, b) => a + b, 0), ct = [...cmp.values()].reduce((a, b) => a + b, 0);
  const root = { name: '<root>', v: [0, 0, 0, 0], kids: new Map() };
  for (const [stack, [b, c]] of both) {
    let n = root;
    n.v[1] += b; n.v[3] += c;
    for (const f of stack.split(';')) {
      let k = n.kids.get(f);
      if (!k) { k = { name: f, v: [0, 0, 0, 0], kids: new Map() }; n.kids.set(f, k); }
      k.v[1] += b; k.v[3] += c;
      n = k;
    }
    n.v[0] += b; n.v[2] += c;
  }
  const names = [], kinds = [], ids = new Map(), tree = [];
  const id = nm => { if (!ids.has(nm)) { ids.set(nm, names.length); names.push(nm); kinds.push(nm === '<root>' ? 6 : kindOf(nm)); } return ids.get(nm); };
  const w = n => n.v[1] / (bt || 1) + n.v[3] / (ct || 1);
  const walk = (n, parent) => {
    const me = tree.length / 6;
    tree.push(parent, id(n.name), ...n.v);
    for (const c of [...n.kids.values()].sort((a, b) => w(b) - w(a))) walk(c, me);
  };
  walk(root, -1);
  return { base: { total: bt }, cmp: { total: ct }, unit: 'samples', names, kinds, tree, functions: [] };
}

export function javaKind(nm) {
  if (nm.startsWith('[') || nm.endsWith('_[k]')) return 5;
  if (nm.includes('::') || nm.startsWith('lib') || nm.endsWith('.so')) return 4;
  if (nm.startsWith('Thread ') || nm.startsWith('thread ')) return 6;
  if (nm.endsWith('_[i]')) return 3;
  return nm.length % 7 === 0 ? 1 : (nm.length % 5 === 0 ? 3 : 2);
}

// A small realistic profile: a worker pool whose hot method is `hot`.
export function demoStacks(hot = 'com.example.Work.hashLoop', scale = 1) {
  const s = new Map();
  const pre = 'java.lang.Thread.run;java.util.concurrent.ThreadPoolExecutor$Worker.run;java.util.concurrent.ThreadPoolExecutor.runWorker;com.example.Job.run';
  s.set(`${pre};com.example.Work.process;${hot}`, 700 * scale);
  s.set(`${pre};com.example.Work.process;com.example.Work.parse;java.lang.String.split`, 120 * scale);
  s.set(`${pre};com.example.Work.process;com.example.Work.parse;java.util.regex.Pattern.matcher`, 60 * scale);
  s.set(`${pre};com.example.Work.flush;java.io.FileOutputStream.write;libc.so.6::write;[k] vfs_write`, 90 * scale);
  s.set('java.lang.Thread.run;com.example.Main.main;com.example.Main.idleLoop;java.lang.Thread.sleep', 20 * scale);
  s.set('thread C2 CompilerThread0;libjvm.so::C2Compiler::compile_method', 80 * scale);
  s.set('thread GC Thread#0;libjvm.so::G1ParTask::work', 30 * scale);
  return s;
}

// Deterministic pseudo-random numbers (mulberry32).
export function rng(seed) {
  return () => {
    seed |= 0; seed = seed + 0x6D2B79F5 | 0;
    let t = Math.imul(seed ^ seed >>> 15, 1 | seed);
    t = t + Math.imul(t ^ t >>> 7, 61 | t) ^ t;
    return ((t ^ t >>> 14) >>> 0) / 4294967296;
  };
}

// A profile with at least `nodes` nodes: random stacks sharing prefixes.
export function bigStacks(nodes = 50000, seed = 42) {
  const r = rng(seed);
  const pool = [];
  for (let i = 0; i < 9000; i++) pool.push(`org.big${i % 97}.pkg${i % 13}.Class${i}.method${i % 29}`);
  const stacks = new Map();
  const prefixes = [['java.lang.Thread.run']];
  let count = 1;
  const seen = new Set(['java.lang.Thread.run']);
  while (count < nodes) {
    const base = prefixes[Math.floor(Math.pow(r(), 2) * prefixes.length)];
    const depth = 1 + Math.floor(r() * 6);
    const st = base.slice();
    for (let d = 0; d < depth && st.length < 60; d++) {
      st.push(pool[Math.floor(r() * pool.length)]);
      const key = st.join(';');
      if (!seen.has(key)) { seen.add(key); count++; }
    }
    prefixes.push(st);
    const key = st.join(';');
    stacks.set(key, (stacks.get(key) || 0) + 1 + Math.floor(Math.pow(r(), 4) * 500));
  }
  stacks.set('java.lang.Thread.run;com.example.Needle.findMe', 5000);
  return stacks;
}
