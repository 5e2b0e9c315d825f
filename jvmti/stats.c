/* stats.c - counter storage and names. See stats.h. */
#include "stats.h"

_Atomic uint64_t cp_stats[CP_ST__COUNT];

static const char *const names[CP_ST__COUNT] = {
#define CP__ST_NAME(id, name) [id] = name,
    CP_STATS(CP__ST_NAME)
#undef CP__ST_NAME
};

const char *cp_stats_name(cp_stat_id_t id)
{
    return (unsigned)id < CP_ST__COUNT ? names[id] : "?";
}

CP_SIGSAFE cp_stat_id_t cp_stats_agct_fail(int n)
{
    switch (n) {
    case 0:   return CP_ST_FAIL_NO_JAVA_FRAME;
    case -1:  return CP_ST_FAIL_NO_CLASS_LOAD;
    case -2:  return CP_ST_FAIL_GC_ACTIVE;
    case -3:  return CP_ST_FAIL_UNKNOWN_NOT_JAVA;
    case -4:  return CP_ST_FAIL_NOT_WALKABLE_NOT_JAVA;
    case -5:  return CP_ST_FAIL_UNKNOWN_JAVA;
    case -6:  return CP_ST_FAIL_NOT_WALKABLE_JAVA;
    case -7:  return CP_ST_FAIL_UNKNOWN_STATE;
    case -8:  return CP_ST_FAIL_THREAD_EXIT;
    case -9:  return CP_ST_FAIL_DEOPT;
    case -10: return CP_ST_FAIL_SAFEPOINT;
    case -11: return CP_ST_FAIL_CRASH;     /* agent's own: AGCT faulted, recovered */
    default:  return CP_ST_FAIL_OTHER;
    }
}
