/* wire.c - being written (issue 2). */
