/* noverdict_agent.c - stands in for a cprof agent older than the verdict
 * file (jvmti/verdict.h): it accepts any options, writes no verdict and
 * says on the JVM's stderr what it was given. Built as
 * libcprof-jvm-noverdict.so, so `cprof detach` finds it as a cprof agent.
 * Used by test_attach_verdict. */
#include <jni.h>
#include <stdio.h>

JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved);

JNIEXPORT jint JNICALL Agent_OnAttach(JavaVM *vm, char *options, void *reserved)
{
    (void)vm;
    (void)reserved;
    fprintf(stderr, "noverdict agent: options '%s'\n", options ? options : "");
    fflush(stderr);
    return 0;
}
