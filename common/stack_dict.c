/* stack_dict.c - being written (issue 2). */
