/* test_otlp.c - the OTLP profiles encoder (relay/otlp.h) on hand-built
 * profiles, decoded twice: by protobuf-c from our .proto (structure, every
 * index) and by `protoc --decode` against relay/proto/otlp_profiles.proto
 * (an independent decoder of the same text). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp.h"
#include "otlp_profiles.pb-c.h"
#include "profile.h"

#define PB(x) Opentelemetry__Proto__Profiles__V1development__##x
typedef PB(ExportProfilesServiceRequest) req_t;

static void make(cp_profile_t *p, const char *const *names, const uint8_t *kinds, uint32_t nn,
                 const uint32_t *const *stacks, const uint32_t *lens, const uint64_t *vals, uint32_t ns)
{
    memset(p, 0, sizeof *p);
    p->names = calloc(nn, sizeof *p->names);
    p->kinds = calloc(nn, 1);
    for (uint32_t i = 0; i < nn; i++) {
        p->names[i] = strdup(names[i]);
        p->kinds[i] = kinds[i];
    }
    p->n_names = nn;
    uint32_t tot = 0;
    for (uint32_t i = 0; i < ns; i++)
        tot += lens[i];
    p->stack_off = calloc(ns + 1, sizeof(uint32_t));
    p->funcs = calloc(tot + 1, sizeof(uint32_t));
    p->values = calloc(ns, sizeof(uint64_t));
    uint32_t k = 0;
    for (uint32_t i = 0; i < ns; i++) {
        p->stack_off[i] = k;
        for (uint32_t j = 0; j < lens[i]; j++)
            p->funcs[k++] = stacks[i][j];
        p->values[i] = vals[i];
        p->total += vals[i];
    }
    p->stack_off[ns] = k;
    p->n_stacks = ns;
    p->unit = strdup("ns");
}

/* names: 0 thread root, 1 main, 2 a, 3 b, 4 native, 5 a (again: same name,
 * another dictionary entry, as after a dictionary merge) */
static const char *const NAMES[] = {"[thread] main", "x.Main.main", "x.A.a", "x.B.b", "libc.so.6!memcpy", "x.A.a"};
static const uint8_t KINDS[] = {6, 0, 2, 1, 4, 2};
static const uint32_t S0[] = {0, 1, 2}, S1[] = {0, 1, 3}, S2[] = {0, 1, 2, 4}, S3[] = {0, 1, 5}, S4[] = {0, 1, 3};
static const uint32_t *const STACKS[] = {S0, S1, S2, S3, S4};
static const uint32_t LENS[] = {3, 3, 4, 3, 3};
static const uint64_t VALS[] = {10, 50, 5, 7, 0};

static req_t *encode_one(cp_buf_t *out)
{
    cp_profile_t p;
    make(&p, NAMES, KINDS, 6, STACKS, LENS, VALS, 5);
    cp_buf_init(out);
    ck_assert_int_eq(cp_otlp_write_profile(&p, "shop", "cpu", 1000, 11000, out), 0);
    cp_profile_free(&p);
    req_t *r = opentelemetry__proto__profiles__v1development__export_profiles_service_request__unpack(NULL, out->len,
                                                                                                      out->data);
    ck_assert_ptr_nonnull(r);
    return r;
}

/* "a;b;c" root first of sample j of profile pf */
static void path_of(const req_t *r, const PB(Sample) *s, char *buf, size_t cap)
{
    const PB(ProfilesDictionary) *d = r->dictionary;
    const PB(Stack) *st = d->stack_table[s->stack_index];
    buf[0] = 0;
    for (size_t k = st->n_location_indices; k-- > 0;) {
        const PB(Location) *l = d->location_table[st->location_indices[k]];
        ck_assert_uint_eq(l->n_lines, 1);
        const PB(Function) *f = d->function_table[l->lines[0]->function_index];
        if (buf[0])
            strncat(buf, ";", cap - strlen(buf) - 1);
        strncat(buf, d->string_table[f->name_strindex], cap - strlen(buf) - 1);
    }
}

