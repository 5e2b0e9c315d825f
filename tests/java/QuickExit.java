// QuickExit - a JVM that lives a moment: spins the CPU for MILLIS ms, prints
// "end <System.nanoTime()>" (CLOCK_MONOTONIC on Linux, the clock the test
// reads) and returns from main. For the agent's exit: what it adds after
// main returns, and that its last window still reaches the relay.
//
// Usage: java QuickExit MILLIS
public class QuickExit {
    static volatile long sink;

    public static void main(String[] args) {
        long until = System.nanoTime() + Long.parseLong(args[0]) * 1_000_000L;
        long x = 1;
        while (System.nanoTime() < until)
            for (int i = 0; i < 1000; i++)
                x = x * 6364136223846793005L + 1442695040888963407L;
        sink = x;
        System.out.println("end " + System.nanoTime());
    }
}
