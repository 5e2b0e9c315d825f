"""A stand-in for the parts of PySpark an executor JVM talks to (tests only;
Debian has no PySpark). See daemon.py."""