START_TEST(test_otlp_tables_start_with_zero_values)
{
    cp_buf_t out;
    req_t *r = encode_one(&out);
    const PB(ProfilesDictionary) *d = r->dictionary;
    ck_assert_ptr_nonnull(d);
    ck_assert_str_eq(d->string_table[0], "");
    ck_assert_uint_ge(d->n_function_table, 2);
    ck_assert_int_eq(d->function_table[0]->name_strindex, 0);
    ck_assert_uint_eq(d->location_table[0]->n_lines, 0);
    ck_assert_uint_eq(d->stack_table[0]->n_location_indices, 0);
    ck_assert_int_eq(d->attribute_table[0]->key_strindex, 0);
    ck_assert_ptr_null(d->attribute_table[0]->value);
    ck_assert_uint_eq(d->n_mapping_table, 1);
    ck_assert_uint_eq(d->n_link_table, 1);
    ck_assert_uint_eq(d->link_table[0]->trace_id.len, 16);
    ck_assert_uint_eq(d->link_table[0]->span_id.len, 8);
    /* no duplicate strings */
    for (size_t i = 0; i < d->n_string_table; i++)
        for (size_t j = i + 1; j < d->n_string_table; j++)
            ck_assert_str_ne(d->string_table[i], d->string_table[j]);
    opentelemetry__proto__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    cp_buf_fini(&out);
}
END_TEST

START_TEST(test_otlp_resource_scope_and_profile_header)
{
    cp_buf_t out;
    req_t *r = encode_one(&out);
    ck_assert_uint_eq(r->n_resource_profiles, 1);
    const PB(ResourceProfiles) *rp = r->resource_profiles[0];
    ck_assert_uint_eq(rp->resource->n_attributes, 1);
    ck_assert_str_eq(rp->resource->attributes[0]->key, "service.name");
    ck_assert_str_eq(rp->resource->attributes[0]->value->string_value, "shop");
    ck_assert_uint_eq(rp->n_scope_profiles, 1);
    ck_assert_str_eq(rp->scope_profiles[0]->scope->name, "cprof");
    ck_assert_uint_eq(rp->scope_profiles[0]->n_profiles, 1);
    const PB(Profile) *pf = rp->scope_profiles[0]->profiles[0];
    const PB(ProfilesDictionary) *d = r->dictionary;
    ck_assert_str_eq(d->string_table[pf->sample_type->type_strindex], "cpu");
    ck_assert_str_eq(d->string_table[pf->sample_type->unit_strindex], "nanoseconds");
    ck_assert_uint_eq(pf->time_unix_nano, 1000000000ull);
    ck_assert_uint_eq(pf->duration_nano, 10000000000ull);
    opentelemetry__proto__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    cp_buf_fini(&out);
}
END_TEST

START_TEST(test_otlp_samples_merge_equal_paths_leaf_first)
{
    cp_buf_t out;
    req_t *r = encode_one(&out);
    const PB(Profile) *pf = r->resource_profiles[0]->scope_profiles[0]->profiles[0];
    /* S0 and S3 name the same path (x.A.a twice in the names): one sample
     * of 17; S4 has value 0: no sample */
    ck_assert_uint_eq(pf->n_samples, 3);
    uint64_t sum = 0;
    int seen = 0;
    for (size_t j = 0; j < pf->n_samples; j++) {
        const PB(Sample) *s = pf->samples[j];
        ck_assert_uint_eq(s->n_values, 1);
        ck_assert_uint_eq(s->n_attribute_indices, 0);
        ck_assert_int_eq(s->link_index, 0);
        ck_assert_int_ne(s->stack_index, 0);
        sum += (uint64_t)s->values[0];
        char path[256];
        path_of(r, s, path, sizeof path);
        if (!strcmp(path, "[thread] main;x.Main.main;x.A.a")) {
            ck_assert_int_eq(s->values[0], 17);
            seen |= 1;
        } else if (!strcmp(path, "[thread] main;x.Main.main;x.B.b")) {
            ck_assert_int_eq(s->values[0], 50);
            seen |= 2;
        } else if (!strcmp(path, "[thread] main;x.Main.main;x.A.a;libc.so.6!memcpy")) {
            ck_assert_int_eq(s->values[0], 5);
            seen |= 4;
        } else {
            ck_abort_msg("unexpected path %s", path);
        }
        for (size_t k = j + 1; k < pf->n_samples; k++)
            ck_assert_int_ne(s->stack_index, pf->samples[k]->stack_index);
    }
    ck_assert_int_eq(seen, 7);
    ck_assert_uint_eq(sum, 72);
    /* leaf first: the memcpy stack starts at the native frame */
    const PB(ProfilesDictionary) *d = r->dictionary;
    for (size_t j = 0; j < pf->n_samples; j++) {
        const PB(Stack) *st = d->stack_table[pf->samples[j]->stack_index];
        const PB(Location) *leaf = d->location_table[st->location_indices[0]];
        const char *nm = d->string_table[d->function_table[leaf->lines[0]->function_index]->name_strindex];
        ck_assert(strcmp(nm, "x.Main.main") && strcmp(nm, "[thread] main"));
    }
    opentelemetry__proto__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    cp_buf_fini(&out);
}
END_TEST

