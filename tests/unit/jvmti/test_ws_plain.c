/* test_ws_plain.c - jvmti/ws_plain.c: the plain ws:// transport keeps the
 * libwebsockets contract the sender relies on, against a scripted server
 * thread on 127.0.0.1 (the server side is this test's own few lines: the
 * real relay is the integration tests' job): the upgrade, a fragmented
 * message delivered whole, a ping answered, masked client frames, the close
 * handshake, refusals and failures reported as CONNECTION_ERROR with why,
 * a kill, a cancel, and timers. */
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "ws_handshake.h"
#include "ws_plain.h"

static cp_lws_fns_t t;

/* ---- the scripted server ---------------------------------------------------- */
enum { S_ECHO, S_FORBID, S_BAD_ACCEPT, S_DROP, S_HANG };
static int srv_fd, srv_port, srv_mode;
static volatile int srv_conn = -1;   /* the accepted connection, shut down by server_stop */
static pthread_t srv_thr;
static char srv_got[256];     /* what the client sent, unmasked */
static int srv_pong;          /* the client answered our ping */
static int srv_close_code;    /* the client's close status */

static void wr(int fd, const void *b, size_t n)
{
    ck_assert_int_eq(write(fd, b, n), (ssize_t)n);
}

static int rd_full(int fd, uint8_t *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

/* One client frame: opcode, payload unmasked into p. -1 at EOF. */
static int rd_frame(int fd, uint8_t *p, size_t cap, size_t *len)
{
    uint8_t h[2], m[4];
    if (rd_full(fd, h, 2))
        return -1;
    ck_assert_msg(h[1] & 0x80, "client frames are masked");
    uint64_t n = h[1] & 0x7f;
    if (n == 126) {
        uint8_t e[2];
        rd_full(fd, e, 2);
        n = (uint64_t)e[0] << 8 | e[1];
    }
    ck_assert_uint_le(n, cap);
    rd_full(fd, m, 4);
    rd_full(fd, p, (size_t)n);
    for (uint64_t i = 0; i < n; i++)
        p[i] ^= m[i % 4];
    *len = (size_t)n;
    return h[0] & 0x0f;
}

static void *server(void *arg)
{
    (void)arg;
    int c = accept(srv_fd, NULL, NULL);
    if (c < 0)
        return NULL;
    srv_conn = c;
    char req[2048];
    size_t n = 0;
    while (!cp_wshs_header_len(req, n)) {
        ssize_t r = read(c, req + n, sizeof req - 1 - n);
        if (r <= 0)
            goto out;
        n += (size_t)r;
    }
    req[n] = 0;
    if (srv_mode == S_HANG) {
        sleep(2);
        goto out;
    }
    if (srv_mode == S_FORBID) {
        const char *r = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        wr(c, r, strlen(r));
        goto out;
    }
    char key[64] = "", acc[CP_WSHS_ACCEPT_LEN + 1], resp[512];
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    ck_assert_ptr_nonnull(k);
    sscanf(k + 19, "%63[^\r]", key);
    cp_wshs_accept_for(key, acc);
    if (srv_mode == S_BAD_ACCEPT)
        acc[0] = acc[0] == 'A' ? 'B' : 'A';
    int rl = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: cprof.v1\r\n\r\n",
                      acc);
    /* with the answer, in the same write: "hel" + "lo" in two fragments and a ping */
    uint8_t frames[] = {0x02, 3, 'h', 'e', 'l', 0x80, 2, 'l', 'o', 0x89, 1, 'p'};
    memcpy(resp + rl, frames, sizeof frames);
    wr(c, resp, (size_t)rl + sizeof frames);
    if (srv_mode == S_DROP || srv_mode == S_BAD_ACCEPT)
        goto out;
    uint8_t p[256];
    size_t len;
    int op;
    while ((op = rd_frame(c, p, sizeof p, &len)) >= 0) {
        if (op == 0xA) {
            srv_pong = len == 1 && p[0] == 'p';
        } else if (op == 0x2) {
            memcpy(srv_got, p, len);
            srv_got[len] = 0;
            uint8_t echo[2 + 64] = {0x82, (uint8_t)len};
            for (size_t i = 0; i < len; i++)
                echo[2 + i] = (uint8_t)(p[i] - 32);   /* upper case */
            wr(c, echo, 2 + len);
        } else if (op == 0x8) {
            srv_close_code = len >= 2 ? p[0] << 8 | p[1] : 0;
            usleep(200000);   /* a slow reply: the client waits for it without spinning */
            uint8_t cl[] = {0x88, 2, 0x03, 0xe8};
            wr(c, cl, sizeof cl);
            break;
        }
    }
out:
    srv_conn = -1;
    close(c);
    return NULL;
}

