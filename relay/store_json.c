/* store_json.c - apps and instances documents (contract in store_json.h).
 * Pure functions over caller-owned buffers; any thread. */
#include "store_json.h"
#include "store_state.h"

#include <string.h>

void cp_store_json_apps_begin(cp_buf_t *out) { cp_buf_printf(out, "{\"apps\":["); }
void cp_store_json_apps_end(cp_buf_t *out) { cp_buf_printf(out, "]}"); }

void cp_store_json_app_begin(cp_buf_t *out, bool first, const char *name, int64_t instances,
                             int64_t connected)
{
    cp_buf_printf(out, "%s{\"name\":", first ? "" : ",");
    cp_buf_json_str(out, name, strlen(name));
    cp_buf_printf(out, ",\"instances\":%lld,\"connected\":%lld,\"types\":[",
                  (long long)instances, (long long)connected);
}

void cp_store_json_app_type(cp_buf_t *out, cp_buf_t *first_samples, bool first, const char *t,
                            int64_t first_sample_ms)
{
    if (!first)
        cp_buf_append(out, ",", 1);
    cp_buf_json_str(out, t, strlen(t));
    if (first_sample_ms < 0)
        return;
    if (first_samples->len)
        cp_buf_append(first_samples, ",", 1);
    cp_buf_json_str(first_samples, t, strlen(t));
    cp_buf_printf(first_samples, ":%lld", (long long)(first_sample_ms / 1000));
}

void cp_store_json_app_end(cp_buf_t *out, const cp_buf_t *first_samples, int64_t last_seen_ms)
{
    cp_buf_printf(out, "],\"first_sample\":{");
    if (first_samples->len)
        cp_buf_append(out, first_samples->data, first_samples->len);
    cp_buf_printf(out, "},\"last_seen\":%lld}", (long long)(last_seen_ms / 1000));
}

/* What one drop.<what> counter means for "dropped": samples lost for sure
 * (drop.ring, and every drop.*_samples: the samples of dropped batches),
 * samples possibly lost (drop.unacked_samples: sent batches given up before
 * their ack; the relay may have stored them), or neither (batches, threads,
 * wall signals not sent: other units, shown only by name). */
typedef enum { DROP_OTHER, DROP_SAMPLES, DROP_MAYBE_SAMPLES } drop_kind_t;

static drop_kind_t drop_kind(const char *what)
{
    static const char suffix[] = "_samples";
    size_t n = strlen(what), ns = sizeof suffix - 1;
    if (!strcmp(what, "unacked_samples"))
        return DROP_MAYBE_SAMPLES;
    if (!strcmp(what, "ring") || (n > ns && !strcmp(what + n - ns, suffix)))
        return DROP_SAMPLES;
    return DROP_OTHER;
}

/* Appends "name":v to a JSON object body being built in b. */
static void json_member(cp_buf_t *b, const char *name, int64_t v)
{
    cp_buf_append(b, ",", b->len ? 1 : 0);
    cp_buf_json_str(b, name, strlen(name));
    cp_buf_printf(b, ":%lld", (long long)v);
}

void cp_store_quality_counter(cp_store_quality_t *q, const char *k, int64_t v)
{
    if (!strcmp(k, "samples") || !strcmp(k, "samples.cpu") || !strcmp(k, "samples.wall") ||
        !strcmp(k, "samples.alloc") || !strcmp(k, "samples.lock"))
        q->samples += v;
    else if (!strncmp(k, "drop.", 5)) {
        json_member(&q->drop, k + 5, v);
        switch (drop_kind(k + 5)) {
        case DROP_SAMPLES:       q->dropped += v; break;
        case DROP_MAYBE_SAMPLES: q->possibly_dropped += v; break;
        case DROP_OTHER:         break;
        }
    } else if (!strcmp(k, "rate.cpu_mhz")) {
        q->rate_hz = (double)v / 1000.0;
        q->have_rate = true;
    } else if (!strncmp(k, "fail.", 5)) {
        json_member(&q->fail, k + 5, v);
        q->failed += v;
    } else if (!strncmp(k, CP_STORE_STATE_PREFIX, sizeof CP_STORE_STATE_PREFIX - 1)) {
        json_member(&q->state, k + sizeof CP_STORE_STATE_PREFIX - 1, v);
    }
}

void cp_store_quality_fini(cp_store_quality_t *q)
{
    cp_buf_fini(&q->fail);
    cp_buf_fini(&q->drop);
    cp_buf_fini(&q->state);
}

void cp_store_json_instances_begin(cp_buf_t *out) { cp_buf_printf(out, "{\"instances\":["); }
void cp_store_json_instances_end(cp_buf_t *out) { cp_buf_printf(out, "]}"); }

static void json_kv_str(cp_buf_t *o, const char *k, const char *v)
{
    const char *s = v ? v : "";
    cp_buf_printf(o, ",\"%s\":", k);
    cp_buf_json_str(o, s, strlen(s));
}

void cp_store_json_instance(cp_buf_t *out, bool first, const char *app, const cp_store_inst_row_t *r,
                            const cp_store_quality_t *q)
{
    const char *iid = r->iid ? r->iid : "";
    cp_buf_printf(out, "%s{\"id\":", first ? "" : ",");
    cp_buf_json_str(out, iid, strlen(iid));
    cp_buf_printf(out, ",\"app\":");
    cp_buf_json_str(out, app, strlen(app));
    json_kv_str(out, "host", r->host);
    cp_buf_printf(out, ",\"pid\":%lld,\"labels\":%s", (long long)r->pid,
                  r->labels_json ? r->labels_json : "{}");
    json_kv_str(out, "jvm", r->jvm);
    json_kv_str(out, "agent_version", r->agent_version);
    cp_buf_printf(out, ",\"connected\":%s,\"first_seen\":%lld,\"last_seen\":%lld",
                  r->connected ? "true" : "false", (long long)(r->first_seen_ms / 1000),
                  (long long)(r->last_seen_ms / 1000));
    double rate = q->have_rate && q->rate_hz >= 0 ? q->rate_hz
                  : r->covered_ms > 0 ? (double)q->samples * 1000.0 / (double)r->covered_ms : 0.0;
    cp_buf_printf(out, ",\"quality\":{\"samples\":%lld,\"failed\":%lld,\"fail\":{%.*s},"
                       "\"dropped\":%lld,\"possibly_dropped\":%lld,\"drop\":{%.*s},\"rate_hz\":%.3f}",
                  (long long)q->samples, (long long)q->failed,
                  (int)q->fail.len, q->fail.data ? (const char *)q->fail.data : "",
                  (long long)q->dropped, (long long)q->possibly_dropped,
                  (int)q->drop.len, q->drop.data ? (const char *)q->drop.data : "", rate);
    if (q->state.len)
        cp_buf_printf(out, ",\"state\":{%.*s}", (int)q->state.len, (const char *)q->state.data);
    cp_buf_printf(out, "}");
}