START_TEST(test_otlp_locations_carry_frame_type)
{
    cp_buf_t out;
    req_t *r = encode_one(&out);
    const PB(ProfilesDictionary) *d = r->dictionary;
    int n_jvm = 0, n_native = 0, n_none = 0;
    for (size_t i = 1; i < d->n_location_table; i++) {
        const PB(Location) *l = d->location_table[i];
        const char *nm = d->string_table[d->function_table[l->lines[0]->function_index]->name_strindex];
        if (!l->n_attribute_indices) {
            ck_assert_str_eq(nm, "[thread] main");
            n_none++;
            continue;
        }
        const PB(KeyValueAndUnit) *a = d->attribute_table[l->attribute_indices[0]];
        ck_assert_str_eq(d->string_table[a->key_strindex], "profile.frame.type");
        const char *v = a->value->string_value;
        if (!strcmp(v, "native")) {
            ck_assert_str_eq(nm, "libc.so.6!memcpy");
            n_native++;
        } else {
            ck_assert_str_eq(v, "jvm");
            n_jvm++;
        }
    }
    ck_assert_int_eq(n_none, 1);
    ck_assert_int_eq(n_native, 1);
    ck_assert_int_eq(n_jvm, 3);   /* main, a, b: x.A.a is one location */
    opentelemetry__proto__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    cp_buf_fini(&out);
}
END_TEST

START_TEST(test_otlp_two_profiles_share_the_dictionary)
{
    cp_profile_t p;
    make(&p, NAMES, KINDS, 6, STACKS, LENS, VALS, 5);
    cp_otlp_t *o = cp_otlp_create();
    cp_otlp_meta_t m1 = {.app = "shop", .instance = "i-1", .labels = "env=prod,note=a\\,b\\=c", .type = "cpu",
                         .from_ms = 0, .to_ms = 10000};
    cp_otlp_meta_t m2 = {.app = "shop", .instance = "i-2", .type = "cpu", .from_ms = 10000, .to_ms = 20000};
    ck_assert_int_eq(cp_otlp_add(o, &m1, &p), 0);
    ck_assert_int_eq(cp_otlp_add(o, &m2, &p), 0);
    ck_assert_uint_eq(cp_otlp_count(o), 2);
    cp_buf_t out;
    cp_buf_init(&out);
    ck_assert_int_eq(cp_otlp_write(o, &out), 0);
    cp_otlp_destroy(o);
    cp_profile_free(&p);
    req_t *r = opentelemetry__proto__profiles__v1development__export_profiles_service_request__unpack(NULL, out.len,
                                                                                                      out.data);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->n_resource_profiles, 2);
    const PB(Resource) *r1 = r->resource_profiles[0]->resource;
    ck_assert_uint_eq(r1->n_attributes, 4);
    ck_assert_str_eq(r1->attributes[1]->key, "service.instance.id");
    ck_assert_str_eq(r1->attributes[1]->value->string_value, "i-1");
    ck_assert_str_eq(r1->attributes[2]->key, "env");
    ck_assert_str_eq(r1->attributes[2]->value->string_value, "prod");
    ck_assert_str_eq(r1->attributes[3]->key, "note");
    ck_assert_str_eq(r1->attributes[3]->value->string_value, "a,b=c");
    ck_assert_uint_eq(r->resource_profiles[1]->resource->n_attributes, 2);
    const PB(Profile) *a = r->resource_profiles[0]->scope_profiles[0]->profiles[0];
    const PB(Profile) *b = r->resource_profiles[1]->scope_profiles[0]->profiles[0];
    ck_assert_uint_eq(a->n_samples, b->n_samples);
    for (size_t j = 0; j < a->n_samples; j++)
        ck_assert_int_eq(a->samples[j]->stack_index, b->samples[j]->stack_index);
    /* stack 0 + the three paths, once */
    ck_assert_uint_eq(r->dictionary->n_stack_table, 4);
    opentelemetry__proto__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    cp_buf_fini(&out);
}
END_TEST

