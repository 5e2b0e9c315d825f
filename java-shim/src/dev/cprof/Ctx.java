package dev.cprof;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The implementation of {@link Cprof#context} and friends (see Cprof's
 * class comment for the rules, docs/context.md for the design).
 *
 * <p>Java side: each thread (virtual threads included) holds its current
 * {@link Cprof.Context} in a ThreadLocal. A label set is interned once by
 * the agent ({@link #define0}: content -> dense id, per JVM) and cached here
 * by (parent set id, the pairs given), so an open on a known set costs a map
 * lookup and two small objects; the last trace id parsed is kept per thread.
 *
 * <p>Agent side: the thread's slot (a double-buffered thread-local record in
 * the agent) that the signal handler copies into each sample; no lock, no
 * allocation there (jvmti/context.h). A platform thread writes its slot
 * itself, through a direct ByteBuffer over it ({@link #slot0}, asked once
 * per thread): the record not current, then the index with a release store
 * (the handler runs on the same thread, so program order is all it needs).
 * No JNI call per open or close. Virtual threads (their slot is the
 * carrier's) and agents without slot0 go through {@link #set0}.
 *
 * <p>{@link #on} is false without the agent (its natives do not link): every
 * call then returns {@link #NOOP} and costs a branch. An agent attached
 * after this class was initialised is seen once it calls cp_context_start.
 */
final class Ctx {
    private Ctx() {}

    static final int MAX_PAIRS = 8;
    static final int MAX_LEN = 200;
    static final int MAX_SETS = 65535;
    static final String[] NO_PAIRS = new String[0];

    /** The agent is in this JVM: its natives answer (found by name in the
     *  agent library, whatever loader loaded this class; see jvmti/context.c).
     *  The agent may also set it when it registers the natives itself. */
    static volatile boolean on = probe();
    /** The agent's label-set table is full: new sets fall back to their parent. */
    private static volatile boolean full;

    static final class State {
        final Thread owner = Thread.currentThread();
        /* The current context, field by field (what publish writes), and as
         * an object: obj, or null until current() or a scope needs it. A
         * trace() scope inside a context() one (the usual nesting) then
         * allocates no Context: its prev is the label set's shared one. */
        int set;
        String[] pairs = NO_PAIRS;
        long hi, lo, span;
        Cprof.Context obj = Cprof.Context.EMPTY;
        ByteBuffer slot;      // the fast path: this platform thread's slot in the agent
        boolean jni;          // publish through set0 (virtual thread, or no slot0)
        String traceHex;      // the last valid trace id parsed, and its halves
        long traceHexHi, traceHexLo;
        int bad;              // parseHex: negative after a non-hex digit
        /* The last context() lookups of this thread, direct-mapped by hash:
         * (parent set, a copy of the pairs given) -> labels. Spares the
         * shared map's key object and probe on a repeated call. */
        final Labels[] lru = new Labels[LRU];
    }

    private static final int LRU = 16;   // a power of two

    /* The agent's slot layout (jvmti/context.c checks it), one cache line:
     * record i's trace_hi, trace_lo and span (longs) at 24 * i, its label
     * set (int) at 48 + 4 * i, then the current record's index (int, 0 or 1)
     * at 56. Its size tells the layout: an agent whose slot is not 64 bytes
     * long (before this layout: 68) is written through set0. */
    private static final int SLOT_IDS = 24, SLOT_LABELS = 48, SLOT_CUR = 56, SLOT_SIZE = 64;
    private static final VarHandle SLOT_INT = MethodHandles.byteBufferViewVarHandle(int[].class,
                                                                                     ByteOrder.nativeOrder());
    /** Thread.isVirtual (JDK 21+), or null. */
    private static final MethodHandle IS_VIRTUAL = isVirtualHandle();
    /** The agent has no slot0 (an older one), or virtual threads cannot be
     *  told apart (JDK 19/20 preview without a usable isVirtual): every
     *  thread uses set0. */
    private static volatile boolean noSlot = IS_VIRTUAL == null && Runtime.version().feature() >= 19;

    private static final ThreadLocal<State> TL = ThreadLocal.withInitial(State::new);
    private static final Cprof.Scope NOOP = new Cprof.Scope(null, null);

    /** (parent set, pairs as given): the cache key of a context() call. */
    private static final class Key {
        final int parent;
        final String[] kv;
        final int hash;

        Key(int parent, String[] kv) {
            this.parent = parent;
            this.kv = kv;
            this.hash = parent * 31 + Arrays.hashCode(kv);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            if (!(o instanceof Key)) return false;
            Key k = (Key) o;
            return k.parent == parent && k.hash == hash && Arrays.equals(k.kv, kv);
        }
    }

    /** A label set known to the agent: id and canonical pairs. */
    private static final class Labels {
        final int set;
        final String[] pairs;
        final Cprof.Context plain;   // this set with no trace: shared, it is immutable
        /* The call it answers: the parent set and the pairs given (a copy),
         * or null for a fallback to the parent (a full table), which is not
         * cached. A thread's cache holds these objects, so a hit reads one
         * object (and the pairs' copy) besides the cache's slot. */
        final int parent;
        final String[] kv;

        Labels(int set, String[] pairs, int parent, String[] kv) {
            this.set = set;
            this.pairs = pairs;
            this.parent = parent;
            this.kv = kv;
            this.plain = new Cprof.Context(set, pairs, 0, 0, 0);
        }
    }

    private static final ConcurrentHashMap<Key, Labels> SETS = new ConcurrentHashMap<>();

    static Cprof.Scope context(String[] kv) {
        if (kv == null) kv = NO_PAIRS;
        if ((kv.length & 1) != 0)
            throw new IllegalArgumentException("Cprof.context: key/value pairs expected, got " + kv.length + " strings");
        if (!on) return NOOP;
        State st = TL.get();
        Cprof.Context prev = cur(st);
        Labels l = cached(st, prev, kv);
        if (l.set != st.set) {
            st.set = l.set;
            st.pairs = l.pairs;
            st.obj = (st.hi | st.lo | st.span) == 0 ? l.plain : null;
            publish(st);
        }
        return new Cprof.Scope(st, prev);
    }

    static Cprof.Scope trace(String traceHex, String spanHex) {
        if (!on || traceHex == null) return NOOP;
        State st = TL.get();
        long hi, lo;
        if (traceHex == st.traceHex) {          // the same trace as last time: parsed already
            hi = st.traceHexHi;
            lo = st.traceHexLo;
        } else {
            int n = traceHex.length();
            if (n != 32 && n != 16) return NOOP;
            st.bad = 0;
            hi = n == 32 ? parseHex(st, traceHex, 0) : 0;
            lo = parseHex(st, traceHex, n - 16);
            if (st.bad < 0) return NOOP;
            st.traceHex = traceHex;
            st.traceHexHi = hi;
            st.traceHexLo = lo;
        }
        if (hi == 0 && lo == 0) return NOOP;
        long span = 0;
        if (spanHex != null && spanHex.length() == 16) {
            st.bad = 0;
            span = parseHex(st, spanHex, 0);
            if (st.bad < 0) span = 0;
        }
        Cprof.Context prev = cur(st);
        st.hi = hi;
        st.lo = lo;
        st.span = span;
        st.obj = null;
        publish(st);
        return new Cprof.Scope(st, prev);
    }

    static Cprof.Context current() {
        return on ? cur(TL.get()) : Cprof.Context.EMPTY;
    }

    /** st's current context as an object (made once, when first asked). */
    private static Cprof.Context cur(State st) {
        Cprof.Context c = st.obj;
        if (c == null) st.obj = c = new Cprof.Context(st.set, st.pairs, st.hi, st.lo, st.span);
        return c;
    }

    static Cprof.Scope attach(Cprof.Context c) {
        if (!on) return NOOP;
        State st = TL.get();
        Cprof.Context prev = cur(st);
        set(st, c == null ? Cprof.Context.EMPTY : c);
        publish(st);
        return new Cprof.Scope(st, prev);
    }

    static void refresh() {
        if (!on) return;
        publish(TL.get());
    }

    /** Scope.close(): back to prev on the closing thread (opened is the
     *  opening thread's state). */
    static void restore(State opened, Cprof.Context prev) {
        State st = opened.owner == Thread.currentThread() ? opened : TL.get();
        set(st, prev);
        if (on) publish(st);
    }

    /** Makes c st's current context (publish tells the agent). */
    private static void set(State st, Cprof.Context c) {
        st.set = c.set;
        st.pairs = c.pairs;
        st.hi = c.traceHi;
        st.lo = c.traceLo;
        st.span = c.span;
        st.obj = c;
    }

    /** Writes st's current context to the calling thread's slot (st is its state). */
    private static void publish(State st) {
        ByteBuffer b = st.slot;
        if (b == null && (st.jni || st.set == 0 && st.hi == 0 && st.lo == 0 || (b = slot(st)) == null)) {
            set0(st.set, st.hi, st.lo, st.span);
            return;
        }
        int n = b.getInt(SLOT_CUR) == 0 ? 1 : 0;   // the record handlers do not read
        int o = n * SLOT_IDS;
        b.putInt(SLOT_LABELS + 4 * n, st.set);
        b.putLong(o, st.hi);
        b.putLong(o + 8, st.lo);
        b.putLong(o + 16, st.span);
        SLOT_INT.setRelease(b, SLOT_CUR, n);     // the record is whole before a handler can pick it
    }

    /** The calling platform thread's slot, asked once; null: use set0. */
    private static ByteBuffer slot(State st) {
        ByteBuffer b = null;
        if (!noSlot && !isVirtual()) {
            try {
                b = slot0();
            } catch (UnsatisfiedLinkError e) {   // an older agent
                noSlot = true;
            }
        }
        if (b == null || b.capacity() != SLOT_SIZE) {
            st.jni = true;
            return null;
        }
        return st.slot = b.order(ByteOrder.nativeOrder());
    }

    private static boolean isVirtual() {
        if (IS_VIRTUAL == null) return false;
        try {
            return (boolean) IS_VIRTUAL.invokeExact(Thread.currentThread());
        } catch (Throwable t) {
            return true;                          // unsure: the JNI path is right for both
        }
    }

    private static MethodHandle isVirtualHandle() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual",
                                                            MethodType.methodType(boolean.class));
        } catch (ReflectiveOperationException e) {
            return null;                          // before JDK 21: no virtual threads
        }
    }

    /** labels(), through the thread's small cache. */
    private static Labels cached(State st, Cprof.Context prev, String[] kv) {
        int parent = prev.set;
        int h = parent;
        for (String x : kv) h = h * 31 + (x == null ? 0 : x.hashCode());
        int i = (h ^ (h >>> 16)) & (LRU - 1);
        Labels got = st.lru[i];
        if (got != null && got.parent == parent && same(got.kv, kv)) return got;
        Labels l = labels(prev, kv);
        if (l.kv != null) st.lru[i] = l;   // not a fallback to the parent (a full table)
        return l;
    }

    private static boolean same(String[] a, String[] b) {
        if (a.length != b.length) return false;
        for (int i = 0; i < a.length; i++)
            if (a[i] != b[i] && (a[i] == null || !a[i].equals(b[i]))) return false;
        return true;
    }

    private static Labels labels(Cprof.Context parent, String[] kv) {
        Key k = new Key(parent.set, kv);
        Labels l = SETS.get(k);
        if (l != null) return l;
        String[] pairs = merge(parent.pairs, kv);
        int id = Arrays.equals(pairs, parent.pairs) ? parent.set : -1;
        if (id < 0) {
            if (full) return new Labels(parent.set, parent.pairs, parent.set, null);
            id = pairs.length == 0 ? 0 : define0(pairs);
            if (id < 0) {                      // the agent's table is full
                full = true;
                return new Labels(parent.set, parent.pairs, parent.set, null);
            }
        }
        String[] copy = kv.clone();                   // the caller may reuse its array
        l = new Labels(id, pairs, parent.set, copy);
        SETS.put(new Key(parent.set, copy), l);
        return l;
    }

    /** parent pairs (sorted) + kv: new values win, null removes; sorted by key. */
    static String[] merge(String[] parent, String[] kv) {
        String[] keys = new String[parent.length / 2 + kv.length / 2];
        String[] vals = new String[keys.length];
        int n = 0;
        for (int i = 0; i < parent.length; i += 2) {
            keys[n] = parent[i];
            vals[n++] = parent[i + 1];
        }
        for (int i = 0; i < kv.length; i += 2) {
            String key = cut(kv[i]), val = kv[i + 1] == null ? null : cut(kv[i + 1]);
            if (key == null || key.isEmpty()) continue;
            int j = 0;
            while (j < n && !keys[j].equals(key)) j++;
            if (j < n) vals[j] = val;
            else if (val != null && live(vals, n) < MAX_PAIRS) {
                keys[n] = key;
                vals[n++] = val;
            }
        }
        int m = live(vals, n);
        String[][] sorted = new String[m][];
        for (int i = 0, o = 0; i < n; i++)
            if (vals[i] != null) sorted[o++] = new String[] {keys[i], vals[i]};
        Arrays.sort(sorted, (a, b) -> a[0].compareTo(b[0]));
        String[] out = new String[m * 2];
        for (int i = 0; i < m; i++) {
            out[2 * i] = sorted[i][0];
            out[2 * i + 1] = sorted[i][1];
        }
        return out;
    }

    private static int live(String[] vals, int n) {
        int m = 0;
        for (int i = 0; i < n; i++) if (vals[i] != null) m++;
        return m;
    }

    private static String cut(String s) {
        return s == null || s.length() <= MAX_LEN ? s : s.substring(0, MAX_LEN);
    }

    /** Hex digit values by char (< 128), -1 for the rest. */
    private static final byte[] HEX = hexTable();

    private static byte[] hexTable() {
        byte[] t = new byte[128];
        Arrays.fill(t, (byte) -1);
        for (int c = '0'; c <= '9'; c++) t[c] = (byte) (c - '0');
        for (int c = 'a'; c <= 'f'; c++) t[c] = t[c - 0x20] = (byte) (c - 'a' + 10);
        return t;
    }

    /** 16 hex digits of s from `from`; st.bad goes negative on a non-hex
     *  digit. A table, not a digit-or-letter test: ids are random digits,
     *  so that branch mispredicts about every other char (in situ, among
     *  H2's code, the old test cost ~2% of a 7 us statement). */
    private static long parseHex(State st, String s, int from) {
        long v = 0;
        int bad = 0;
        for (int i = from; i < from + 16; i++) {
            int c = s.charAt(i);
            int d = HEX[c & 127] | (127 - c) >> 31;   // -1 for a non-hex digit (or a char >= 128)
            bad |= d;
            v = (v << 4) | (d & 15);
        }
        st.bad |= bad;
        return v;
    }

    static String hex(long v) {
        String s = Long.toHexString(v);
        return "0000000000000000".substring(s.length()) + s;
    }

    private static boolean probe() {
        try {
            return on0();
        } catch (Throwable t) {          // UnsatisfiedLinkError: no agent
            return false;
        }
    }

    private static native boolean on0();

    /** Interns a label set (k1, v1, ... sorted by key) in the agent; its id
     *  (> 0), or -1 when the agent's table is full. */
    private static native int define0(String[] pairs);

    /** Publishes the calling thread's context to the agent's per-thread slot. */
    private static native void set0(int set, long traceHi, long traceLo, long span);

    /** A direct buffer over the calling thread's slot in the agent (layout
     *  above), or null; valid while the thread lives. */
    private static native ByteBuffer slot0();
}
