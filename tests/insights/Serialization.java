// Serialization - rule serialization: Java object serialization used to copy
// objects (ObjectOutputStream / ObjectInputStream on every call).
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.ArrayList;

public class Serialization {
    static final class Order implements Serializable {
        private static final long serialVersionUID = 1L;
        long id;
        String customer;
        double amount;
        int[] items;
    }

    static long run(double seconds) throws Exception {
        ArrayList<Order> orders = new ArrayList<>();
        for (int i = 0; i < 40; i++) {
            Order o = new Order();
            o.id = i;
            o.customer = "customer-" + i;
            o.amount = i * 1.5;
            o.items = new int[] {i, i + 1, i + 2};
            orders.add(o);
        }
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += ((ArrayList<?>) deepCopyBySerialization(orders)).size();
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    /** The mistake: a deep copy through Java serialization. */
    static Object deepCopyBySerialization(Object o) throws IOException, ClassNotFoundException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return in.readObject();
        }
    }
}
