import java.io.IOException;
import javax.servlet.http.HttpServlet;
import javax.servlet.http.HttpServletRequest;
import javax.servlet.http.HttpServletResponse;

/**
 * The webapp of test_context_jetty (issue 18): a plain javax servlet with no
 * cprof code, deployed in Debian's Jetty 9. /cart/{n} burns cartWork 6 ms,
 * /items/{uuid} itemWork 2 ms (wall-clock spins: Jetty's pool threads run
 * nothing else meanwhile); ?big makes a cart request 200 ms.
 */
public class CtxServlet extends HttpServlet {
    static volatile long sink;

    static void spin(long ms) {
        long end = System.nanoTime() + ms * 1_000_000L, x = sink;
        while (System.nanoTime() < end)
            for (int i = 0; i < 5000; i++) x = x * 6364136223846793005L + 1442695040888963407L;
        sink = x;
    }

    static void cartWork(boolean big) { spin(big ? 200 : 6); }
    static void itemWork() { spin(2); }

    @Override
    protected void doGet(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String p = req.getPathInfo() == null ? "" : req.getPathInfo();
        if (p.startsWith("/cart/")) cartWork(req.getQueryString() != null && req.getQueryString().contains("big"));
        else if (p.startsWith("/items/")) itemWork();
        else { resp.sendError(404); return; }
        resp.setContentType("text/plain");
        resp.getWriter().print("ok");
    }
}
