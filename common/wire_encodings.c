/* wire_encodings.c - negotiated batch encodings: names <-> bits, and the
 * static string tables and preset dictionaries they refer to.
 *
 * Negotiation (docs/protocol.md "Encodings"): the agent lists the
 * encodings it can send in hello key 14, the relay answers those it accepts
 * in welcome key 6, and the agent then uses only those. Decoders accept
 * every encoding whatever was negotiated, so they look tables up by the id
 * the message carries (cp__wire_strtab_by_ext, cp__wire_zdict_by_id).
 *
 * Thread: any; constant tables only. */
#include "wire.h"
#include "wire_encodings.h"

#include <string.h>

static const struct { uint32_t bit; const char *name; } ENC_NAMES[] = {
    {CP_WIRE_ENC_ZDICT1, "zdict1"},
    {CP_WIRE_ENC_COMPACT1, "compact1"},
    {CP_WIRE_ENC_STRTAB1, "strtab1"},
    {CP_WIRE_ENC_PYKIND1, "pykind1"},
};

uint32_t cp_wire_enc_names(uint32_t enc, const char *names[8])
{
    uint32_t n = 0;
    for (size_t i = 0; i < sizeof ENC_NAMES / sizeof ENC_NAMES[0] && n < 8; i++)
        if (enc & ENC_NAMES[i].bit)
            names[n++] = ENC_NAMES[i].name;
    return n;
}

uint32_t cp_wire_enc_parse(const char *const *names, uint32_t n)
{
    uint32_t enc = 0;
    for (uint32_t j = 0; names && j < n; j++)
        for (size_t i = 0; i < sizeof ENC_NAMES / sizeof ENC_NAMES[0]; i++)
            if (names[j] && !strcmp(names[j], ENC_NAMES[i].name))
                enc |= ENC_NAMES[i].bit;
    return enc;
}

int32_t cp_wire_strtab_find(const cp_wire_strtab_t *t, const char *s, size_t len)
{
    uint32_t lo = 0, hi = t->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const char *m = t->strs[t->sorted[mid]];
        size_t ml = strlen(m);
        int c = memcmp(m, s, ml < len ? ml : len);
        if (c == 0)
            c = ml < len ? -1 : ml > len ? 1 : 0;
        if (c == 0)
            return t->sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* String tables a decoder knows, by msgpack ext type. */
const cp_wire_strtab_t *cp__wire_strtab_by_ext(int8_t ext)
{
    return ext == (int8_t)cp_wire_strtab1.ext ? &cp_wire_strtab1 : NULL;
}

/* Preset dictionaries a decoder knows, by zlib dictionary id. */
const cp_wire_zdict_t *cp__wire_zdict_by_id(uint32_t id)
{
    return id == cp_wire_zdict1.id ? &cp_wire_zdict1 : NULL;
}
