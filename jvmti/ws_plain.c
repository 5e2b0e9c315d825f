/* ws_plain.c - the libwebsockets calls of the sender over a plain TCP
 * socket and wslay (ws_plain.h).
 *
 * struct lws_context and struct lws are incomplete types in
 * libwebsockets.h; this file completes them with its own contents, so the
 * sender's pointers are the same types whichever table serves them. */
#include "ws_plain.h"

#include "clock.h"
#include "error.h"
#include "ws_handshake.h"

#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#define WSLAY_SONAME "libwslay.so.1"   /* Debian's libwslay1 */
#define MAX_MESSAGE (64u << 20)         /* as the sender's receive buffer */
#define CLOSE_WAIT_MS 1000              /* our close sent: the relay's reply, at most */
#define MAX_SULS 8

/* ---- wslay, dlopened ------------------------------------------------------ */
#define WSLAY_FUNCS(X, V)                                                                                \
    X(wslay_event_context_client_init, int,                                                              \
      (wslay_event_context_ptr * ctx, const struct wslay_event_callbacks *callbacks, void *user_data),    \
      (ctx, callbacks, user_data))                                                                        \
    V(wslay_event_context_free, (wslay_event_context_ptr ctx), (ctx))                                    \
    V(wslay_event_config_set_max_recv_msg_length, (wslay_event_context_ptr ctx, uint64_t val), (ctx, val)) \
    X(wslay_event_recv, int, (wslay_event_context_ptr ctx), (ctx))                                       \
    X(wslay_event_send, int, (wslay_event_context_ptr ctx), (ctx))                                       \
    X(wslay_event_queue_msg, int, (wslay_event_context_ptr ctx, const struct wslay_event_msg *arg),       \
      (ctx, arg))                                                                                         \
    X(wslay_event_queue_close, int,                                                                      \
      (wslay_event_context_ptr ctx, uint16_t status_code, const uint8_t *reason, size_t reason_length),   \
      (ctx, status_code, reason, reason_length))                                                          \
    V(wslay_event_set_error, (wslay_event_context_ptr ctx, int val), (ctx, val))                         \
    X(wslay_event_want_read, int, (wslay_event_context_ptr ctx), (ctx))                                  \
    X(wslay_event_want_write, int, (wslay_event_context_ptr ctx), (ctx))                                 \
    X(wslay_event_get_close_received, int, (wslay_event_context_ptr ctx), (ctx))                         \
    X(wslay_event_get_close_sent, int, (wslay_event_context_ptr ctx), (ctx))

#define W__PTR(name, ret, params, args) ret(*name) params;
#define W__VPTR(name, params, args) void(*name) params;
static struct {
    WSLAY_FUNCS(W__PTR, W__VPTR)
} ws;
#undef W__PTR
#undef W__VPTR

/* ---- the context and the connection ------------------------------------- */
enum { C_CONNECTING, C_HS_SEND, C_HS_RECV, C_OPEN, C_CLOSING };

struct lws {
    struct lws_context *ctx;
    int fd, st;
    struct addrinfo *ai, *ai_next;   /* the addresses to try, in order */
    char err[160];                   /* the last connect error, for the callback */
    uint64_t deadline_ms;            /* connect + handshake (the context's timeout) */
    uint64_t close_by_ms;            /* C_CLOSING: give up on the relay's reply */
    char req[1024];
    size_t req_len, req_off;
    char resp[4096];                 /* the handshake's answer, then bytes for wslay */
    size_t resp_len, resp_off;
    char accept[CP_WSHS_ACCEPT_LEN + 1];
    wslay_event_context_ptr w;
    bool established, want_writable, kill, eof;
    int close_status;                /* lws_close_reason, else 0 */
    uint8_t close_why[123];
    size_t close_why_len;
    char protocol[64];
};

struct lws_context {
    lws_callback_function *cb;
    char protocol[64];
    unsigned timeout_s;
    int efd;
    struct lws *wsi;
    lws_sorted_usec_list_t *suls[MAX_SULS];
};

static struct lws_context *live;   /* lws_sul_cancel has no context argument */

