// profile.js - the in-memory model of one flame graph (a merged profile or a diff).
//
// Input is the relay's flat tree (docs/api.md, GET /api/v1/profile and
// /api/v1/diff): `tree` holds 4 ints per node [parent, name, self, total]
// (6 for a diff: [parent, name, base_self, base_total, cmp_self, cmp_total]),
// node 0 is the root (parent -1), nodes are in depth-first pre-order and
// siblings come by descending total. `names[i]` is a frame name and
// `kinds[i]` its frame kind.
//
// Everything is turned into typed arrays once (O(n)), so that drawing,
// hit-testing, search and the functions table never allocate per node.
// Invariants (pre-order): the subtree of node i is the index range
// [i, end[i]); a child's `start` is its parent's start plus the totals of
// the siblings before it, so x positions need no recursion.

export const KIND_NAMES = ['Java', 'interpreted', 'JIT compiled', 'inlined', 'native',
  'kernel', 'thread', 'allocation', 'lock', 'error', 'Python'];

export class Profile {
  // json: the API answer. diff: true for /api/v1/diff answers.
  constructor(json, diff = false) {
    const stride = diff ? 6 : 4;
    const t = json.tree || [];
    const n = Math.floor(t.length / stride);
    this.diff = diff;
    this.n = n;
    this.names = json.names || [];
    this.kinds = json.kinds || [];
    this.unit = json.unit || '';
    this.parent = new Int32Array(n);
    this.name = new Int32Array(n);
    this.self = new Float64Array(n);
    this.total = new Float64Array(n);
    this.depth = new Int32Array(n);
    this.start = new Float64Array(n);
    this.end = new Int32Array(n);
    if (diff) {
      this.baseSelf = new Float64Array(n); this.baseTotal = new Float64Array(n);
      this.cmpSelf = new Float64Array(n); this.cmpTotal = new Float64Array(n);
      this.baseSum = (json.base && json.base.total) || 0;
      this.cmpSum = (json.cmp && json.cmp.total) || 0;
    }
    const next = new Float64Array(n);   // next free offset for a child of node i
    let maxDepth = 0;
    const bs = this.baseSum || 1, cs = this.cmpSum || 1;
    for (let i = 0; i < n; i++) {
      const o = i * stride;
      const p = t[o];
      this.parent[i] = p;
      this.name[i] = t[o + 1];
      if (diff) {
        // Width in a diff: the mean of both normalised shares, so frames that
        // exist on one side only stay visible. Scaled to 1e6 = whole graph.
        this.baseSelf[i] = t[o + 2]; this.baseTotal[i] = t[o + 3];
        this.cmpSelf[i] = t[o + 4]; this.cmpTotal[i] = t[o + 5];
        this.self[i] = 5e5 * (t[o + 2] / bs + t[o + 4] / cs);
        this.total[i] = 5e5 * (t[o + 3] / bs + t[o + 5] / cs);
      } else {
        this.self[i] = t[o + 2];
        this.total[i] = t[o + 3];
      }
      this.end[i] = i + 1;
      if (p >= 0 && p < i) {
        const d = this.depth[p] + 1;
        this.depth[i] = d;
        if (d > maxDepth) maxDepth = d;
        this.start[i] = next[p];
        next[p] += this.total[i];
      } else {
        this.depth[i] = 0;
        this.start[i] = 0;
      }
      next[i] = this.start[i];
    }
    for (let i = n - 1; i > 0; i--) {
      const p = this.parent[i];
      if (p >= 0 && this.end[i] > this.end[p]) this.end[p] = this.end[i];
    }
    this.maxDepth = maxDepth;
    this.rootTotal = n ? this.total[0] : 0;
    this.sum = diff ? 1e6 : (json.total != null ? json.total : this.rootTotal);
  }

  nameOf(i) { return this.names[this.name[i]] ?? '?'; }
  kindOf(i) { return this.kinds[this.name[i]] ?? 0; }

  // Children of node i, in stored order (descending total).
  children(i) {
    const out = [];
    for (let c = i + 1; c < this.end[i]; c = this.end[c]) out.push(c);
    return out;
  }

  // Frame names from the root's child down to node i: a stable identity of a
  // node across refreshes (node indices change when new data arrives).
  pathOf(i) {
    const out = [];
    for (; i > 0; i = this.parent[i]) out.push(this.nameOf(i));
    return out.reverse();
  }

  // Inverse of pathOf: the deepest node matching a prefix of the path.
  findPath(path) {
    let cur = 0;
    for (const nm of path) {
      let found = -1;
      for (let c = cur + 1; c < this.end[cur]; c = this.end[c]) {
        if (this.nameOf(c) === nm) { found = c; break; }
      }
      if (found < 0) break;
      cur = found;
    }
    return cur;
  }

