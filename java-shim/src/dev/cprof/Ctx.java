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
        Cprof.Context cur = Cprof.Context.EMPTY;
        ByteBuffer slot;      // the fast path: this platform thread's slot in the agent
        boolean jni;          // publish through set0 (virtual thread, or no slot0)
        String traceHex;      // the last valid trace id parsed, and its halves
        long traceHi, traceLo;
        int bad;              // parseHex: negative after a non-hex digit
        /* The last context() lookups of this thread, direct-mapped by hash:
         * (parent set, a copy of the pairs given) -> labels. Spares the
         * shared map's key object and probe on a repeated call. */
        final int[] lruParent = new int[LRU];
        final String[][] lruKv = new String[LRU][];
        final Labels[] lruVal = new Labels[LRU];
    }

    private static final int LRU = 16;   // a power of two

    /* The agent's slot layout (jvmti/context.c checks it): two records of
     * 32 bytes (labels int at 0, trace_hi long at 8, trace_lo at 16, span at
     * 24), then the current record's index (int, 0 or 1) at 64. */
    private static final int SLOT_REC = 32, SLOT_CUR = 64;
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

        Labels(int set, String[] pairs) {
            this.set = set;
            this.pairs = pairs;
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
        Cprof.Context prev = st.cur;
        Labels l = cached(st, prev.set, kv);
        Cprof.Context c = l.set == prev.set ? prev
                : (prev.traceHi | prev.traceLo | prev.span) == 0 ? l.plain
                : new Cprof.Context(l.set, l.pairs, prev.traceHi, prev.traceLo, prev.span);
        return install(st, prev, c);
    }

    static Cprof.Scope trace(String traceHex, String spanHex) {
        if (!on || traceHex == null) return NOOP;
        State st = TL.get();
        long hi, lo;
        if (traceHex == st.traceHex) {          // the same trace as last time: parsed already
            hi = st.traceHi;
            lo = st.traceLo;
        } else {
            int n = traceHex.length();
            if (n != 32 && n != 16) return NOOP;
            st.bad = 0;
            hi = n == 32 ? parseHex(st, traceHex, 0) : 0;
            lo = parseHex(st, traceHex, n - 16);
            if (st.bad < 0) return NOOP;
            st.traceHex = traceHex;
            st.traceHi = hi;
            st.traceLo = lo;
        }
        if (hi == 0 && lo == 0) return NOOP;
        long span = 0;
        if (spanHex != null && spanHex.length() == 16) {
            st.bad = 0;
            span = parseHex(st, spanHex, 0);
            if (st.bad < 0) span = 0;
        }
        Cprof.Context prev = st.cur;
        return install(st, prev, new Cprof.Context(prev.set, prev.pairs, hi, lo, span));
    }

    static Cprof.Context current() {
        return on ? TL.get().cur : Cprof.Context.EMPTY;
    }

    static Cprof.Scope attach(Cprof.Context c) {
        if (!on) return NOOP;
        State st = TL.get();
        return install(st, st.cur, c == null ? Cprof.Context.EMPTY : c);
    }

    static void refresh() {
        if (!on) return;
        State st = TL.get();
        publish(st, st.cur);
    }

    /** Scope.close(): back to prev on the closing thread (opened is the
     *  opening thread's state). */
    static void restore(State opened, Cprof.Context prev) {
        State st = opened.owner == Thread.currentThread() ? opened : TL.get();
        st.cur = prev;
        if (on) publish(st, prev);
    }

    private static Cprof.Scope install(State st, Cprof.Context prev, Cprof.Context c) {
        st.cur = c;
        publish(st, c);
        return new Cprof.Scope(st, prev);
    }

    /** Writes c to the calling thread's slot (st is its state). */
    private static void publish(State st, Cprof.Context c) {
        ByteBuffer b = st.slot;
        if (b == null && (st.jni || c.set == 0 && c.traceHi == 0 && c.traceLo == 0 || (b = slot(st)) == null)) {
            set0(c.set, c.traceHi, c.traceLo, c.span);
            return;
        }
        int n = b.getInt(SLOT_CUR) == 0 ? 1 : 0;   // the record handlers do not read
        int o = n * SLOT_REC;
        b.putInt(o, c.set);
        b.putLong(o + 8, c.traceHi);
        b.putLong(o + 16, c.traceLo);
        b.putLong(o + 24, c.span);
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
        if (b == null || b.capacity() < SLOT_CUR + 4) {
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
    private static Labels cached(State st, int parent, String[] kv) {
        int h = parent;
        for (String x : kv) h = h * 31 + (x == null ? 0 : x.hashCode());
        int i = (h ^ (h >>> 16)) & (LRU - 1);
        String[] got = st.lruKv[i];
        if (got != null && st.lruParent[i] == parent && same(got, kv)) return st.lruVal[i];
        Labels l = labels(st.cur, kv);
        if (l.set != parent || kv.length == 0) {   // not a fallback to the parent (a full table)
            st.lruParent[i] = parent;
            st.lruKv[i] = kv.clone();                 // the caller may reuse its array
            st.lruVal[i] = l;
        }
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
            if (full) return new Labels(parent.set, parent.pairs);
            id = pairs.length == 0 ? 0 : define0(pairs);
            if (id < 0) {                      // the agent's table is full
                full = true;
                return new Labels(parent.set, parent.pairs);
            }
        }
        l = new Labels(id, pairs);
        SETS.put(new Key(parent.set, kv.clone()), l);   // the caller may reuse its array
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

    private static int digit(int c) {
        if (c >= '0' && c <= '9') return c - '0';
        c |= 0x20;                                   // lower case
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    }

    /** 16 hex digits of s from `from`; st.bad goes negative on a non-hex digit. */
    private static long parseHex(State st, String s, int from) {
        long v = 0;
        int bad = 0;
        for (int i = from; i < from + 16; i++) {
            int d = digit(s.charAt(i));
            bad |= d;                                // -1 for a non-hex digit
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