static uint64_t mono_ms(void)
{
    return cp_mono_ns() / 1000000;
}

static lws_usec_t now_us(void)
{
    return (lws_usec_t)(cp_mono_ns() / 1000);
}

/* ---- timers -------------------------------------------------------------------- */

static void p_sul_cancel(lws_sorted_usec_list_t *sul)
{
    if (!live)
        return;
    for (int i = 0; i < MAX_SULS; i++)
        if (live->suls[i] == sul)
            live->suls[i] = NULL;
}

static void p_sul_schedule(struct lws_context *c, int tsi, lws_sorted_usec_list_t *sul, sul_cb_t cb, lws_usec_t us)
{
    (void)tsi;
    p_sul_cancel(sul);
    if (us == LWS_SET_TIMER_USEC_CANCEL)
        return;
    sul->cb = cb;
    sul->us = now_us() + us;
    for (int i = 0; i < MAX_SULS; i++)
        if (!c->suls[i]) {
            c->suls[i] = sul;
            return;
        }
}

/* Runs the timers that are due; returns the next one's time (or now + 1 s). */
static lws_usec_t run_timers(struct lws_context *c)
{
    lws_usec_t now = now_us(), next = now + 1000000;
    for (int i = 0; i < MAX_SULS; i++) {
        lws_sorted_usec_list_t *s = c->suls[i];
        if (s && s->us <= now) {
            c->suls[i] = NULL;   /* before the call: it may schedule itself again */
            s->cb(s);
        }
    }
    for (int i = 0; i < MAX_SULS; i++)
        if (c->suls[i] && c->suls[i]->us < next)
            next = c->suls[i]->us;
    return next;
}

/* ---- the connection --------------------------------------------------------- */

static int call(struct lws *wsi, enum lws_callback_reasons r, void *in, size_t len)
{
    return wsi->ctx->cb(wsi, r, NULL, in, len);
}

static void free_wsi(struct lws *wsi)
{
    if (wsi->fd >= 0)
        close(wsi->fd);
    if (wsi->w)
        ws.wslay_event_context_free(wsi->w);
    if (wsi->ai)
        freeaddrinfo(wsi->ai);
    if (wsi->ctx->wsi == wsi)
        wsi->ctx->wsi = NULL;
    free(wsi);
}

/* The connection is over: tells the sender (an error before the upgrade
 * completed, a close after) and frees it. */
static void finish(struct lws *wsi, const char *why)
{
    if (wsi->fd >= 0) {
        close(wsi->fd);
        wsi->fd = -1;
    }
    if (wsi->established)
        call(wsi, LWS_CALLBACK_CLIENT_CLOSED, NULL, 0);
    else
        call(wsi, LWS_CALLBACK_CLIENT_CONNECTION_ERROR, (void *)why, why ? strlen(why) : 0);
    call(wsi, LWS_CALLBACK_WSI_DESTROY, NULL, 0);
    free_wsi(wsi);
}

/* Starts our close: the close frame (status from lws_close_reason), then
 * the relay's reply, at most CLOSE_WAIT_MS. */
static void begin_close(struct lws *wsi)
{
    if (wsi->st == C_CLOSING)
        return;
    if (!wsi->established) {
        wsi->kill = true;
        return;
    }
    wsi->st = C_CLOSING;
    wsi->close_by_ms = mono_ms() + CLOSE_WAIT_MS;
    ws.wslay_event_queue_close(wsi->w, (uint16_t)(wsi->close_status ? wsi->close_status : 1000),
                               wsi->close_why_len ? wsi->close_why : NULL, wsi->close_why_len);
}

