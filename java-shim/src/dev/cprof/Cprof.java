package dev.cprof;

/** Entry points the cprof agent offers to Java code. */
public final class Cprof {
    private Cprof() {}

    /** The cprof version this jar was built with. */
    public static String version() {
        return "0.1.0";
    }
}
