/* test_ws_handshake.c - jvmti/ws_handshake.c: the websocket upgrade of the
 * plain ws:// transport (RFC 6455's own example key) and the URL's parts
 * (lws_parse_uri's contract, which the sender relies on). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_handshake.h"

START_TEST(test_accept_key_rfc6455_example)
{
    char a[CP_WSHS_ACCEPT_LEN + 1];
    cp_wshs_accept_for("dGhlIHNhbXBsZSBub25jZQ==", a);   /* RFC 6455 section 1.3 */
    ck_assert_str_eq(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}
END_TEST

START_TEST(test_request_carries_key_protocol_and_host)
{
    uint8_t nonce[16] = "the sample nonce";   /* RFC 6455's example key, base64 of this */
    char buf[1024], a[CP_WSHS_ACCEPT_LEN + 1];
    size_t n = cp_wshs_request(buf, sizeof buf, "127.0.0.1:7070", "/ingest", "cprof.v1", nonce, a);
    ck_assert_uint_eq(n, strlen(buf));
    ck_assert(!strncmp(buf, "GET /ingest HTTP/1.1\r\n", 22));
    ck_assert_ptr_nonnull(strstr(buf, "\r\nHost: 127.0.0.1:7070\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\r\nSec-WebSocket-Version: 13\r\n"));
    ck_assert_ptr_nonnull(strstr(buf, "\r\nSec-WebSocket-Protocol: cprof.v1\r\n"));
    ck_assert(n > 4 && !strcmp(buf + n - 4, "\r\n\r\n"));
    ck_assert_str_eq(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ck_assert_uint_eq(cp_wshs_request(buf, 40, "h:1", "/ingest", "cprof.v1", nonce, a), 0);   /* too small */
}
END_TEST

static const char *check(const char *resp)
{
    static char why[200];
    size_t h = cp_wshs_header_len(resp, strlen(resp));
    ck_assert_uint_gt(h, 0);
    return cp_wshs_check(resp, h, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "cprof.v1", why, sizeof why);
}

START_TEST(test_response_checked)
{
    ck_assert_ptr_null(check("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                             "Sec-WebSocket-Protocol: cprof.v1\r\n\r\n"));
    /* headers in any case and order, token lists, spaces */
    ck_assert_ptr_null(check("HTTP/1.1 101 OK\r\nsec-websocket-protocol:cprof.v1\r\nconnection: keep-alive, UPGRADE\r\n"
                             "upgrade:  WebSocket \r\nSEC-WEBSOCKET-ACCEPT: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"));
    const char *w = check("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(w, "websocket upgrade refused: HTTP/1.1 403 Forbidden");
    w = check("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\nSec-WebSocket-Protocol: cprof.v1\r\n\r\n");
    ck_assert_ptr_nonnull(strstr(w, "Sec-WebSocket-Accept"));
    w = check("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
    ck_assert_ptr_nonnull(strstr(w, "protocol cprof.v1"));
    w = check("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: cprof.v1\r\n\r\n");
    ck_assert_ptr_nonnull(strstr(w, "Upgrade: websocket"));
    w = check("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nConnection: close\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: cprof.v1\r\n\r\n");
    ck_assert_ptr_nonnull(strstr(w, "Connection: upgrade"));
    w = check("SSH-2.0-OpenSSH_9.2\r\n\r\n");
    ck_assert_ptr_nonnull(strstr(w, "not HTTP"));
}
END_TEST

START_TEST(test_status_read_inside_the_first_line)
{
    /* the fuzzer's first find: the status was atoi(resp + 9), which skips
     * whitespace, line ends included, and read past the header: here the
     * bytes after it ("101") made a status line with none a 101 */
    static char why[200];
    const char resp[] = "HTTP/1.\n\r\n\r\n101 Switching Protocols";
    size_t h = cp_wshs_header_len(resp, sizeof resp - 1);
    ck_assert_uint_eq(h, 12);
    const char *w = cp_wshs_check(resp, h, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "cprof.v1", why, sizeof why);
    ck_assert_ptr_nonnull(w);
    ck_assert_msg(!strncmp(w, "websocket upgrade refused", 25), "%s", w);
    w = check("HTTP/1.1 1010 Nope\r\n\r\n");   /* 101 must be the whole status */
    ck_assert_msg(!strncmp(w, "websocket upgrade refused", 25), "%s", w);
    w = check("HTTP/1.1  101 x\r\n\r\n");
    ck_assert_msg(!strncmp(w, "websocket upgrade refused", 25), "%s", w);
}
END_TEST

START_TEST(test_header_len_waits_for_blank_line)
{
    const char *r = "HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n\x82\x02hi";
    ck_assert_uint_eq(cp_wshs_header_len(r, 20), 0);
    ck_assert_uint_eq(cp_wshs_header_len(r, strlen(r)), strlen(r) - 4);   /* a frame follows */
}
END_TEST

static void uri(const char *in, int rc, const char *prot, const char *host, int port, const char *path)
{
    char p[256];
    snprintf(p, sizeof p, "%s", in);
    const char *pr = NULL, *a = NULL, *pa = NULL;
    int po = 0;
    ck_assert_msg(cp_wshs_parse_uri(p, &pr, &a, &po, &pa) == rc, "%s", in);
    if (rc)
        return;
    ck_assert_str_eq(pr, prot);
    ck_assert_str_eq(a, host);
    ck_assert_int_eq(po, port);
    ck_assert_str_eq(pa, path);
}

START_TEST(test_parse_uri)
{
    uri("ws://127.0.0.1:7070", 0, "ws", "127.0.0.1", 7070, "/");
    uri("ws://127.0.0.1:7070/", 0, "ws", "127.0.0.1", 7070, "/");
    uri("ws://relay.example:9/ingest/x", 0, "ws", "relay.example", 9, "ingest/x");
    uri("ws://relay.example", 0, "ws", "relay.example", 80, "/");
    uri("wss://relay.example/p", 0, "wss", "relay.example", 443, "p");
    uri("ws://[::1]:7070/ingest", 0, "ws", "::1", 7070, "ingest");
    uri("ws://[::1]", 0, "ws", "::1", 80, "/");
    uri("ws://h:0", -1, "", "", 0, "");
    uri("ws://h:99999", -1, "", "", 0, "");
    uri("ws://h:12x", -1, "", "", 0, "");
    uri("ws://:7070", -1, "", "", 0, "");
    uri("ws://[::1", -1, "", "", 0, "");
    uri("127.0.0.1:7070", -1, "", "", 0, "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ws_handshake");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_accept_key_rfc6455_example);
    tcase_add_test(tc, test_request_carries_key_protocol_and_host);
    tcase_add_test(tc, test_response_checked);
    tcase_add_test(tc, test_status_read_inside_the_first_line);
    tcase_add_test(tc, test_header_len_waits_for_blank_line);
    tcase_add_test(tc, test_parse_uri);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);  /* CK_VERBOSITY from the environment */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