static ssize_t on_recv(wslay_event_context_ptr w, uint8_t *buf, size_t len, int flags, void *user)
{
    (void)flags;
    struct lws *wsi = user;
    if (wsi->resp_off < wsi->resp_len) {   /* what came with the handshake's answer */
        size_t n = wsi->resp_len - wsi->resp_off;
        if (n > len)
            n = len;
        memcpy(buf, wsi->resp + wsi->resp_off, n);
        wsi->resp_off += n;
        return (ssize_t)n;
    }
    ssize_t n = recv(wsi->fd, buf, len, 0);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        ws.wslay_event_set_error(w, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (n == 0)
        wsi->eof = true;
    else
        snprintf(wsi->err, sizeof wsi->err, "%s", strerror(errno));
    ws.wslay_event_set_error(w, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr w, const uint8_t *data, size_t len, int flags, void *user)
{
    (void)flags;
    struct lws *wsi = user;
    ssize_t n = send(wsi->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
        ws.wslay_event_set_error(w, WSLAY_ERR_WOULDBLOCK);
    else {
        snprintf(wsi->err, sizeof wsi->err, "%s", strerror(errno));
        ws.wslay_event_set_error(w, WSLAY_ERR_CALLBACK_FAILURE);
    }
    return -1;
}

static void fill_random(uint8_t *buf, size_t len)
{
    if (getrandom(buf, len, GRND_NONBLOCK) == (ssize_t)len)
        return;
    static uint64_t x;   /* no entropy yet: a mask needs to be unpredictable to a browser's script, not secret */
    if (!x)
        x = cp_mono_ns() ^ ((uint64_t)getpid() << 32);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static int on_genmask(wslay_event_context_ptr w, uint8_t *buf, size_t len, void *user)
{
    (void)w; (void)user;
    fill_random(buf, len);
    return 0;
}

static void on_msg(wslay_event_context_ptr w, const struct wslay_event_on_msg_recv_arg *a, void *user)
{
    (void)w;
    struct lws *wsi = user;
    if (a->opcode != WSLAY_BINARY_FRAME && a->opcode != WSLAY_TEXT_FRAME)
        return;   /* pings are answered and a close replied to by wslay */
    if (wsi->st == C_OPEN && call(wsi, LWS_CALLBACK_CLIENT_RECEIVE, (void *)a->msg, a->msg_length))
        begin_close(wsi);
}

static const struct wslay_event_callbacks wslay_cbs = {
    .recv_callback = on_recv,
    .send_callback = on_send,
    .genmask_callback = on_genmask,
    .on_msg_recv_callback = on_msg,
};

/* The next address, connecting (non-blocking). false: none left. */
static bool try_next(struct lws *wsi)
{
    if (wsi->fd >= 0) {
        close(wsi->fd);
        wsi->fd = -1;
    }
    for (; wsi->ai_next; wsi->ai_next = wsi->ai_next->ai_next) {
        struct addrinfo *a = wsi->ai_next;
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            snprintf(wsi->err, sizeof wsi->err, "socket: %s", strerror(errno));
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS) {
            wsi->fd = fd;
            wsi->ai_next = a->ai_next;
            wsi->st = C_CONNECTING;
            return true;
        }
        snprintf(wsi->err, sizeof wsi->err, "%s", strerror(errno));
        close(fd);
    }
    return false;
}

static struct lws *p_client_connect(const struct lws_client_connect_info *ci)
{
    struct lws_context *c = ci->context;
    if (!c || c->wsi)
        return NULL;   /* one connection at a time: the sender's */
    struct lws *wsi = calloc(1, sizeof *wsi);
    if (!wsi)
        return NULL;
    wsi->ctx = c;
    wsi->fd = -1;
    wsi->deadline_ms = mono_ms() + (uint64_t)(c->timeout_s ? c->timeout_s : 10) * 1000;
    snprintf(wsi->protocol, sizeof wsi->protocol, "%s", ci->protocol ? ci->protocol : c->protocol);
    uint8_t nonce[16];
    fill_random(nonce, sizeof nonce);
    wsi->req_len = cp_wshs_request(wsi->req, sizeof wsi->req, ci->host ? ci->host : ci->address,
                                   ci->path ? ci->path : "/", wsi->protocol, nonce, wsi->accept);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    char port[16];
    snprintf(port, sizeof port, "%d", ci->port);
    int g = wsi->req_len ? getaddrinfo(ci->address, port, &hints, &wsi->ai) : EAI_FAIL;
    c->wsi = wsi;
    if (ci->pwsi)
        *ci->pwsi = wsi;
    if (g) {
        snprintf(wsi->err, sizeof wsi->err, "%s", wsi->req_len ? gai_strerror(g) : "URL too long");
        wsi->kill = true;   /* reported from the service loop, as lws does */
        return wsi;
    }
    wsi->ai_next = wsi->ai;
    if (!try_next(wsi))
        wsi->kill = true;
    return wsi;
}

/* The TCP connect completed (or failed: the next address). */
static void on_connected(struct lws *wsi)
{
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(wsi->fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
        snprintf(wsi->err, sizeof wsi->err, "%s", strerror(err ? err : errno));
        if (!try_next(wsi))
            wsi->kill = true;
        return;
    }
    wsi->st = C_HS_SEND;
}

static void hs_send(struct lws *wsi)
{
    ssize_t n = send(wsi->fd, wsi->req + wsi->req_off, wsi->req_len - wsi->req_off, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
        snprintf(wsi->err, sizeof wsi->err, "%s", strerror(errno));
        wsi->kill = true;
        return;
    }
    if (n > 0 && (wsi->req_off += (size_t)n) == wsi->req_len)
        wsi->st = C_HS_RECV;
}

static void hs_recv(struct lws *wsi)
{
    ssize_t n = recv(wsi->fd, wsi->resp + wsi->resp_len, sizeof wsi->resp - wsi->resp_len, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        snprintf(wsi->err, sizeof wsi->err, "%s", n ? strerror(errno) : "the relay closed the connection during "
                                                                        "the websocket upgrade");
        wsi->kill = true;
        return;
    }
    wsi->resp_len += (size_t)n;
    size_t h = cp_wshs_header_len(wsi->resp, wsi->resp_len);
    if (!h) {
        if (wsi->resp_len == sizeof wsi->resp) {
            snprintf(wsi->err, sizeof wsi->err, "the relay's answer to the websocket upgrade is too long");
            wsi->kill = true;
        }
        return;
    }
    if (cp_wshs_check(wsi->resp, h, wsi->accept, wsi->protocol, wsi->err, sizeof wsi->err) ||
        ws.wslay_event_context_client_init(&wsi->w, &wslay_cbs, wsi)) {
        if (!wsi->w && !wsi->err[0])
            snprintf(wsi->err, sizeof wsi->err, "out of memory");
        wsi->kill = true;
        return;
    }
    ws.wslay_event_config_set_max_recv_msg_length(wsi->w, MAX_MESSAGE);
    wsi->resp_off = h;   /* what follows the header is the relay's first frames */
    wsi->st = C_OPEN;
    wsi->established = true;
    if (call(wsi, LWS_CALLBACK_CLIENT_ESTABLISHED, NULL, 0))
        begin_close(wsi);
    else if (wsi->resp_off < wsi->resp_len && ws.wslay_event_recv(wsi->w))
        wsi->kill = true;
}

/* Reads and writes an open (or closing) connection. */
static void io(struct lws *wsi, short rev)
{
    if ((rev & (POLLIN | POLLHUP | POLLERR)) && ws.wslay_event_want_read(wsi->w) && ws.wslay_event_recv(wsi->w)) {
        wsi->kill = true;
        return;
    }
    if (ws.wslay_event_want_write(wsi->w) && ws.wslay_event_send(wsi->w)) {
        wsi->kill = true;
        return;
    }
    if (wsi->st == C_OPEN && wsi->want_writable && (rev & POLLOUT) && !ws.wslay_event_want_write(wsi->w)) {
        wsi->want_writable = false;
        if (call(wsi, LWS_CALLBACK_CLIENT_WRITEABLE, NULL, 0))
            begin_close(wsi);
        if (ws.wslay_event_want_write(wsi->w) && ws.wslay_event_send(wsi->w))
            wsi->kill = true;
    }
}

/* After the events: a connection that is over is reported and freed. */
static void settle(struct lws *wsi)
{
    uint64_t now = mono_ms();
    if (!wsi->established && !wsi->kill && now >= wsi->deadline_ms) {
        snprintf(wsi->err, sizeof wsi->err, "timed out connecting to the relay");
        wsi->kill = true;
    }
    bool closed = wsi->established && ws.wslay_event_get_close_sent(wsi->w) &&
                  (ws.wslay_event_get_close_received(wsi->w) || now >= wsi->close_by_ms) &&
                  !ws.wslay_event_want_write(wsi->w);
    if (wsi->established && wsi->st == C_OPEN && ws.wslay_event_get_close_received(wsi->w))
        wsi->st = C_CLOSING;   /* the relay closed: wslay replies */
    if (wsi->kill || closed || (wsi->established && wsi->eof))
        finish(wsi, wsi->err[0] ? wsi->err : wsi->eof ? "the relay closed the connection" : "connection failed");
}

static int p_service(struct lws_context *c, int timeout_ms)
{
    (void)timeout_ms;   /* as lws: until the next event or timer */
    lws_usec_t next = run_timers(c);
    struct lws *wsi = c->wsi;
    if (wsi && (wsi->kill || (wsi->established && wsi->eof))) {
        settle(wsi);
        return 0;
    }
    struct pollfd p[2] = {{.fd = c->efd, .events = POLLIN}, {.fd = -1}};
    int nfds = 1;
    if (wsi && wsi->fd >= 0) {
        short ev = 0;
        switch (wsi->st) {
        case C_CONNECTING:
        case C_HS_SEND:
            ev = POLLOUT;
            break;
        case C_HS_RECV:
            ev = POLLIN;
            break;
        default:
            /* a writable callback only while open: closing, POLLOUT would spin */
            ev = (short)((ws.wslay_event_want_read(wsi->w) ? POLLIN : 0) |
                         (ws.wslay_event_want_write(wsi->w) || (wsi->want_writable && wsi->st == C_OPEN)
                              ? POLLOUT : 0));
        }
        p[1].fd = wsi->fd;
        p[1].events = ev;
        nfds = 2;
    }
    lws_usec_t now = now_us();
    int64_t wait_ms = next > now ? (next - now + 999) / 1000 : 0;
    if (wsi && !wsi->established) {
        int64_t d = (int64_t)wsi->deadline_ms - (int64_t)mono_ms();
        if (d < wait_ms)
            wait_ms = d > 0 ? d : 0;
    }
    if (wsi && wsi->st == C_CLOSING) {
        int64_t d = (int64_t)wsi->close_by_ms - (int64_t)mono_ms();
        if (d < wait_ms)
            wait_ms = d > 0 ? d : 0;
    }
    int n = poll(p, (nfds_t)nfds, (int)wait_ms);
    if (n < 0 && errno != EINTR)
        return -1;
    if (n > 0 && (p[0].revents & POLLIN)) {
        uint64_t v;
        if (read(c->efd, &v, sizeof v) < 0) { /* another wake got it */ }
        c->cb(NULL, LWS_CALLBACK_EVENT_WAIT_CANCELLED, NULL, NULL, 0);
    }
    wsi = c->wsi;   /* the callback may have begun a close, not freed it */
    if (wsi && nfds == 2 && p[1].fd == wsi->fd && p[1].revents) {
        short rev = p[1].revents;
        switch (wsi->st) {
        case C_CONNECTING:
            on_connected(wsi);
            break;
        case C_HS_SEND:
            hs_send(wsi);
            break;
        case C_HS_RECV:
            hs_recv(wsi);
            break;
        default:
            io(wsi, rev);
        }
    }
    if ((wsi = c->wsi))
        settle(wsi);
    run_timers(c);
    return 0;
}

static int p_callback_on_writable(struct lws *wsi)
{
    if (!wsi)
        return -1;
    wsi->want_writable = true;
    return 1;
}

static int p_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol protocol)
{
    if (!wsi || wsi->st != C_OPEN)
        return -1;
    struct wslay_event_msg m = {
        .opcode = (protocol & 0x0f) == LWS_WRITE_TEXT ? WSLAY_TEXT_FRAME : WSLAY_BINARY_FRAME,
        .msg = buf, .msg_length = len};
    if (ws.wslay_event_queue_msg(wsi->w, &m))   /* copies the message */
        return -1;
    if (ws.wslay_event_send(wsi->w)) {          /* now: most messages go at once */
        wsi->kill = true;
        return -1;
    }
    return (int)len;
}

static void p_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf, size_t len)
{
    if (!wsi)
        return;
    wsi->close_status = (int)status;
    wsi->close_why_len = len < sizeof wsi->close_why ? len : sizeof wsi->close_why;
    if (buf && wsi->close_why_len)
        memcpy(wsi->close_why, buf, wsi->close_why_len);
}

static void p_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs)
{
    (void)reason;
    if (!wsi)
        return;
    if (secs < 0) {   /* LWS_TO_KILL_ASYNC / _SYNC: now, reported from the loop */
        if (!wsi->err[0])
            snprintf(wsi->err, sizeof wsi->err, "connection timed out");
        wsi->kill = true;
        if (wsi->ctx->efd >= 0) {
            uint64_t one = 1;
            if (write(wsi->ctx->efd, &one, sizeof one) < 0) { /* the loop runs anyway */ }
        }
    } else if (secs > 0 && !wsi->established) {
        wsi->deadline_ms = mono_ms() + (uint64_t)secs * 1000;
    }
}

