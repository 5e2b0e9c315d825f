// LongGc - rule long-gc: System.gc() in a loop over a large live set, so every
// call is a long full (stop-the-world) collection.
public class LongGc {
    static final class Node {
        Node next;
        long value;
    }

    static Node live;

    static long run(double seconds) {
        for (int i = 0; i < 4_000_000; i++) {
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