/* Samples by label set, then links: S1 (x.B.b, 50) split 30 "endpoint=GET
 * /a" + 20 "endpoint=POST /b"; a trace entry of 25 on that stack moves 25
 * from the larger label set (30 -> 5 + 25 linked), one of 40 on S0's path
 * moves only what is there (10 + S3's 7 = 17 -> all linked, the unlinked
 * sample disappears); an entry on a stack no sample has moves nothing.
 * Sums per stack never change. */
START_TEST(test_otlp_sample_attributes_and_links)
{
    cp_profile_t p;
    make(&p, NAMES, KINDS, 6, STACKS, LENS, VALS, 5);
    cp_otlp_t *o = cp_otlp_create();
    cp_otlp_meta_t m = {.app = "shop", .type = "cpu", .from_ms = 0, .to_ms = 10000};
    cp_otlp_begin(o, &m, &p);
    cp_otlp_sample(o, 0, "endpoint=GET /a", 10);
    cp_otlp_sample(o, 1, "endpoint=GET /a", 30);
    cp_otlp_sample(o, 1, "endpoint=POST /b,tenant=x\\,y", 20);
    cp_otlp_sample(o, 2, NULL, 5);
    cp_otlp_sample(o, 3, "endpoint=GET /a", 7);   /* S3 = S0's path: the same sample */
    uint32_t fb[] = {0, 1, 3}, fa[] = {0, 1, 2}, fx[] = {0, 2};
    cp_otlp_link_t l1 = {0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull, 0x00f067aa0ba902b7ull,
                         (const char *const *)p.names, p.kinds, fb, 3, 25};
    ck_assert_uint_eq(cp_otlp_link(o, &l1), 25);
    cp_otlp_link_t l2 = {1, 2, 0, (const char *const *)p.names, p.kinds, fa, 3, 40};
    ck_assert_uint_eq(cp_otlp_link(o, &l2), 17);
    cp_otlp_link_t l3 = {1, 2, 0, (const char *const *)p.names, p.kinds, fx, 2, 40};
    ck_assert_uint_eq(cp_otlp_link(o, &l3), 0);
    cp_otlp_end(o);
    cp_buf_t out;
    cp_buf_init(&out);
    ck_assert_int_eq(cp_otlp_write(o, &out), 0);
    cp_otlp_destroy(o);
    cp_profile_free(&p);
    req_t *r = opentelemetry__proto__profiles__v1development__export_profiles_service_request__unpack(NULL, out.len,
                                                                                                      out.data);
    ck_assert_ptr_nonnull(r);
    const PB(ProfilesDictionary) *d = r->dictionary;
    ck_assert_uint_eq(d->n_link_table, 3);
    static const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    static const uint8_t sid[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    const PB(Profile) *pf = r->resource_profiles[0]->scope_profiles[0]->profiles[0];
    int seen = 0;
    for (size_t j = 0; j < pf->n_samples; j++) {
        const PB(Sample) *s = pf->samples[j];
        char path[256], ep[64] = "", tn[64] = "";
        path_of(r, s, path, sizeof path);
        for (size_t k = 0; k < s->n_attribute_indices; k++) {
            const PB(KeyValueAndUnit) *a = d->attribute_table[s->attribute_indices[k]];
            const char *key = d->string_table[a->key_strindex];
            snprintf(!strcmp(key, "endpoint") ? ep : tn, 64, "%s", a->value->string_value);
        }
        const PB(Link) *lk = d->link_table[s->link_index];
        int64_t v = s->values[0];
        ck_assert_int_gt(v, 0);
        if (strstr(path, "x.B.b") && !strcmp(ep, "GET /a") && !s->link_index) {
            ck_assert_int_eq(v, 5);
            seen |= 1;
        } else if (strstr(path, "x.B.b") && !strcmp(ep, "GET /a")) {
            ck_assert_int_eq(v, 25);
            ck_assert_uint_eq(lk->trace_id.len, 16);
            ck_assert_int_eq(memcmp(lk->trace_id.data, tid, 16), 0);
            ck_assert_int_eq(memcmp(lk->span_id.data, sid, 8), 0);
            seen |= 2;
        } else if (strstr(path, "x.B.b")) {
            ck_assert_str_eq(ep, "POST /b");
            ck_assert_str_eq(tn, "x,y");
            ck_assert_int_eq(s->link_index, 0);
            ck_assert_int_eq(v, 20);
            seen |= 4;
        } else if (strstr(path, "memcpy")) {
            ck_assert_uint_eq(s->n_attribute_indices, 0);
            ck_assert_int_eq(v, 5);
            seen |= 8;
        } else {
            ck_assert_str_eq(path, "[thread] main;x.Main.main;x.A.a");
            ck_assert_str_eq(ep, "GET /a");
            ck_assert_int_ne(s->link_index, 0);
            ck_assert_uint_eq(lk->trace_id.data[15], 2);
            ck_assert_int_eq(v, 17);
            seen |= 16;
        }
    }
    ck_assert_int_eq(seen, 31);
    ck_assert_uint_eq(pf->n_samples, 5);
    opentelemetry__proto__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    cp_buf_fini(&out);
}
END_TEST

/* protoc is Debian's protobuf-compiler (scripts/setup). */
START_TEST(test_otlp_decodes_with_protoc_against_our_proto)
{
    cp_buf_t out;
    req_t *r = encode_one(&out);
    opentelemetry__proto__profiles__v1development__export_profiles_service_request__free_unpacked(r, NULL);
    char in[] = "/tmp/test_otlp_XXXXXX";
    int fd = mkstemp(in);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, out.data, out.len), (ssize_t)out.len);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "protoc --proto_path=%s --decode=opentelemetry.proto.profiles.v1development.ExportProfilesServiceRequest"
             " otlp_profiles.proto < %s 2>&1", OTLP_PROTO_DIR, in);
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    char text[65536];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = 0;
    int st = pclose(f);
    unlink(in);
    ck_assert_msg(st == 0, "protoc --decode failed (%d): %s", st, text);
    ck_assert_ptr_nonnull(strstr(text, "key: \"service.name\""));
    ck_assert_ptr_nonnull(strstr(text, "string_value: \"shop\""));
    ck_assert_ptr_nonnull(strstr(text, "string_table: \"x.B.b\""));
    ck_assert_ptr_nonnull(strstr(text, "string_value: \"jvm\""));
    ck_assert_ptr_nonnull(strstr(text, "values: 50"));
    ck_assert_ptr_nonnull(strstr(text, "stack_table {\n    location_indices:"));
    cp_buf_fini(&out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("otlp");
    TCase *tc = tcase_create("encode");
    tcase_add_test(tc, test_otlp_tables_start_with_zero_values);
    tcase_add_test(tc, test_otlp_resource_scope_and_profile_header);
    tcase_add_test(tc, test_otlp_samples_merge_equal_paths_leaf_first);
    tcase_add_test(tc, test_otlp_locations_carry_frame_type);
    tcase_add_test(tc, test_otlp_two_profiles_share_the_dictionary);
    tcase_add_test(tc, test_otlp_sample_attributes_and_links);
    suite_add_tcase(s, tc);
    tc = tcase_create("protoc");
    tcase_add_test(tc, test_otlp_decodes_with_protoc_against_our_proto);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV);   /* CK_VERBOSITY from the environment */
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
