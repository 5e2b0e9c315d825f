/* A stand-in for the JVM side of PySpark's worker protocol (tests only; see
 * tests/python/pyspark/daemon.py and worker.py for the Python side).
 *
 * startDaemon() runs `python -m <spark.python.daemon.module>` (default
 * pyspark.daemon) with the secret in its environment and reads the port it
 * prints, as PythonWorkerFactory does. compute() runs one task as
 * PySpark's BasePythonRunner does: connect (a new worker per task: no
 * reuse), read the worker's pid, authenticate, start the "stdout writer
 * for python" thread that streams the task header (partition, Python
 * version, barrier, then the TaskContext: stage, partition, attempt, task
 * attempt id, cpus, resources, local properties with
 * spark.sql.execution.id), the pickled function and the records, and read
 * the worker's answer in ReaderIterator.read() on the task thread, which is
 * where an executor of a Python job spends its time: blocked on the socket
 * while Python computes. */
package org.apache.spark.api.python;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;

public final class PythonRunner {
    static final int END_OF_DATA_SECTION = -1;
    static final int TIMING_DATA = -3;
    static final int END_OF_STREAM = -4;

    private static Process daemon;
    private static int port;
    private static String secret;

    public static synchronized int startDaemon(String python, String pythonPath) throws IOException {
        if (daemon != null) return port;
        byte[] r = new byte[16];
        new SecureRandom().nextBytes(r);
        StringBuilder sb = new StringBuilder();
        for (byte b : r) sb.append(String.format("%02x", b));
        secret = sb.toString();
        String module = System.getProperty("spark.python.daemon.module", "pyspark.daemon");
        ProcessBuilder pb = new ProcessBuilder(python, "-m", module);
        pb.environment().put("PYTHONPATH", pythonPath);
        pb.environment().put("PYTHON_WORKER_FACTORY_SECRET", secret);
        pb.redirectError(ProcessBuilder.Redirect.INHERIT);
        daemon = pb.start();
        port = new DataInputStream(daemon.getInputStream()).readInt();
        return port;
    }

    static void writeUtf(String s, DataOutputStream out) throws IOException {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        out.writeInt(b.length);
        out.write(b);
    }

    static String readUtf(DataInputStream in) throws IOException {
        byte[] b = new byte[in.readInt()];
        in.readFully(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /* What TaskContext carries to the worker. */
    public static final class Task {
        public final int stage, partition, attempt;
        public final long tid;
        public final String sqlExecutionId;   // null: not a SQL query
        public Task(int stage, int partition, int attempt, long tid, String sqlExecutionId) {
            this.stage = stage;
            this.partition = partition;
            this.attempt = attempt;
            this.tid = tid;
            this.sqlExecutionId = sqlExecutionId;
        }
    }

    static final class WriterThread extends Thread {
        final DataOutputStream out;
        final Task task;
        final int partition;
        final byte[] command;
        final int records;
        volatile Throwable failure;

        WriterThread(DataOutputStream out, Task task, byte[] command, int records) {
            super("stdout writer for python");
            this.out = out;
            this.task = task;
            this.partition = task.partition;
            this.command = command;
            this.records = records;
        }

        @Override public void run() {
            try {
                out.writeInt(partition);
                writeUtf(System.getProperty("cprof.test.pyversion", "3.11"), out);
                out.writeBoolean(false);                 // isBarrier
                out.writeInt(0);                         // boundPort
                writeUtf("", out);                       // barrier secret
                out.writeInt(task.stage);
                out.writeInt(task.partition);
                out.writeInt(task.attempt);
                out.writeLong(task.tid);
                out.writeInt(1);                         // cpus
                out.writeInt(0);                         // resources
                if (task.sqlExecutionId != null) {
                    out.writeInt(1);
                    writeUtf("spark.sql.execution.id", out);
                    writeUtf(task.sqlExecutionId, out);
                } else {
                    out.writeInt(0);
                }
                writeUtf(System.getProperty("cprof.test.filesdir", ""), out);
                out.writeInt(0);                         // python includes
                out.writeBoolean(false);                 // broadcast decryption server
                out.writeInt(0);                         // broadcast variables
                out.writeInt(0);                         // eval type NON_UDF
                out.writeInt(command.length);
                out.write(command);
                for (int i = 0; i < records; i++) {
                    byte[] b = Integer.toString(partition * 1000 + i).getBytes(StandardCharsets.UTF_8);
                    out.writeInt(b.length);
                    out.write(b);
                }
                out.writeInt(END_OF_DATA_SECTION);
                out.writeInt(END_OF_STREAM);             // no more tasks on this worker
                out.flush();
            } catch (Throwable t) {
                failure = t;
            }
        }
    }

    static final class ReaderIterator {
        final DataInputStream in;
        ReaderIterator(DataInputStream in) { this.in = in; }

        /* Reads pickled batches until END_OF_STREAM; returns their bytes. */
        long read() throws IOException {
            long bytes = 0;
            for (;;) {
                int n = in.readInt();
                if (n > 0) {
                    in.readFully(new byte[n]);
                    bytes += n;
                } else if (n == TIMING_DATA) {
                    for (int i = 0; i < 5; i++) in.readLong();   // boot, init, finish, spills
                } else if (n == END_OF_DATA_SECTION) {
                    int accumulators = in.readInt();
                    if (accumulators != 0) throw new IOException("accumulators are not simulated");
                    int end = in.readInt();
                    if (end != END_OF_STREAM) throw new IOException("worker not reusable: " + end);
                    return bytes;
                } else {
                    throw new IOException("unexpected length " + n);
                }
            }
        }
    }

    /* One task; returns the bytes of results received. */
    public static long compute(Task task, byte[] command, int records) throws Exception {
        try (Socket s = new Socket("127.0.0.1", port)) {
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream(), 65536));
            DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream(), 65536));
            int workerPid = in.readInt();                // the forked worker says its pid first
            if (workerPid <= 0) throw new IOException("bad worker pid " + workerPid);
            writeUtf(secret, out);
            out.flush();
            String reply = readUtf(in);
            if (!"ok".equals(reply)) throw new IOException("python worker refused the secret: " + reply);
            WriterThread w = new WriterThread(out, task, command, records);
            w.start();
            long bytes = new ReaderIterator(in).read();
            w.join();
            if (w.failure != null) throw new IOException("writer failed", w.failure);
            return bytes;
        }
    }
}
