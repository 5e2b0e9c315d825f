/* sender_unreach.c - warnings about a relay that cannot be reached
 * (sender_unreach.h). */
#include "sender_unreach.h"

#include <string.h>

#include "log.h"

const char *cp_unreach_bad_url(const char *url)
{
    const char *host;
    if (!strncmp(url, "ws://", 5))
        host = url + 5;
    else if (!strncmp(url, "wss://", 6))
        host = url + 6;
    else
        return "not a relay address: it must be ws://HOST:PORT or wss://HOST:PORT (the address the relay "
               "prints when it starts)";
    if (!*host || *host == '/' || *host == ':')
        return "no host after the scheme";
    return NULL;
}

bool cp_unreach_failed(cp_unreach_t *u, const char *url, const char *why, uint64_t now_ms,
                       const cp_unreach_held_t *h)
{
    if (!why || !*why)
        why = "connection failed";
    if (!u->since_ms) {
        u->since_ms = u->logged_ms = now_ms ? now_ms : 1;
        CP_LOGW("cannot reach the relay at %s (%s): profile data is kept in the agent's buffer and sent when "
                "the relay can be reached; retrying", url, why);
        return true;
    }
    if (now_ms - u->logged_ms < CP_UNREACH_REPEAT_MS)
        return false;
    u->logged_ms = now_ms;
    CP_LOGW("relay at %s unreachable for %llu s (%s): holding %u window(s), %llu sample(s), %zu KiB; "
            "%llu sample(s) dropped so far (buffer full)", url,
            (unsigned long long)((now_ms - u->since_ms) / 1000), why, h->batches,
            (unsigned long long)h->samples, (h->bytes + 1023) / 1024, (unsigned long long)h->dropped_samples);
    return true;
}

void cp_unreach_connected(cp_unreach_t *u, const char *url, uint64_t now_ms)
{
    if (!u->since_ms)
        return;
    CP_LOGW("relay at %s reached again after %llu s; sending what was held", url,
            (unsigned long long)((now_ms - u->since_ms) / 1000));
    u->since_ms = u->logged_ms = 0;
}