static int p_is_fragment(struct lws *wsi)
{
    (void)wsi;
    return 1;   /* whole messages only */
}

static struct lws_context *p_create_context(const struct lws_context_creation_info *info)
{
    if (live || !info->protocols || !info->protocols[0].callback)
        return NULL;
    struct lws_context *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (c->efd < 0) {
        free(c);
        return NULL;
    }
    c->cb = info->protocols[0].callback;
    snprintf(c->protocol, sizeof c->protocol, "%s", info->protocols[0].name ? info->protocols[0].name : "");
    c->timeout_s = info->timeout_secs;
    live = c;
    return c;
}

static void p_context_destroy(struct lws_context *c)
{
    if (!c)
        return;
    if (c->wsi)
        free_wsi(c->wsi);   /* as lws at exit: no callbacks, the loop is over */
    close(c->efd);
    if (live == c)
        live = NULL;
    free(c);
}

static void p_cancel_service(struct lws_context *c)
{
    uint64_t one = 1;
    if (c && write(c->efd, &one, sizeof one) < 0) { /* already signalled (counter full): fine */ }
}

static void p_set_log_level(int level, void (*emit)(int level, const char *line))
{
    (void)level; (void)emit;   /* this transport logs through the sender's callbacks */
}

static const char *p_x509_error_string(long n)
{
    (void)n;
    return "no TLS on ws://";
}

