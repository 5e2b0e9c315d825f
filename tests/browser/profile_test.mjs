// profile_test.mjs - unit test of relay/ui/js/profile.js (the flame graph
// model) under plain node, no browser: tree layout (depth, x offsets,
// subtree ranges), zoom paths, hit-testing, search with nested matches,
// the functions table with recursion, lowest common ancestor, and the diff
// layout. Run: node tests/browser/profile_test.mjs

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { treeFromStacks, diffFromStacks } from './fixtures.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const { Profile } = await import(path.join(HERE, '../../relay/ui/js/profile.js'));

let passed = 0, failed = 0;
function check(cond, what, extra = '') {
  if (cond) { passed++; console.log('ok - ' + what); }
  else { failed++; console.log('not ok - ' + what + (extra !== '' ? ' (' + extra + ')' : '')); }
}

const stacks = new Map([
  ['main;a;b', 5],
  ['main;a;c', 3],
  ['main;d', 2],
  ['main;r;r;r', 4],        // recursion
  ['main;a', 1],           // self in a
  ['other;b', 5],
]);
const p = new Profile({ unit: 'samples', total: 20, ...treeFromStacks(stacks) });
const node = pathStr => p.findPath(pathStr.split(';'));

check(p.n === 11 && p.rootTotal === 20 && p.sum === 20, 'tree: node count and totals', `${p.n} ${p.rootTotal}`);
check(p.depth[node('main;r;r;r')] === 4 && p.maxDepth === 4, 'depth follows the parent chain');
check(p.start[node('main')] === 0 && p.start[node('other')] === 15, 'siblings are laid out left to right by descending total');
check(p.start[node('main;a;c')] === p.start[node('main;a')] + 5, 'a child starts after its earlier siblings');
const a = node('main;a');
check(p.end[a] - a === 3 && p.children(a).map(i => p.nameOf(i)).join() === 'b,c', 'subtree of a node is an index range', p.end[a] - a);
check(p.pathOf(node('main;a;c')).join(';') === 'main;a;c', 'pathOf inverts findPath');
check(p.findPath(['main', 'a', 'zzz']) === a, 'findPath stops at the deepest existing prefix');
check(p.hit(0, 3, 0.5) === node('main;a;b') && p.hit(0, 3, 5.5) === node('main;a;c'), 'hit finds the frame under x at a depth');
check(p.hit(a, 0, 1e9) === 0, 'rows above a zoomed frame hit its ancestors');
check(p.hit(0, 3, 19) === -1, 'hit outside any frame is -1');

const mb = p.matchNames('b');
const sb = p.searchNodes(mb);
check(sb.count === 2 && sb.value === 10, 'search counts every match and sums their totals', `${sb.count} ${sb.value}`);
const mr = p.matchNames('=r');
const sr = p.searchNodes(mr);
check(sr.count === 3 && sr.value === 4, 'nested matches (recursion) count their value once', `${sr.count} ${sr.value}`);
check(p.searchNodes(p.matchNames('/^(a|d)$/')).value === 11, 'regex search');
check(p.searchNodes(p.matchNames('/(/')).count === 0, 'a broken regex matches nothing instead of throwing');
check(p.matchNames('MAIN')[p.names.indexOf('main')] === 1, 'substring search ignores case');

const f = p.functions(0);
const fn = nm => { const k = p.names.indexOf(nm); return { self: f.self[k], total: f.total[k] }; };
check(fn('b').self === 10 && fn('b').total === 10, 'functions: self and total add up over call sites');
check(fn('r').self === 4 && fn('r').total === 4, 'functions: recursion is not counted twice in total', JSON.stringify(fn('r')));
check(fn('a').self === 1 && fn('a').total === 9, 'functions: a caller has its own self and the total below it');
check(!f.ids.includes(p.names.indexOf('<root>')), 'functions leave out the synthetic root');
const fa = p.functions(a);
check(fa.ids.map(k => p.names[k]).sort().join() === 'a,b,c', 'functions under a zoomed frame only');

check(p.lcaOfName(p.names.indexOf('b')) === 0, 'LCA of frames in two threads is the root');
check(p.lcaOfName(p.names.indexOf('c')) === node('main;a;c'), 'LCA of a single frame is itself');
check(p.lcaOfName(p.names.indexOf('r')) === node('main;r'), 'LCA of recursive frames is the outermost');

// diff: widths are the mean of both normalised shares
const d = new Profile(diffFromStacks(new Map([['m;x', 8], ['m;y', 2]]), new Map([['m;x', 10], ['m;y', 30]])), true);
const dx = d.findPath(['m', 'x']), dy = d.findPath(['m', 'y']);
check(d.baseSum === 10 && d.cmpSum === 40, 'diff: both side totals');
check(Math.abs(d.total[dx] - 5e5 * (0.8 + 0.25)) < 1e-6 && Math.abs(d.total[dy] - 5e5 * (0.2 + 0.75)) < 1e-6, 'diff: width = mean normalised share');
check(Math.abs(d.total[0] - 1e6) < 1e-6 && d.start[dy] === d.total[dx], 'diff: the root is the whole width and children tile it');
const df = d.functions(0);
check(df.cTot[d.names.indexOf('y')] === 30 && df.bSelf[d.names.indexOf('x')] === 8, 'diff: functions keep each side\'s raw values');

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
