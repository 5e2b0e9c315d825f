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
 * CP_EINVAL. Pure functions, any thread.
 *
 * cp_time_parse_local adds what a person types at a terminal (the CLI):
 * dates alone, date-times without a zone (read in the local zone, TZ),
 * "today", "yesterday", zone names. The relay's API does not use it: the
 * relay's zone means nothing to its clients. It reads TZ, so it is not
 * thread-safe. */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* ---- local forms (the CLI) ---------------------------------------------- */

/* A zone after a local date-time: "" (local), Z/UTC/GMT, +HH[:MM|MM] or the
 * local zone's name. *utc_off_ms set and *is_utc true for explicit offsets;
 * *isdst -1 (let mktime decide), 0 or 1 for a named local zone. */
static int parse_zone(const char *p, bool *is_utc, int64_t *utc_off_ms, int *isdst)
{
    *is_utc = false;
    *utc_off_ms = 0;
    *isdst = -1;
    if (*p == ' ')
        p++;
    if (!*p)
        return 0;
    if (!strcmp(p, "Z") || !strcmp(p, "z") || !strcasecmp(p, "UTC") || !strcasecmp(p, "GMT")) {
        *is_utc = true;
        return 0;
    }
    if (*p == '+' || *p == '-') {
        int oh, om = 0;
        const char *q = p + 1;
        if (digits(q, 2, &oh))
            return CP_EINVAL;
        q += 2;
        if (*q == ':')
            q++;
        if (*q && (digits(q, 2, &om) || q[2]))
            return CP_EINVAL;
        if (oh > 23 || om > 59)
            return CP_EINVAL;
        *is_utc = true;
        *utc_off_ms = (oh * 60 + om) * 60000LL * (*p == '+' ? 1 : -1);
        return 0;
    }
    tzset();
    for (int i = 0; i < 2; i++)
        if (tzname[i] && *tzname[i] && !strcmp(p, tzname[i])) {
            *isdst = i;
            return 0;
        }
    return CP_EINVAL;
}

static int local_midnight(int64_t now_ms, int days_back, int64_t *out)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return CP_EINVAL;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_mday -= days_back;
    tm.tm_isdst = -1;
    time_t m = mktime(&tm);
    if (m == (time_t)-1)
        return CP_EINVAL;
    *out = (int64_t)m * 1000;
    return 0;
}

int cp_time_parse_local(const char *s, int64_t now_ms, int64_t *out)
{
    int rc = cp_time_parse(s, now_ms, out);
    if (rc != CP_EINVAL)
        return rc;
    if (!strcmp(s, "today"))
        return local_midnight(now_ms, 0, out);
    if (!strcmp(s, "yesterday"))
        return local_midnight(now_ms, 1, out);
    int Y, M, D, h = 0, m = 0, sec = 0;
    if (strlen(s) < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D))
        return CP_EINVAL;
    const char *p = s + 10;
    int64_t frac_ms = 0;
    if ((*p == ' ' || *p == 'T' || *p == 't') && isdigit((unsigned char)p[1])) {
        p++;
        if (digits(p, 2, &h) || p[2] != ':' || digits(p + 3, 2, &m))
            return CP_EINVAL;
        p += 5;
        if (*p == ':') {
            if (digits(p + 1, 2, &sec))
                return CP_EINVAL;
            p += 3;
            if (*p == '.') {
                int k = 0;
                for (p++; isdigit((unsigned char)*p); p++, k++)
                    if (k < 3)
                        frac_ms = frac_ms * 10 + (*p - '0');
                if (!k)
                    return CP_EINVAL;
                for (; k < 3; k++)
                    frac_ms *= 10;
            }
        }
    }
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || h > 23 || m > 59 || sec > 59)
        return CP_EINVAL;
    /* the day must exist in that month: timegm normalises 02-31 to 03-03 */
    struct tm chk = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D};
    time_t ct = timegm(&chk);
    struct tm back;
    if (!gmtime_r(&ct, &back) || back.tm_mday != D || back.tm_mon != M - 1)
        return CP_EINVAL;
    bool is_utc;
    int64_t off;
    int isdst;
    if ((rc = parse_zone(p, &is_utc, &off, &isdst)))
        return rc;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m,
                    .tm_sec = sec, .tm_isdst = isdst};
    time_t t;
    if (is_utc) {
        t = timegm(&tm);
    } else {
        t = mktime(&tm);
        if (t == (time_t)-1)
            return CP_ERANGE;
    }
    int64_t ms = (int64_t)t * 1000 + frac_ms - off;
    if (ms < 0 || ms > TIME_MAX_MS)
        return CP_ERANGE;
    *out = ms;
    return 0;
}
