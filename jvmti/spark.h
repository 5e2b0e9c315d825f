/* spark.h - recognise a Spark executor JVM and name it with labels.
 *
 * A Spark executor is a JVM whose main class is one of
 *   org.apache.spark.executor.CoarseGrainedExecutorBackend      (standalone, local-cluster)
 *   org.apache.spark.executor.YarnCoarseGrainedExecutorBackend  (YARN, Spark 3+)
 *   org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend (Kubernetes, 3.4+)
 * started with program arguments like
 *   --driver-url spark://CoarseGrainedScheduler@10.0.0.1:41234 --executor-id 3
 *   --hostname 10.0.0.7 --cores 4 --app-id app-20261122011500-0007 ...
 * or any JVM carrying the system properties -Dspark.app.id= / -Dspark.executor.id=.
 * From these the agent adds three labels by itself, so every executor of a
 * job (also those added later by dynamic allocation) lands under one app
 * and can be told apart:
 *   spark.app.id       --app-id      (or -Dspark.app.id)
 *   spark.executor.id  --executor-id (or -Dspark.executor.id)
 *   host               --hostname    (or the machine's host name)
 *
 * Pure C over a command line (no JNI), so unit tests feed fake argvs.
 * Thread: any; no global state. Not signal-safe (called at option setup). */
#ifndef CP_SPARK_H
#define CP_SPARK_H

#include <stddef.h>

#define CP_SPARK_VAL_MAX 256

typedef struct cp_spark_labels {
    char app_id[CP_SPARK_VAL_MAX];       /* label "spark.app.id", "" if unknown */
    char executor_id[CP_SPARK_VAL_MAX];  /* label "spark.executor.id" */
    char host[CP_SPARK_VAL_MAX];         /* label "host" */
} cp_spark_labels_t;

/* Label keys, in the order of the struct's fields. */
#define CP_SPARK_LABEL_APP_ID      "spark.app.id"
#define CP_SPARK_LABEL_EXECUTOR_ID "spark.executor.id"
#define CP_SPARK_LABEL_HOST        "host"

/* argv as the kernel holds it: argv[0] is the launcher ("java"), then JVM
 * options, the main class and its arguments. Returns 1 and fills *out when
 * this is a Spark executor, 0 when not (out zeroed), CP_EINVAL on NULL.
 * host stays "" when the command line does not name one. */
int cp_spark_labels(int argc, const char *const *argv, cp_spark_labels_t *out /* OUT */);

/* Same over /proc/PID/cmdline bytes (NUL-separated; any number of words;
 * an unterminated last word is dropped). CP_ENOMEM if the word index
 * cannot be allocated. */
int cp_spark_labels_from_cmdline(const char *buf, size_t len,
                                 cp_spark_labels_t *out /* OUT */);

/* Same over the `sun.java.command` system property: main class and its
 * arguments separated by spaces (no JVM options, so no -D properties). */
int cp_spark_labels_from_java_command(const char *cmd, cp_spark_labels_t *out /* OUT */);

/* For the agent, at option setup: looks at /proc/self/cmdline, then at
 * `java_command` (the sun.java.command property; may be NULL); fills host
 * with gethostname() when the command line names none. Returns 1 for a
 * Spark executor, 0 if not. Typical use:
 *
 *   cp_spark_labels_t sl;
 *   if (cp_spark_labels_self(java_command, &sl) > 0) {
 *       if (sl.app_id[0])      cp_options_set_label(o, CP_SPARK_LABEL_APP_ID, sl.app_id);
 *       if (sl.executor_id[0]) cp_options_set_label(o, CP_SPARK_LABEL_EXECUTOR_ID, sl.executor_id);
 *       if (sl.host[0])        cp_options_set_label(o, CP_SPARK_LABEL_HOST, sl.host);
 *   }
 */
int cp_spark_labels_self(const char *java_command, cp_spark_labels_t *out /* OUT */);

#endif
