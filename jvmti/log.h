/* log.h - the agent's log: stderr, a file, or nothing; one line per call.
 *
 * Every line starts with "cprof: " and the level, so a user grepping the
 * JVM's stderr finds them. Thread: any (a mutex serialises writers). Not
 * signal-safe: never call from a handler (count there, log later). */
#ifndef CP_LOG_H
#define CP_LOG_H

#include "options.h"

/* (Re)opens the destination named by o->log and sets the level. Idempotent.
 * Returns 0, or CP_EIO (errno kept) when the file cannot be opened: the
 * log then goes to stderr. */
int  cp_log_configure(const char *dest, int level);
void cp_log_close(void);
int  cp_log_level(void);

void cp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define CP_LOGE(...) cp_log(CP_LOG_ERROR, __VA_ARGS__)
#define CP_LOGW(...) cp_log(CP_LOG_WARN, __VA_ARGS__)
#define CP_LOGI(...) cp_log(CP_LOG_INFO, __VA_ARGS__)
#define CP_LOGD(...) do { if (cp_log_level() >= CP_LOG_DEBUG) cp_log(CP_LOG_DEBUG, __VA_ARGS__); } while (0)

/* Adapter for cp_options_parse's warn callback: logs the line at WARN,
 * whatever the configured level (an option warning must be seen). */
void cp_log_option_warning(void *ud, const char *line);

#endif
