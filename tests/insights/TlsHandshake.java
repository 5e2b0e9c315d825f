// TlsHandshake - rule tls-handshake: a full TLS handshake per request (no
// connection or session reuse). Both ends are SSLEngines in this process,
// talking through byte buffers: no network at all. The key is a self-signed
// EC key made by the JDK's keytool into a temporary PKCS12 file.
import java.io.InputStream;
import java.lang.ProcessBuilder.Redirect;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.KeyStore;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManagerFactory;

public class TlsHandshake {
    static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    static long run(double seconds) throws Exception {
        SSLContext ctx = selfSignedContext();
        long end = InsightsLab.deadline(seconds), ops = 0, n = 0;
        while (InsightsLab.before(end)) {
            n += handshakePerRequest(ctx);
            ops++;
        }
        InsightsLab.consume(n);
        return ops;
    }

    static SSLContext selfSignedContext() throws Exception {
        Path dir = Files.createTempDirectory("lab-tls");
        Path ks = dir.resolve("lab.p12");
        char[] pw = "changeit".toCharArray();
        String keytool = Paths.get(System.getProperty("java.home"), "bin", "keytool").toString();
        Process p = new ProcessBuilder(keytool, "-genkeypair", "-alias", "lab", "-keyalg", "EC",
                "-groupname", "secp256r1", "-dname", "CN=localhost", "-validity", "2",
                "-storetype", "PKCS12", "-keystore", ks.toString(), "-storepass", "changeit",
                "-keypass", "changeit")
                .redirectErrorStream(true).redirectOutput(Redirect.DISCARD).start();
        if (p.waitFor() != 0) throw new IllegalStateException("keytool failed");
        KeyStore k = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(ks)) {
            k.load(in, pw);
        }
        Files.delete(ks);
        Files.delete(dir);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(k, pw);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(k);                         /* the client trusts the self-signed certificate */
        SSLContext c = SSLContext.getInstance("TLS");
        c.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
        return c;
    }

    /** The mistake: new engines, so a full handshake (key exchange, signature,
     * certificate check), for every request. Returns the bytes exchanged. */
    static int handshakePerRequest(SSLContext ctx) throws SSLException {
        SSLEngine client = ctx.createSSLEngine();
        client.setUseClientMode(true);
        SSLEngine server = ctx.createSSLEngine();
        server.setUseClientMode(false);
        ByteBuffer c2s = ByteBuffer.allocate(64 * 1024), s2c = ByteBuffer.allocate(64 * 1024);
        ByteBuffer cApp = ByteBuffer.allocate(64 * 1024), sApp = ByteBuffer.allocate(64 * 1024);
        client.beginHandshake();
        server.beginHandshake();
        int bytes = 0;
        for (int round = 0; round < 100; round++) {
            boolean a = pump(client, s2c, c2s, cApp);
            bytes += c2s.position();
            boolean b = pump(server, c2s, s2c, sApp);
            bytes += s2c.position();
            if (!a && !b) break;
        }
        if (client.getHandshakeStatus() != HandshakeStatus.NOT_HANDSHAKING)
            throw new SSLException("handshake did not finish: " + client.getHandshakeStatus());
        return bytes;
    }

    /** Drives one engine as far as it can go: tasks, wraps into `out`, unwraps
     * from `in` (both buffers stay in write mode between calls). Returns
     * whether it did anything. */
    static boolean pump(SSLEngine e, ByteBuffer in, ByteBuffer out, ByteBuffer app) throws SSLException {
        boolean progress = false;
        for (;;) {
            HandshakeStatus hs = e.getHandshakeStatus();
            if (hs == HandshakeStatus.NEED_TASK) {
                Runnable t;
                while ((t = e.getDelegatedTask()) != null) t.run();
            } else if (hs == HandshakeStatus.NEED_WRAP) {
                SSLEngineResult r = e.wrap(EMPTY, out);
                if (r.getStatus() != SSLEngineResult.Status.OK)
                    throw new SSLException("wrap: " + r);
            } else if (hs == HandshakeStatus.NEED_UNWRAP || hs.name().equals("NEED_UNWRAP_AGAIN")) {
                in.flip();
                SSLEngineResult r = e.unwrap(in, app);
                in.compact();
                if (r.getStatus() == SSLEngineResult.Status.BUFFER_UNDERFLOW)
                    return progress;         /* waits for the peer */
                if (r.getStatus() != SSLEngineResult.Status.OK)
                    throw new SSLException("unwrap: " + r);
                if (r.bytesConsumed() == 0 && r.bytesProduced() == 0 && e.getHandshakeStatus() == hs)
                    return progress;
            } else {
                return progress;             /* NOT_HANDSHAKING / FINISHED */
            }
            progress = true;
        }
    }
}
