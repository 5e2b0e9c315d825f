"""Runs a store unit test binary against a throwaway PostgreSQL cluster
(tests/integration/pg.py): CPROF_TEST_PG=<its URI> ARGV... The fixture
(store_fixture.c) then gives each test a fresh database there, so the
engine-neutral store tests cover both engines. Exit code: the binary's
(77 = skip when no PostgreSQL server is installed)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "integration"))
import pg  # noqa: E402

if not pg.available():
    print("1..0 # SKIP no PostgreSQL 15 server here")
    sys.exit(77)
db = pg.Postgres().start()
try:
    rc = subprocess.call(sys.argv[1:], env=dict(os.environ, CPROF_TEST_PG=db.url))
finally:
    db.destroy()
sys.exit(rc)