static void server_start(int mode)
{
    srv_mode = mode;
    srv_pong = srv_close_code = 0;
    srv_got[0] = 0;
    srv_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(srv_fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(srv_fd, (struct sockaddr *)&a, &l);
    srv_port = ntohs(a.sin_port);
    listen(srv_fd, 4);
    pthread_create(&srv_thr, NULL, server, NULL);
}

static void server_stop(void)
{
    shutdown(srv_fd, SHUT_RDWR);
    int c = srv_conn;
    if (c >= 0)
        shutdown(c, SHUT_RDWR);   /* a test that failed half way: the thread ends anyway */
    pthread_join(srv_thr, NULL);
    close(srv_fd);
}

/* ---- the client, as the sender drives it -------------------------------------- */
static char events[512];   /* the callbacks seen, in order */
static char why[256];
static char rx[256];
static struct lws *cwsi;
static int close_after_rx;   /* received this many messages: close with 1000 */
static int n_rx, first_frag, final_frag;

static void ev(const char *s)
{
    strncat(events, s, sizeof events - strlen(events) - 1);
    strncat(events, " ", sizeof events - strlen(events) - 1);
}

static int cb(struct lws *wsi, enum lws_callback_reasons r, void *user, void *in, size_t len)
{
    (void)user;
    switch (r) {
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
        ev("established");
        t.lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
        if (n_rx >= close_after_rx) {
            ev("closing");
            t.lws_callback_on_writable(wsi);   /* as a wake may ask while the sender closes */
            t.lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
            return -1;
        }
        if (!strstr(events, "wrote")) {
            unsigned char b[LWS_PRE + 3];
            memcpy(b + LWS_PRE, "abc", 3);
            ck_assert_int_eq(t.lws_write(wsi, b + LWS_PRE, 3, LWS_WRITE_BINARY), 3);
            ev("wrote");
        }
        break;
    case LWS_CALLBACK_CLIENT_RECEIVE:
        first_frag = t.lws_is_first_fragment(wsi);
        final_frag = t.lws_is_final_fragment(wsi);
        snprintf(rx + strlen(rx), sizeof rx - strlen(rx), "%.*s|", (int)len, (const char *)in);
        ev("rx");
        if (++n_rx >= close_after_rx)
            t.lws_callback_on_writable(wsi);
        break;
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
        snprintf(why, sizeof why, "%.*s", (int)len, in ? (const char *)in : "");
        ev("error");
        break;
    case LWS_CALLBACK_CLIENT_CLOSED:
        ev("closed");
        break;
    case LWS_CALLBACK_WSI_DESTROY:
        ev("destroy");
        cwsi = NULL;
        break;
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        ev("cancelled");
        break;
    default:
        break;
    }
    return 0;
}

static const struct lws_protocols protos[] = {{"cprof.v1", cb, 0, 0, 0, NULL, 0}, {NULL, NULL, 0, 0, 0, NULL, 0}};

static struct lws_context *mk_ctx(unsigned timeout_s)
{
    events[0] = why[0] = rx[0] = 0;
    n_rx = first_frag = final_frag = 0;
    close_after_rx = 2;   /* "hello" and the echo */
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.protocols = protos;
    info.timeout_secs = timeout_s;
    struct lws_context *c = t.lws_create_context(&info);
    ck_assert_ptr_nonnull(c);
    return c;
}

static void connect_to(struct lws_context *c, int port)
{
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", port);
    struct lws_client_connect_info ci;
    memset(&ci, 0, sizeof ci);
    ci.context = c;
    ci.address = "127.0.0.1";
    ci.port = port;
    ci.path = "/ingest";
    ci.host = host;
    ci.protocol = "cprof.v1";
    ci.pwsi = &cwsi;
    ck_assert_ptr_nonnull(t.lws_client_connect_via_info(&ci));
    ck_assert_ptr_nonnull(cwsi);
}

/* Services until the connection is gone (WSI_DESTROY), at most ms.
 * Returns the number of lws_service calls (a loop that spins makes
 * thousands). */
static int run(struct lws_context *c, int ms)
{
    uint64_t end = cp_mono_ns() + (uint64_t)ms * 1000000;
    int n = 0;
    for (; cwsi && cp_mono_ns() < end; n++)
        ck_assert_int_eq(t.lws_service(c, 0), 0);
    return n;
}

static void setup(void)
{
    const char *w = NULL;
    ck_assert_msg(cp_ws_plain_load(&t, &w) == 0, "%s", w);
}

START_TEST(test_exchange_and_close)
{
    setup();
    server_start(S_ECHO);
    struct lws_context *c = mk_ctx(10);
    connect_to(c, srv_port);
    int loops = run(c, 5000);
    server_stop();
    ck_assert_msg(!cwsi, "still connected: %s", events);
    ck_assert_msg(loops < 100, "%d service calls for one exchange: the loop spins", loops);
    ck_assert_str_eq(events, "established rx wrote rx closing closed destroy ");   /* "hello" came with the upgrade */
    ck_assert_str_eq(rx, "hello|ABC|");   /* the two fragments as one message, then the echo */
    ck_assert(first_frag && final_frag);
    ck_assert_str_eq(srv_got, "abc");
    ck_assert_msg(srv_pong, "the ping was not answered");
    ck_assert_int_eq(srv_close_code, 1000);
    t.lws_context_destroy(c);
}
END_TEST

START_TEST(test_refusals_are_connection_errors_with_why)
{
    setup();
    static const struct { int mode; const char *why; } cases[] = {
        {S_FORBID, "websocket upgrade refused: HTTP/1.1 403 Forbidden"},
        {S_BAD_ACCEPT, "Sec-WebSocket-Accept does not match"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        server_start(cases[i].mode);
        struct lws_context *c = mk_ctx(10);
        connect_to(c, srv_port);
        run(c, 5000);
        server_stop();
        ck_assert_str_eq(events, "error destroy ");
        ck_assert_msg(strstr(why, cases[i].why), "%s", why);
        t.lws_context_destroy(c);
    }
    /* nothing listens: refused */
    server_start(S_ECHO);
    int port = srv_port;
    server_stop();
    struct lws_context *c = mk_ctx(10);
    connect_to(c, port);
    run(c, 5000);
    ck_assert_str_eq(events, "error destroy ");
    ck_assert_msg(strstr(why, "refused"), "%s", why);
    t.lws_context_destroy(c);
}
END_TEST

START_TEST(test_drop_after_upgrade_is_a_close)
{
    setup();
    server_start(S_DROP);
    struct lws_context *c = mk_ctx(10);
    close_after_rx = 100;
    connect_to(c, srv_port);
    run(c, 5000);
    server_stop();
    ck_assert_msg(!strncmp(events, "established", 11) && strstr(events, "closed destroy "), "%s", events);
    ck_assert_ptr_nonnull(strstr(rx, "hello|"));
    t.lws_context_destroy(c);
}
END_TEST

START_TEST(test_hanging_upgrade_times_out_and_kill)
{
    setup();
    /* the context's timeout: 1 s */
    server_start(S_HANG);
    struct lws_context *c = mk_ctx(1);
    connect_to(c, srv_port);
    uint64_t t0 = cp_mono_ns();
    run(c, 5000);
    double s = (double)(cp_mono_ns() - t0) / 1e9;
    ck_assert_msg(s > 0.9 && s < 1.8, "timed out after %.2f s", s);
    ck_assert_str_eq(events, "error destroy ");
    ck_assert_msg(strstr(why, "timed out"), "%s", why);
    t.lws_context_destroy(c);
    server_stop();
    /* lws_set_timeout(LWS_TO_KILL_ASYNC): at once */
    server_start(S_HANG);
    c = mk_ctx(10);
    connect_to(c, srv_port);
    t.lws_set_timeout(cwsi, 1, LWS_TO_KILL_ASYNC);
    t0 = cp_mono_ns();
    run(c, 5000);
    ck_assert_msg(cp_mono_ns() - t0 < 500000000ull, "kill took %.2f s", (double)(cp_mono_ns() - t0) / 1e9);
    ck_assert_str_eq(events, "error destroy ");
    t.lws_context_destroy(c);
    server_stop();
}
END_TEST

static char fired[64];
static void sul_a(lws_sorted_usec_list_t *s) { (void)s; strcat(fired, "a"); }
static void sul_b(lws_sorted_usec_list_t *s) { (void)s; strcat(fired, "b"); }

static void *canceller(void *c)
{
    usleep(50000);
    t.lws_cancel_service(c);
    return NULL;
}

START_TEST(test_timers_and_cancel)
{
    setup();
    struct lws_context *c = mk_ctx(10);
    lws_sorted_usec_list_t a, b, x;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    memset(&x, 0, sizeof x);
    fired[0] = 0;
    t.lws_sul_schedule(c, 0, &a, sul_a, 60000);
    t.lws_sul_schedule(c, 0, &b, sul_b, 20000);
    t.lws_sul_schedule(c, 0, &x, sul_a, 40000);
    t.lws_sul_cancel(&x);
    uint64_t end = cp_mono_ns() + 2000000000ull;
    while (strlen(fired) < 2 && cp_mono_ns() < end)
        t.lws_service(c, 0);
    ck_assert_str_eq(fired, "ba");
    /* a wake from another thread ends the wait at once */
    pthread_t th;
    pthread_create(&th, NULL, canceller, c);
    uint64_t t0 = cp_mono_ns();
    t.lws_sul_schedule(c, 0, &a, sul_a, 5000000);
    while (!strstr(events, "cancelled") && cp_mono_ns() - t0 < 3000000000ull)
        t.lws_service(c, 0);
    pthread_join(th, NULL);
    ck_assert_ptr_nonnull(strstr(events, "cancelled"));
    ck_assert_msg(cp_mono_ns() - t0 < 1000000000ull, "the wake took %.2f s", (double)(cp_mono_ns() - t0) / 1e9);
    t.lws_context_destroy(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ws_plain");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_exchange_and_close);
    tcase_add_test(tc, test_refusals_are_connection_errors_with_why);
    tcase_add_test(tc, test_drop_after_upgrade_is_a_close);
    tcase_add_test(tc, test_hanging_upgrade_times_out_and_kill);
    tcase_add_test(tc, test_timers_and_cancel);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
