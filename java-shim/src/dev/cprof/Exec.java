package dev.cprof;

import java.util.concurrent.Callable;
import java.util.concurrent.ForkJoinTask;

/**
 * Context that follows work handed to executors (context.executors=true).
 *
 * <p>The agent rewrites the entry of ThreadPoolExecutor.execute,
 * ScheduledThreadPoolExecutor.execute/schedule*, and ForkJoinPool.execute/
 * submit (jvmti/httpctx.c, CP_CF_HOOK_EXEC): their task argument is replaced
 * by {@code wrap(task)} before the method body runs. The wrapper remembers
 * the submitting thread's context ({@link Cprof#current}) and runs the task
 * under it ({@link Cprof#attach}); afterwards the pool thread's own context
 * is back, so the next task cannot inherit it.
 *
 * <p>Not wrapped: a task submitted with an empty context (nothing to carry),
 * a task that is already a wrapper, and ForkJoinTasks given to a
 * ForkJoinPool (the pool runs those itself; {@link #wrapFj}). A pool's
 * shutdownNow() returns the wrappers, not the original Runnables: the price
 * of this opt-in option.
 */
public final class Exec {
    private Exec() {}

    public static Runnable wrap(Runnable r) {
        if (r == null || r instanceof Task) return r;
        Cprof.Context c = Cprof.current();
        return empty(c) ? r : new Task(r, c);
    }

    public static <T> Callable<T> wrap(Callable<T> c) {
        if (c == null || c instanceof Call) return c;
        Cprof.Context x = Cprof.current();
        return empty(x) ? c : new Call<>(c, x);
    }

    public static Runnable wrapFj(Runnable r) {
        return r instanceof ForkJoinTask ? r : wrap(r);
    }

    public static <T> Callable<T> wrapFj(Callable<T> c) {
        return wrap(c);
    }

    private static boolean empty(Cprof.Context c) {
        return c == null || (c.set == 0 && c.traceHi == 0 && c.traceLo == 0 && c.span == 0);
    }

    /** A Runnable run under the submitter's context. */
    static final class Task implements Runnable {
        final Runnable task;
        final Cprof.Context ctx;

        Task(Runnable task, Cprof.Context ctx) {
            this.task = task;
            this.ctx = ctx;
        }

        @Override
        public void run() {
            try (Cprof.Scope s = Cprof.attach(ctx)) {
                task.run();
            }
        }

        @Override
        public String toString() {
            return task.toString();
        }
    }

    /** A Callable run under the submitter's context. */
    static final class Call<T> implements Callable<T> {
        final Callable<T> task;
        final Cprof.Context ctx;

        Call(Callable<T> task, Cprof.Context ctx) {
            this.task = task;
            this.ctx = ctx;
        }

        @Override
        public T call() throws Exception {
            try (Cprof.Scope s = Cprof.attach(ctx)) {
                return task.call();
            }
        }

        @Override
        public String toString() {
            return task.toString();
        }
    }
}
