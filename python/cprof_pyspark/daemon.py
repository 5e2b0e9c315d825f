"""cprof_pyspark.daemon - `spark.python.daemon.module=cprof_pyspark.daemon`.

Runs pyspark.daemon's manager() with two hooks: pyspark's TaskContext
publishes each task as the worker reads its header, and the daemon's
worker_main ends the labels when the task returns; where the agent may
not read the workers' memory, each forked worker samples itself
(fallback.py). Everything else is the real daemon (fork per connection,
os._exit, reuse). See __init__.py."""
import sys

import cprof_pyspark


def main():
    import pyspark.daemon as daemon
    cprof_pyspark.install()
    cprof_pyspark.link_agent()    # workers sample themselves where the agent may not read them
    daemon.worker_main = cprof_pyspark.wrap_worker_main(daemon.worker_main)
    return daemon.manager()


if __name__ == "__main__":
    sys.exit(main())