  // Node whose rectangle holds horizontal position x (in the units of
  // `start`) at the given depth, descending from `from`; -1 if none.
  hit(from, depth, x) {
    if (depth < this.depth[from]) {
      // Ancestor rows of a zoomed view span the full width.
      let a = from;
      while (this.depth[a] > depth) a = this.parent[a];
      return a;
    }
    let cur = from;
    while (this.depth[cur] < depth) {
      let found = -1;
      for (let c = cur + 1; c < this.end[cur]; c = this.end[c]) {
        if (x >= this.start[c] && x < this.start[c] + this.total[c]) { found = c; break; }
      }
      if (found < 0) return -1;
      cur = found;
    }
    return cur;
  }

  // Matches a search: Uint8Array over name ids (1 = match). The query is a
  // case-insensitive substring, `=name` for one exact name, or a regular
  // expression when written /re/.
  matchNames(query) {
    if (this._mq === query && this._mm) return this._mm;   // graph and table ask in turn
    const m = new Uint8Array(this.names.length);
    this._mq = query; this._mm = m;
    if (!query) return m;
    let test;
    const re = /^\/(.+)\/$/.exec(query);
    if (query[0] === '=') {
      const exact = query.slice(1);
      test = s => s === exact;
    } else if (re) {
      let rx;
      try { rx = new RegExp(re[1], 'i'); } catch (e) { return m; }
      test = s => rx.test(s);
    } else {
      // Lower-cased names are kept: typing a search re-runs this per key.
      const q = query.toLowerCase();
      const lower = this._lower || (this._lower = this.names.map(s => s.toLowerCase()));
      for (let k = 0; k < lower.length; k++) if (lower[k].includes(q)) m[k] = 1;
      return m;
    }
    for (let k = 0; k < this.names.length; k++) if (test(this.names[k])) m[k] = 1;
    return m;
  }

  // Per-node match flags plus the combined share of all matches: a match
  // nested under another match is counted once (its outermost ancestor).
  searchNodes(nameMatch, within = 0) {
    const hit = new Uint8Array(this.n);
    let value = 0, count = 0;
    const covered = new Uint8Array(this.n);
    for (let i = within; i < this.end[within]; i++) {
      const p = this.parent[i];
      const cov = i !== within && p >= 0 && (covered[p] || hit[p]);
      covered[i] = cov ? 1 : 0;
      if (nameMatch[this.name[i]]) {
        hit[i] = 1; count++;
        if (!cov) value += this.total[i];
      }
    }
    return { hit, value, count };
  }

  // Functions in the subtree of `within`: self is the sum of self over all
  // frames of that name; total counts a frame only when no ancestor on its
  // stack has the same name (so recursion is not counted twice).
  functions(within = 0) {
    // Search and sort ask again for the same zoom: keep the last few.
    const cache = this._fnCache || (this._fnCache = new Map());
    let r = cache.get(within);
    if (!r) {
      r = this._functions(within);
      if (cache.size >= 8) cache.delete(cache.keys().next().value);
      cache.set(within, r);
    }
    return r;
  }

  _functions(within) {
    const nn = this.names.length;
    const self = new Float64Array(nn), total = new Float64Array(nn);
    const onPath = new Int32Array(nn);
    const seen = new Uint8Array(nn);
    const stack = [];
    const diff = this.diff;
    const bSelf = diff ? new Float64Array(nn) : null, bTot = diff ? new Float64Array(nn) : null;
    const cSelf = diff ? new Float64Array(nn) : null, cTot = diff ? new Float64Array(nn) : null;
    for (let i = within; i < this.end[within]; i++) {
      const p = this.parent[i];
      while (stack.length && stack[stack.length - 1] !== p) onPath[this.name[stack.pop()]]--;
      const k = this.name[i];
      seen[k] = 1;
      self[k] += this.self[i];
      if (diff) { bSelf[k] += this.baseSelf[i]; cSelf[k] += this.cmpSelf[i]; }
      if (onPath[k] === 0) {
        total[k] += this.total[i];
        if (diff) { bTot[k] += this.baseTotal[i]; cTot[k] += this.cmpTotal[i]; }
      }
      onPath[k]++;
      stack.push(i);
    }
    const ids = [];
    for (let k = 0; k < nn; k++) if (seen[k] && !(within === 0 && k === this.name[0])) ids.push(k);
    return { ids, self, total, bSelf, bTot, cSelf, cTot };
  }

  // Lowest common ancestor of all frames named nameId (0 when none).
  lcaOfName(nameId) {
    let lca = -1;
    for (let i = 0; i < this.n; i++) {
      if (this.name[i] !== nameId) continue;
      if (lca < 0) { lca = i; continue; }
      let a = lca, b = i;
      while (this.depth[a] > this.depth[b]) a = this.parent[a];
      while (this.depth[b] > this.depth[a]) b = this.parent[b];
      while (a !== b) { a = this.parent[a]; b = this.parent[b]; }
      lca = a;
    }
    return lca < 0 ? 0 : lca;
  }
}
