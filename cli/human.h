/* human.h - numbers and times as a person reads them, for the CLI's tables
 * and messages. JSON and export formats keep the relay's exact values;
 * only text meant for eyes goes through here.
 *
 *   durations  "870 ns", "12.5 us", "3.40 ms", "6.73 s", "12.4 min", "2.50 h"
 *   sizes      "512 B", "12.0 KiB", "3.25 MiB", "1.20 GiB"
 *   counts     "950", "12.3 k", "4.56 M"
 *   times      local date-time with the zone: "2026-12-03 14:00:05 UTC"
 * Three significant digits. Thread: any, except that the time functions
 * read TZ (localtime_r). */
#ifndef CP_CLI_HUMAN_H
#define CP_CLI_HUMAN_H

#include <stddef.h>
#include <stdint.h>

typedef enum { CP_UNIT_COUNT, CP_UNIT_NS, CP_UNIT_BYTES } cp_unit_t;

/* The unit of a profile type: cpu, wall, lock -> ns; alloc -> bytes;
 * anything else (alloc_objects, lock_count, custom types) -> count. */
cp_unit_t cp_human_unit_of_type(const char *type);
/* The unit of an API "unit" field ("ns", "bytes", anything else: count). */
cp_unit_t cp_human_unit_named(const char *unit);

/* Formats v in unit u into out ("6.73 s"). Returns out. */
char *cp_human_value(double v, cp_unit_t u, char *out, size_t n);

/* Local date-time with the zone, to the second: "2026-12-03 14:00:05 UTC".
 * Returns out. */
char *cp_human_time(int64_t ms, char *out, size_t n);

/* A range: "2026-12-03 13:45:00 to 14:00:00 UTC" when both ends share the
 * date and zone, else both in full. Returns out. */
char *cp_human_range(int64_t from_ms, int64_t to_ms, char *out, size_t n);

/* An age: "8 s", "3 min", "2 h", "5 d" (rounded down). Returns out. */
char *cp_human_age(int64_t ms, char *out, size_t n);

#endif
