"""cprof_pyspark.worker - `spark.python.worker.module=cprof_pyspark.worker`
(executors without the daemon: spark.python.use.daemon=false). Installs
the TaskContext hook and runs pyspark.worker as __main__."""
import runpy

import cprof_pyspark

if __name__ == "__main__":
    cprof_pyspark.install()
    cprof_pyspark.link_agent(sample_self_now=True)
    runpy.run_module("pyspark.worker", run_name="__main__", alter_sys=True)
