/**
 * A JVM that starts a plain Python program (not PySpark) and waits for it:
 * for python=children (test_python_children.py).
 *
 *   java PyChild PYTHON SCRIPT ARGS...
 *
 * Runs the child with inherited output, prints "child exit N", and exits
 * with the child's status.
 */
public class PyChild {
    public static void main(String[] a) throws Exception {
        Process p = new ProcessBuilder(a).inheritIO().start();
        int rc = p.waitFor();
        System.out.println("child exit " + rc);
        System.exit(rc);
    }
}
