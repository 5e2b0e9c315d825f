/* A stand-in for Spark's executor main class, for tests only (Debian has no
 * Spark). It is started exactly as a Spark worker starts an executor:
 *
 *   java <spark.executor.extraJavaOptions> -cp ... \
 *     org.apache.spark.executor.CoarseGrainedExecutorBackend \
 *     --driver-url spark://CoarseGrainedScheduler@HOST:PORT --executor-id N \
 *     --hostname HOST --cores C --app-id APP [--worker-url URL] \
 *     [--resourceProfileId 0] [--seconds S]
 *
 * and runs "tasks" on C threads for S seconds (default 30): each task burns
 * CPU in TaskRunner.runTask, as an executor spends its time in task code.
 * The agent must recognise it by its main class and arguments alone.
 *
 * PySpark mode (-Dspark.pyspark.python=/usr/bin/python3
 * -Dcprof.test.pythonpath=DIR -Dcprof.test.command=FILE): tasks run in
 * Python workers forked by `python -m pyspark.daemon` (a stand-in from
 * tests/python; -Dspark.python.daemon.module=M picks another module, as
 * the Spark conf does), through org.apache.spark.api.python.PythonRunner;
 * FILE holds the pickled function the driver would ship. Each task gets
 * the next TID and its thread is renamed as Spark's TaskRunner does:
 * "Executor task launch worker for task P.0 in stage S.0 (TID N)"
 * (-Dcprof.test.stage=S, default 1; -Dcprof.test.records=R records per
 * task, default 40; -Dcprof.test.tasks=T stops each thread after T tasks). */
package org.apache.spark.executor;

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.api.python.PythonRunner;

public class CoarseGrainedExecutorBackend {
    static volatile long sink;
    static byte[] pythonCommand;
    static final AtomicLong nextTid = new AtomicLong();
    static final AtomicInteger nextPartition = new AtomicInteger();

    static final class TaskRunner implements Runnable {
        final long end;
        TaskRunner(long end) { this.end = end; }

        static long runTask(int partition) {
            long x = partition;
            for (int i = 0; i < 300_000; i++) {
                x = x * 6364136223846793005L + 1442695040888963407L;
                x ^= (x >>> 29);
            }
            return x;
        }

        public void run() {
            int partition = 0;
            int stage = Integer.getInteger("cprof.test.stage", 1);
            int records = Integer.getInteger("cprof.test.records", 40);
            int tasks = Integer.getInteger("cprof.test.tasks", Integer.MAX_VALUE);
            try {
                for (int done = 0; System.currentTimeMillis() < end && done < tasks; done++) {
                    if (pythonCommand != null) {
                        int p = nextPartition.getAndIncrement();
                        long tid = nextTid.getAndIncrement();
                        Thread.currentThread().setName("Executor task launch worker for task " + p
                            + ".0 in stage " + stage + ".0 (TID " + tid + ")");
                        PythonRunner.Task t = new PythonRunner.Task(stage, p, 0, tid, String.valueOf(stage * 10));
                        sink += PythonRunner.compute(t, pythonCommand, records);
                        System.out.println("task done TID " + tid + " partition " + p);
                    } else {
                        sink += runTask(partition++);
                    }
                }
            } catch (Exception e) {
                e.printStackTrace();
                System.exit(3);
            }
        }
    }

    public static void main(String[] args) throws Exception {
        String appId = null, executorId = null, hostname = null, driverUrl = null;
        int cores = 1, seconds = 30;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--driver-url": driverUrl = args[i + 1]; break;
                case "--executor-id": executorId = args[i + 1]; break;
                case "--hostname": hostname = args[i + 1]; break;
                case "--cores": cores = Integer.parseInt(args[i + 1]); break;
                case "--app-id": appId = args[i + 1]; break;
                case "--seconds": seconds = Integer.parseInt(args[i + 1]); break;
                default: break;   // --worker-url, --resourceProfileId, ...
            }
        }
        if (appId == null || executorId == null || hostname == null || driverUrl == null) {
            System.err.println("Usage: CoarseGrainedExecutorBackend [options] (missing required)");
            System.exit(1);
        }
        String python = System.getProperty("spark.pyspark.python");
        if (python != null) {
            pythonCommand = Files.readAllBytes(Paths.get(System.getProperty("cprof.test.command")));
            int port = PythonRunner.startDaemon(python, System.getProperty("cprof.test.pythonpath"));
            System.out.println("python daemon listening on 127.0.0.1:" + port);
            // as a driver takes a moment to send the first task (and a
            // profiler's discovery of the new daemon, up to 0.5 s, with it)
            Thread.sleep(Long.getLong("cprof.test.warmup_ms", 0L));
        }
        System.out.println("executor " + executorId + " of " + appId + " on " + hostname + " started");
        System.out.flush();
        long end = System.currentTimeMillis() + seconds * 1000L;
        Thread[] ts = new Thread[cores];
        for (int c = 0; c < cores; c++) {
            ts[c] = new Thread(new TaskRunner(end), "Executor task launch worker for task " + c);
            ts[c].start();
        }
        for (Thread t : ts) t.join();
        System.out.println("executor " + executorId + " done");
    }
}
