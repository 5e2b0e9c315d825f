/* human.c - human units and local times for the CLI. See human.h. */
#include "human.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

cp_unit_t cp_human_unit_of_type(const char *type)
{
    if (!type)
        return CP_UNIT_COUNT;
    if (!strcmp(type, "cpu") || !strcmp(type, "wall") || !strcmp(type, "lock"))
        return CP_UNIT_NS;
    if (!strcmp(type, "alloc"))
        return CP_UNIT_BYTES;
    return CP_UNIT_COUNT;
}

cp_unit_t cp_human_unit_named(const char *unit)
{
    if (unit && !strcmp(unit, "ns"))
        return CP_UNIT_NS;
    if (unit && !strcmp(unit, "bytes"))
        return CP_UNIT_BYTES;
    return CP_UNIT_COUNT;
}

/* v (already scaled) with three significant digits and a unit name. */
static char *sig3(double v, const char *unit, char *out, size_t n)
{
    const char *fmt = v < 9.995 ? "%.2f %s" : v < 99.95 ? "%.1f %s" : "%.0f %s";
    snprintf(out, n, fmt, v, unit);
    return out;
}

char *cp_human_value(double v, cp_unit_t u, char *out, size_t n)
{
    double a = fabs(v);
    if (!isfinite(v)) {
        snprintf(out, n, "%g", v);
        return out;
    }
    if (a == 0) {
        snprintf(out, n, "0");
        return out;
    }
    char tmp[48];
    const char *sign = v < 0 ? "-" : "";
    switch (u) {
    case CP_UNIT_NS:
        if (a < 1e3) snprintf(tmp, sizeof tmp, "%.0f ns", a);
        else if (a < 1e6 - 500) sig3(a / 1e3, "us", tmp, sizeof tmp);
        else if (a < 1e9 - 5e5) sig3(a / 1e6, "ms", tmp, sizeof tmp);
        else if (a < 59.95e9) sig3(a / 1e9, "s", tmp, sizeof tmp);
        else if (a < 3597e9) sig3(a / 60e9, "min", tmp, sizeof tmp);
        else sig3(a / 3600e9, "h", tmp, sizeof tmp);
        break;
    case CP_UNIT_BYTES: {
        static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
        if (a < 1024) {
            snprintf(tmp, sizeof tmp, "%.0f B", a);
            break;
        }
        int i = 0;
        a /= 1024;
        while (a >= 999.5 && i < 4) {
            a /= 1024;
            i++;
        }
        sig3(a, units[i], tmp, sizeof tmp);
        break;
    }
    default:
        if (a < 10000) snprintf(tmp, sizeof tmp, "%.0f", a);
        else if (a < 1e6 - 500) sig3(a / 1e3, "k", tmp, sizeof tmp);
        else if (a < 1e9 - 5e5) sig3(a / 1e6, "M", tmp, sizeof tmp);
        else sig3(a / 1e9, "G", tmp, sizeof tmp);
        break;
    }
    snprintf(out, n, "%s%s", sign, tmp);
    return out;
}

static void local_parts(int64_t ms, char *date, size_t dn, char *clock, size_t cn, char *zone, size_t zn)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        memset(&tm, 0, sizeof tm);
    strftime(date, dn, "%Y-%m-%d", &tm);
    strftime(clock, cn, "%H:%M:%S", &tm);
    strftime(zone, zn, "%Z", &tm);
}

char *cp_human_time(int64_t ms, char *out, size_t n)
{
    char d[32], c[16], z[32];
    local_parts(ms, d, sizeof d, c, sizeof c, z, sizeof z);
    snprintf(out, n, "%s %s %s", d, c, z);
    return out;
}

char *cp_human_range(int64_t from_ms, int64_t to_ms, char *out, size_t n)
{
    char d1[32], c1[16], z1[32], d2[32], c2[16], z2[32];
    local_parts(from_ms, d1, sizeof d1, c1, sizeof c1, z1, sizeof z1);
    local_parts(to_ms, d2, sizeof d2, c2, sizeof c2, z2, sizeof z2);
    if (!strcmp(d1, d2) && !strcmp(z1, z2))
        snprintf(out, n, "%s %s to %s %s", d1, c1, c2, z1);
    else
        snprintf(out, n, "%s %s %s to %s %s %s", d1, c1, z1, d2, c2, z2);
    return out;
}

char *cp_human_age(int64_t ms, char *out, size_t n)
{
    int64_t s = ms < 0 ? 0 : ms / 1000;
    if (s < 120) snprintf(out, n, "%lld s", (long long)s);
    else if (s < 7200) snprintf(out, n, "%lld min", (long long)(s / 60));
    else if (s < 3 * 86400) snprintf(out, n, "%lld h", (long long)(s / 3600));
    else snprintf(out, n, "%lld d", (long long)(s / 86400));
    return out;
}
