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
 * tests/python), through org.apache.spark.api.python.PythonRunner; FILE
 * holds the pickled function the driver would ship. */
package org.apache.spark.executor;

import java.nio.file.Files;
import java.nio.file.Paths;
import org.apache.spark.api.python.PythonRunner;

public class CoarseGrainedExecutorBackend {
    static volatile long sink;
    static byte[] pythonCommand;

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
            try {
                while (System.currentTimeMillis() < end) {
                    if (pythonCommand != null) {
                        sink += PythonRunner.compute(partition++, pythonCommand, 40);
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
