package dev.cprof;

/**
 * Entry points the cprof agent offers to Java code.
 *
 * <h2>Per-request context</h2>
 * Every sample the agent takes on a thread (CPU, wall, allocation, lock)
 * carries that thread's current context: up to {@value Ctx#MAX_PAIRS}
 * label pairs and an optional trace id / span id.
 * <pre>{@code
 * try (Cprof.Scope s = Cprof.context("tenant", "acme", "job", "nightly")) {
 *     try (Cprof.Scope t = Cprof.trace(traceIdHex, spanIdHex)) {
 *         work();              // samples: tenant=acme, job=nightly, trace, span
 *     }
 * }                            // the previous context is back
 * }</pre>
 * Rules (docs/context.md):
 * <ul>
 * <li>{@link #context} adds its pairs to the current ones; a key that is
 *     already set takes the new value; a {@code null} value removes the key.
 *     Pairs beyond {@value Ctx#MAX_PAIRS}, empty keys and null keys are
 *     ignored; keys and values are cut at {@value Ctx#MAX_LEN} chars. An odd
 *     number of arguments throws IllegalArgumentException.</li>
 * <li>{@link #trace} sets the trace id (32 hex digits, or 16: the high half
 *     is then 0) and span id (16 hex digits; null or invalid: 0) and keeps the
 *     labels. An invalid or all-zero trace id gives a scope that changes
 *     nothing.</li>
 * <li>{@link Scope#close} restores exactly the context that was current when
 *     the scope opened (labels, trace and span), on the thread that closes it;
 *     a second close does nothing. Close scopes in reverse order (try-with-
 *     resources does).</li>
 * <li>Context is per thread (per virtual thread too). To carry it to another
 *     thread, take {@link #current()} and {@link #attach} it there.</li>
 * <li>Without the agent (or before it started) every call is a cheap no-op
 *     that returns a scope; nothing is ever thrown for a missing agent.</li>
 * <li>Label values should have low cardinality (endpoints, tenants, job
 *     names): the agent keeps at most {@value Ctx#MAX_SETS} distinct label
 *     sets per JVM; past that, new sets fall back to their parent set and
 *     are counted (context.overflow). Ids belong in trace/span, not labels.</li>
 * </ul>
 */
public final class Cprof {
    private Cprof() {}

    /** The cprof version this jar was built with. */
    public static String version() {
        return "0.1.0";
    }

    /**
     * Adds key/value label pairs to this thread's context until the returned
     * scope is closed.
     * @param keyValues key1, value1, key2, value2, ...
     * @throws IllegalArgumentException for an odd number of arguments
     */
    public static Scope context(String... keyValues) {
        return Ctx.context(keyValues);
    }

    /**
     * Sets this thread's trace id and span id (hex, W3C traceparent form)
     * until the returned scope is closed; labels stay as they are.
     */
    public static Scope trace(String traceIdHex, String spanIdHex) {
        return Ctx.trace(traceIdHex, spanIdHex);
    }

    /** This thread's context, immutable: hand it to another thread's {@link #attach}. */
    public static Context current() {
        return Ctx.current();
    }

    /**
     * Makes {@code c} this thread's whole context (labels, trace, span) until
     * the returned scope closes; null means the empty context. For work
     * handed to another thread (executors).
     */
    public static Scope attach(Context c) {
        return Ctx.attach(c);
    }

    /**
     * Publishes this thread's context to the agent again. The agent reads a
     * per-OS-thread slot: call this after a virtual thread was mounted on a
     * carrier (the carrier's slot still holds the previous thread's context).
     */
    public static void refresh() {
        Ctx.refresh();
    }

    /** Restores the context that was current when it was opened. */
    public static final class Scope implements AutoCloseable {
        final Ctx.State state;   // null: a scope that changes nothing
        final Context prev;
        boolean closed;

        Scope(Ctx.State state, Context prev) {
            this.state = state;
            this.prev = prev;
        }

        /** Restores the previous context; idempotent; never throws. */
        @Override
        public void close() {
            if (closed || state == null) return;
            closed = true;
            Ctx.restore(state, prev);
        }
    }

    /** An immutable context: a label set, a trace id and a span id. */
    public static final class Context {
        static final Context EMPTY = new Context(0, Ctx.NO_PAIRS, 0, 0, 0);

        final int set;           // the agent's label-set id (0: none)
        final String[] pairs;    // k1, v1, k2, v2... sorted by key; never modified
        final long traceHi, traceLo, span;

        Context(int set, String[] pairs, long traceHi, long traceLo, long span) {
            this.set = set;
            this.pairs = pairs;
            this.traceHi = traceHi;
            this.traceLo = traceLo;
            this.span = span;
        }

        /** The label pairs: key1, value1, ... sorted by key (a copy). */
        public String[] labels() {
            return pairs.clone();
        }

        /** The trace id as 32 hex digits, or null when none is set. */
        public String traceId() {
            if (traceHi == 0 && traceLo == 0) return null;
            return Ctx.hex(traceHi) + Ctx.hex(traceLo);
        }

        /** The span id as 16 hex digits, or null when none is set. */
        public String spanId() {
            return span == 0 ? null : Ctx.hex(span);
        }
    }
}
