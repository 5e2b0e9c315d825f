/* vmflags.c - HotSpot flags through VMStructs. See vmflags.h. */
#include "vmflags.h"

#include "error.h"

#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

static const char *ptr_at(const char *base, uint64_t off)
{
    const char *p;
    memcpy(&p, base + off, sizeof p);
    return p;
}

static uint64_t u64_at(const char *base, uint64_t off)
{
    uint64_t v;
    memcpy(&v, base + off, sizeof v);
    return v;
}

int cp_vmflags_find(const cp_vmflags_tables_t *t, const char *name, void **addr)
{
    *addr = NULL;
    if (!t->fields || !t->f_stride || !t->types || !t->t_stride)
        return CP_ENOTFOUND;
    const char *flags_var = NULL, *num_var = NULL;   /* &JVMFlag::flags, &JVMFlag::numFlags */
    int64_t name_off = -1, addr_off = -1;
    for (const char *e = t->fields;; e += t->f_stride) {
        const char *type = ptr_at(e, t->f_type_name);
        if (!type)
            break;
        const char *field = ptr_at(e, t->f_field_name);
        if (!field || strcmp(type, "JVMFlag") != 0)
            continue;
        int32_t is_static;
        memcpy(&is_static, e + t->f_is_static, sizeof is_static);
        if (is_static && !strcmp(field, "flags"))
            flags_var = ptr_at(e, t->f_address);
        else if (is_static && !strcmp(field, "numFlags"))
            num_var = ptr_at(e, t->f_address);
        else if (!is_static && !strcmp(field, "_name"))
            name_off = (int64_t)u64_at(e, t->f_offset);
        else if (!is_static && !strcmp(field, "_addr"))
            addr_off = (int64_t)u64_at(e, t->f_offset);
    }
    uint64_t size = 0;
    for (const char *e = t->types;; e += t->t_stride) {
        const char *type = ptr_at(e, t->t_type_name);
        if (!type)
            break;
        if (!strcmp(type, "JVMFlag")) {
            size = u64_at(e, t->t_size);
            break;
        }
    }
    if (!flags_var || !num_var || name_off < 0 || addr_off < 0 || size < sizeof(void *) ||
        (uint64_t)name_off + sizeof(void *) > size || (uint64_t)addr_off + sizeof(void *) > size)
        return CP_ENOTFOUND;
    const char *flags = ptr_at(flags_var, 0);
    uint64_t n = u64_at(num_var, 0);
    if (!flags || n > 100000)
        return CP_ENOTFOUND;
    for (uint64_t i = 0; i < n; i++) {
        const char *f = flags + i * size;
        const char *fname = ptr_at(f, (uint64_t)name_off);
        if (fname && !strcmp(fname, name)) {
            void *a;
            memcpy(&a, f + addr_off, sizeof a);
            if (!a)
                return CP_ENOTFOUND;
            *addr = a;
            return 0;
        }
    }
    return CP_ENOTFOUND;
}

static int sym_u64(const char *name, uint64_t *v)
{
    const uint64_t *p = dlsym(RTLD_DEFAULT, name);
    if (!p)
        return 0;
    *v = *p;
    return 1;
}

static int sym_ptr(const char *name, const char **v)
{
    const char *const *p = dlsym(RTLD_DEFAULT, name);
    if (!p)
        return 0;
    *v = *p;
    return 1;
}

int cp_vmflags_load(cp_vmflags_tables_t *t)
{
    memset(t, 0, sizeof *t);
    int ok = sym_ptr("gHotSpotVMStructs", &t->fields) &&
             sym_u64("gHotSpotVMStructEntryArrayStride", &t->f_stride) &&
             sym_u64("gHotSpotVMStructEntryTypeNameOffset", &t->f_type_name) &&
             sym_u64("gHotSpotVMStructEntryFieldNameOffset", &t->f_field_name) &&
             sym_u64("gHotSpotVMStructEntryIsStaticOffset", &t->f_is_static) &&
             sym_u64("gHotSpotVMStructEntryOffsetOffset", &t->f_offset) &&
             sym_u64("gHotSpotVMStructEntryAddressOffset", &t->f_address) &&
             sym_ptr("gHotSpotVMTypes", &t->types) &&
             sym_u64("gHotSpotVMTypeEntryArrayStride", &t->t_stride) &&
             sym_u64("gHotSpotVMTypeEntryTypeNameOffset", &t->t_type_name) &&
             sym_u64("gHotSpotVMTypeEntrySizeOffset", &t->t_size);
    /* the strides are 0 until vmStructs_init ran (VM start-up) */
    if (!ok || !t->fields || !t->types || !t->f_stride || !t->t_stride)
        return CP_ENOTFOUND;
    return 0;
}
