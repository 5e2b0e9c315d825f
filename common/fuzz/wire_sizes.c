/* wire_sizes.c - what each wire encoding lever saves, on recorded batches.
 *
 * Usage: wire_sizes RUN_DIR...   (each holds one agent run's batch messages,
 * NNN.bin in send order, as scripts/wire-zdict capture records them: v1
 * layout, no preset dictionary).
 *
 * For each run it replays the batches through a cp_stack_dict (the ids come
 * out as the agent assigned them: dense, in order) and re-encodes every
 * batch at zlib level 9 the way the agent does, with each lever on: v1 as
 * recorded, times rounded to the us (the agent's harvester), compact1,
 * zdict1, strtab1, and combinations. Prints bytes per run (envelopes included) and
 * per part: strings, frames, stacks, values, the rest (each part encoded
 * alone in an otherwise empty batch, so parts do not add up exactly).
 *
 * Not a test: a measuring tool for docs/agent.md's wire figures. */
#include "error.h"
#include "stack_dict.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { L_ROUND = 1, L_COMPACT = 2, L_ZDICT = 4, L_STRTAB = 8 };

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(sz > 0 ? (size_t)sz : 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return p;
}

/* Interns the batch's (v1, full-stack) delta. */
static int intern(cp_stack_dict_t *d, const cp_batch_t *b)
{
    uint32_t id;
    for (uint32_t i = 0; i < b->n_strs; i++)
        if (cp_stack_dict_intern_string(d, b->strs[i].s, b->strs[i].len, &id) || id != b->str_first + i)
            return -1;
    for (uint32_t i = 0; i < b->n_frames; i++)
        if (cp_stack_dict_intern_frame(d, &b->frames[i], &id) || id != b->frame_first + i)
            return -1;
    for (uint32_t i = 0; i < b->n_stacks; i++)
        if (b->stacks[i].keep || cp_stack_dict_intern_stack(d, b->stacks[i].frames, b->stacks[i].n, &id) ||
            id != b->stack_first + i)
            return -1;
    return 0;
}

static size_t enc_size(const cp_msg_t *m, int levers)
{
    cp_buf_t out = CP_BUF_INIT;
    cp_wire_encopt_t o = {9, (levers & L_COMPACT ? CP_WIRE_ENC_COMPACT1 : 0) |
                             (levers & L_ZDICT ? CP_WIRE_ENC_ZDICT1 : 0) |
                             (levers & L_STRTAB ? CP_WIRE_ENC_STRTAB1 : 0)};
    int rc = cp_wire_encode_ex(m, &o, &out);
    size_t n = rc ? 0 : out.len;
    if (rc)
        fprintf(stderr, "wire_sizes: encode: %s\n", cp_errname(rc));
    cp_buf_fini(&out);
    return n;
}

/* totals[0] = whole batches, [1..5] = parts. */
static void run(char **files, int nfiles, int levers, size_t totals[6])
{
    cp_stack_dict_t *d = cp_stack_dict_create();
    cp_stack_dict_track_prefixes(d);
    for (int f = 0; f < nfiles; f++) {
        size_t n;
        uint8_t *data = slurp(files[f], &n);
        cp_msg_t *m = NULL;
        char err[160];
        if (!data || cp_wire_decode(data, n, NULL, &m, err, sizeof err) || m->kind != CP_MSG_BATCH) {
            fprintf(stderr, "wire_sizes: %s: not a batch (%s)\n", files[f], data ? err : "unreadable");
            exit(1);
        }
        cp_batch_t *b = &m->u.batch;
        uint32_t s0 = cp_stack_dict_strings(d), f0 = cp_stack_dict_frames(d), k0 = cp_stack_dict_stacks(d);
        if (b->flags & CP_BATCH_DICT_RESET || intern(d, b)) {
            fprintf(stderr, "wire_sizes: %s: dictionary replay failed\n", files[f]);
            exit(1);
        }
        cp_wire_value_t *v = malloc((b->n_values + 1) * sizeof *v);
        memcpy(v, b->values, b->n_values * sizeof *v);
        for (uint32_t i = 0; (levers & L_ROUND) && i < b->n_values; i++)
            if (v[i].type < b->n_types && !strcmp(b->types[v[i].type].unit, "ns"))
                v[i].value = v[i].value < 1000 ? 1000 : (v[i].value + 500) / 1000 * 1000;
        cp_msg_t e = *m;
        cp_batch_t *eb = &e.u.batch;
        eb->dict = d;
        eb->values = v;
        uint32_t ns = cp_stack_dict_strings(d), nf = cp_stack_dict_frames(d), nk = cp_stack_dict_stacks(d);
        for (int part = 0; part < 6; part++) {
            eb->str_first = part == 0 || part == 1 ? s0 : ns;
            eb->frame_first = part == 0 || part == 2 ? f0 : nf;
            eb->stack_first = part == 0 || part == 3 ? k0 : nk;
            eb->n_values = part == 0 || part == 4 ? b->n_values : 0;
            eb->n_counters = part == 0 || part == 5 ? b->n_counters : 0;
            eb->n_points = part == 0 || part == 5 ? b->n_points : 0;
            eb->n_types = part == 0 || part == 4 || part == 5 ? b->n_types : 0;
            totals[part] += enc_size(&e, levers);
        }
        free(v);
        cp_msg_free(m);
        free(data);
    }
    cp_stack_dict_destroy(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
    static const struct { int levers; const char *name; } cfg[] = {
        {0, "v1 (before)"}, {L_ROUND, "us rounding"}, {L_COMPACT, "compact1"}, {L_ZDICT, "zdict1"},
        {L_STRTAB, "strtab1"}, {L_ROUND | L_COMPACT, "us + compact1"},
        {L_ROUND | L_COMPACT | L_ZDICT, "us+comp+zdict"}, {L_ROUND | L_COMPACT | L_STRTAB, "us+comp+strtab"},
        {L_ROUND | L_COMPACT | L_ZDICT | L_STRTAB, "all"},
    };
    for (int a = 1; a < argc; a++) {
        char *files[4096];
        int nf = 0;
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "ls '%s'/*.bin 2>/dev/null", argv[a]);
        FILE *ls = popen(cmd, "r");
        char line[4096];
        while (ls && nf < 4096 && fgets(line, sizeof line, ls)) {
            line[strcspn(line, "\n")] = '\0';
            files[nf++] = strdup(line);
        }
        if (ls)
            pclose(ls);
        qsort(files, (size_t)nf, sizeof files[0], cmp_str);
        printf("%s: %d batches\n", argv[a], nf);
        printf("  %-14s %8s %8s %8s %8s %8s %8s\n", "levers", "total", "strings", "frames", "stacks", "values", "rest");
        for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
            size_t t[6] = {0};
            run(files, nf, cfg[c].levers, t);
            printf("  %-14s %8zu %8zu %8zu %8zu %8zu %8zu\n", cfg[c].name, t[0], t[1], t[2], t[3], t[4], t[5]);
        }
        for (int i = 0; i < nf; i++)
            free(files[i]);
    }
    return 0;
}
