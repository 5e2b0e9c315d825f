/* timeparse.c - the query API's time and duration syntax (docs/api.md).
 *
 *   times:     unix seconds ("1763773000", "1763773000.5"), RFC 3339
 *              ("2026-11-22T01:00:00Z", "...T01:00:00.250+02:00"),
 *              relative ("now", "now-15m", "now-1h30m" is not accepted;
 *              one number + unit).
 *   durations: "500ms", "30s", "15m", "2h", "7d", "2w", "1y"; a bare number
 *              is seconds.
 * Bounds: a duration over CP_DURATION_MAX_MS (100 y), and a time before the
 * epoch or after year 9999, are CP_ERANGE (checked in double before any
 * conversion, so nothing overflows); "nan", "inf", hex and spaces are
 * CP_EINVAL. Pure functions, any thread. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "relay.h"

int cp_duration_parse(const char *s, int64_t *out)
{
    if (!s || !isdigit((unsigned char)*s) || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
        return CP_EINVAL;   /* also refuses nan, inf, signs, spaces, hex */
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0)
        return CP_EINVAL;
    double mul;
    if (!*end || !strcmp(end, "s"))
        mul = 1000;
    else if (!strcmp(end, "ms"))
        mul = 1;
    else if (!strcmp(end, "m"))
        mul = 60e3;
    else if (!strcmp(end, "h"))
        mul = 3600e3;
    else if (!strcmp(end, "d"))
        mul = 86400e3;
    else if (!strcmp(end, "w"))
        mul = 7 * 86400e3;
    else if (!strcmp(end, "y"))
        mul = 365 * 86400e3;
    else
        return CP_EINVAL;
    double ms = v * mul;
    if (!isfinite(ms) || ms > (double)CP_DURATION_MAX_MS)
        return CP_ERANGE;
    *out = (int64_t)ms;
    return 0;
}

#define TIME_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

static int digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        *v = *v * 10 + (s[i] - '0');
    }
    return 0;
}

static int rfc3339(const char *s, int64_t *out)
{
    int Y, M, D, h, m, sec;
    size_t n = strlen(s);
    if (n < 20 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &m) || s[16] != ':' ||
        digits(s + 17, 2, &sec))
        return CP_EINVAL;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return CP_EINVAL;
    const char *p = s + 19;
    int64_t frac_ms = 0;
    if (*p == '.') {
        p++;
        int k = 0;
        double f = 0, scale = 100;
        while (isdigit((unsigned char)*p)) {
            if (k++ < 3) {
                f += (*p - '0') * scale;
                scale /= 10;
            }
            p++;
        }
        if (!k)
            return CP_EINVAL;
        frac_ms = (int64_t)f;
    }
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
            return CP_EINVAL;
        off = (oh * 60 + om) * 60000LL * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return CP_EINVAL;
    }
    if (*p)
        return CP_EINVAL;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *out = (int64_t)t * 1000 + frac_ms - off;
    return 0;
}

int cp_time_parse(const char *s, int64_t now_ms, int64_t *out)
{
    if (!s || !*s)
        return CP_EINVAL;
    if (!strncmp(s, "now", 3)) {
        const char *r = s + 3;
        if (!*r) {
            *out = now_ms;
            return 0;
        }
        if (*r != '-' && *r != '+')
            return CP_EINVAL;
        int64_t d;
        int rc = cp_duration_parse(r + 1, &d);
        if (rc)
            return rc;
        int64_t t = *r == '-' ? now_ms - d : now_ms + d;   /* |d| <= 100 y: no overflow */
        if (t < 0 || t > TIME_MAX_MS)
            return CP_ERANGE;
        *out = t;
        return 0;
    }
    if (strchr(s, 'T') || strchr(s, 't') || (strlen(s) > 10 && s[4] == '-'))
        return rfc3339(s, out);
    if (!isdigit((unsigned char)*s))
        return CP_EINVAL;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v) || v < 0 || v > 1e11)
        return CP_EINVAL;
    *out = (int64_t)(v * 1000.0 + 0.5);
    return 0;
}
