// AllocRewriteSample - input for the class-file rewriter tests (test_classfile).
//
// Exercises what the rewriter must move: array allocations of every kind
// (newarray, anewarray, multianewarray) inside loops, both switch kinds (whose
// padding changes when code moves; also a zero-pair lookupswitch), try/catch/finally (exception tables and
// StackMapTable frames with stack items), lambdas (invokedynamic, bootstrap
// methods), string concatenation (indy on 9+), a constructor allocating
// before super() completes its arguments (Uninitialized frame entries), and
// long/double constants (two-slot pool entries).
//
// stdout: a checksum that must be identical with and without rewriting.
// stderr: "expected=N" = the number of array allocation instructions this
// program executed, counted by hand; a counting shim compares it with the
// number of callbacks it received.
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

public class AllocRewriteSample {
    static long expected;

    static final class Node {
        final int[] data;
        final Object tag;
        Node(int n, boolean flag) {
            // `new` + ternary inside the super-constructor arguments gives an
            // Uninitialized(pc) entry in a frame.
            this(new int[n], flag ? new Object[1] : new String[2]);
            expected += 2;
        }
        Node(int[] d, Object t) { data = d; tag = t; }
    }

    static int sw(int k) {
        int[] a;
        switch (k) {                       // tableswitch
            case 0: a = new int[1]; break;
            case 1: a = new int[2]; break;
            case 2: a = new int[3]; break;
            case 3: a = new int[4]; break;
            default: a = new int[5];
        }
        expected++;
        switch (k * 1000) {                // lookupswitch
            case 0: return a.length + new long[2].length + (int) (expected++ * 0);
            case 3000: return a.length * 3;
            case 70000: return -1;
            default: return a.length;
        }
    }

    static int onlyDefault(int k) {
        int[] a;
        switch (k) {                       // lookupswitch with zero pairs
            default: a = new int[k & 3];
        }
        expected++;
        return a.length;
    }

    static long tc(int i) {
        long s = 0;
        try {
            byte[] b = new byte[i % 7];
            expected++;
            s += b.length;
            if (i % 5 == 0) throw new IllegalStateException("x" + i);
            s += new char[3].length;
            expected++;
        } catch (IllegalStateException e) {
            s += e.getMessage().length() + new short[1].length;
            expected++;
        } finally {
            s += new double[1].length;
            expected++;
        }
        return s;
    }

    static int multi(int i) {
        int[][] m = new int[2][i % 3 + 1];
        expected++;
        Object[][][] o = new Object[2][3][];
        expected++;
        String[][] s = new String[3][];     // anewarray (one dimension)
        expected++;
        return m.length + m[1].length + o[1].length + s.length;
    }

    public static void main(String[] args) {
        long sum = 0;
        List<Object> keep = new ArrayList<>();
        IntFunction<long[]> mk = n -> new long[n];
        for (int i = 0; i < 2000; i++) {
            sum += sw(i & 7);
            sum += onlyDefault(i);
            sum += tc(i);
            sum += multi(i);
            sum += mk.apply(i % 4).length;
            expected++;
            Node n = new Node(i % 5, (i & 1) == 0);
            sum += n.data.length + (n.tag instanceof String[] ? 7 : 3);
            if (i % 100 == 0) keep.add(n);
            double d = 1.5e300 * (i % 3);
            long big = 0x1234567890abcdefL ^ i;
            sum += (long) (d / 1e300) + (big & 3);
        }
        System.out.println("sum=" + sum + " keep=" + keep.size());
        System.err.println("expected=" + expected);
    }
}
