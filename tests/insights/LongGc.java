// LongGc - rule long-gc: System.gc() in a loop over a large live set (a
// linked list of 14M nodes, ~320 MB, which marking must follow one node at a
// time), so every call is a full stop-the-world collection of 0.7-1.2 s.
// Run with -Xmx1500m -Xmn900m: the list is built in the young generation
// without copying it over and over.
public class LongGc {
    static final class Node {
        Node next;
        long value;
    }

    static Node live;

    static long run(double seconds) {
        for (int i = 0; i < 14_000_000; i++) {
            Node n = new Node();
            n.value = i;
            n.next = live;
            live = n;
        }
        long end = InsightsLab.deadline(seconds), ops = 0;
        while (InsightsLab.before(end)) {
            forceFullGc();
            ops++;
        }
        return ops;
    }

    /** The mistake: an explicit full collection, over and over. */
    static void forceFullGc() {
        System.gc();
    }
}