static int p_x509_get_error(const X509_STORE_CTX *x)
{
    (void)x;
    return 0;
}

int cp_ws_plain_load(cp_lws_fns_t *t, const char **why)
{
    void *h = dlopen(WSLAY_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        *why = "libwslay.so.1 is not installed (Debian: libwslay1)";
        return CP_EUNSUPP;
    }
#define W__SYM(name, ret, params, args)                      \
    if (!(*(void **)&ws.name = dlsym(h, #name))) {          \
        *why = "a wslay function is missing: " #name;        \
        return CP_EUNSUPP;                                   \
    }
#define W__VSYM(name, params, args) W__SYM(name, void, params, args)
    WSLAY_FUNCS(W__SYM, W__VSYM)
#undef W__SYM
#undef W__VSYM
    t->lws_create_context = p_create_context;
    t->lws_context_destroy = p_context_destroy;
    t->lws_service = p_service;
    t->lws_cancel_service = p_cancel_service;
    t->lws_set_log_level = p_set_log_level;
    t->lws_client_connect_via_info = p_client_connect;
    t->lws_callback_on_writable = p_callback_on_writable;
    t->lws_write = p_write;
    t->lws_is_final_fragment = p_is_fragment;
    t->lws_is_first_fragment = p_is_fragment;
    t->lws_close_reason = p_close_reason;
    t->lws_set_timeout = p_set_timeout;
    t->lws_sul_schedule = p_sul_schedule;
    t->lws_sul_cancel = p_sul_cancel;
    t->lws_parse_uri = cp_wshs_parse_uri;
    t->X509_verify_cert_error_string = p_x509_error_string;
    t->X509_STORE_CTX_get_error = p_x509_get_error;
    *why = "";
    return 0;
}
