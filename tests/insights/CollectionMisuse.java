// CollectionMisuse - rule collection-misuse: a LinkedList read by index (each
// get walks the list) and an ArrayList drained from the front (each remove(0)
// shifts the rest).
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedList;

public class CollectionMisuse {
    static long run(double seconds) {
        LinkedList<String> linked = new LinkedList<>();
        String[] src = new String[6000];
        for (int i = 0; i < src.length; i++) src[i] = "item-" + i;
        linked.addAll(Arrays.asList(src).subList(0, 2000));
        ArrayList<String> queue = new ArrayList<>(src.length);
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += sumByIndex(linked);
            if ((ops & 3) == 0) n += drainFromFront(queue, src);
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: get(i) on a LinkedList, O(n) per element. */
    static long sumByIndex(LinkedList<String> list) {
        long n = 0;
        for (int i = 0; i < list.size(); i++) n += list.get(i).length();
        return n;
    }

    /** The mistake: remove(0) on an ArrayList, O(n) per element. */
    static long drainFromFront(ArrayList<String> list, String[] src) {
        list.addAll(Arrays.asList(src));
        long n = 0;
        while (!list.isEmpty()) n += list.remove(0).length();
        return n;
    }
}
