"""Builds cprof_pyspark.zip: mkzip.py OUT FILE... (each FILE stored as
cprof_pyspark/<name>, with a fixed timestamp so the build is reproducible).
A zip on PYTHONPATH (Spark's --py-files) is importable as is."""
import os
import sys
import zipfile

out, files = sys.argv[1], sys.argv[2:]
with zipfile.ZipFile(out + ".tmp", "w", zipfile.ZIP_DEFLATED) as z:
    for f in sorted(files):
        info = zipfile.ZipInfo("cprof_pyspark/" + os.path.basename(f), date_time=(2026, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with open(f, "rb") as fh:
            z.writestr(info, fh.read())
os.replace(out + ".tmp", out)
