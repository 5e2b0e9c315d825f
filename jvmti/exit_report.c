/* exit_report.c - the agent's summary at VM death: every counter, what was
 * sent, samples and failures by kind, drops, the CPU engine, the code map
 * and the agent's own cost, all at info level. The warning about windows
 * never acknowledged stays with the lifecycle in agent.c.
 *
 * scripts/faults accounts every sample with the "exit: counters:" line, so
 * its shape is an interface. Thread: the VM's shutdown thread (VMDeath),
 * agent.c's life_mu held. Not signal-safe. */
#include "exit_report.h"

#include "codemap.h"
#include "cost.h"
#include "harvest.h"   /* cp_now_ms */
#include "log.h"
#include "sampler.h"
#include "sender.h"
#include "sigcost.h"
#include "stats.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void cp_exit_report(int left, uint64_t start_ms, uint64_t c0)
{
    cp_sigcost_publish();   /* cpu.signal_ns up to now, before the counters are read */
    {   /* every counter, cumulative: scripts/faults accounts samples with it */
        char all[2048];
        size_t ao = 0;
        all[0] = '\0';
        for (int i = 0; i < CP_ST__COUNT && ao < sizeof all - 64; i++) {
            uint64_t v = cp_stats_get((cp_stat_id_t)i);
            if (v)
                ao += (size_t)snprintf(all + ao, sizeof all - ao, " %s=%llu",
                                       cp_stats_name((cp_stat_id_t)i), (unsigned long long)v);
        }
        CP_LOGI("exit: counters:%s unacked.batches=%d unacked.samples=%llu", all, left,
                (unsigned long long)cp_sender_queued_samples());
    }
    uint64_t ms = cp_now_ms() - start_ms;
    uint64_t sent = cp_stats_get(CP_ST_BYTES_SENT);
    CP_LOGI("exit: sent %llu bytes in %.1f s (%.0f B/s); samples cpu=%llu wall=%llu no_java_thread=%llu, failed=%llu, ring drops=%llu",
            (unsigned long long)sent, ms / 1000.0, ms ? sent * 1000.0 / (double)ms : 0.0,
            (unsigned long long)cp_stats_get(CP_ST_SAMPLES_CPU),
            (unsigned long long)cp_stats_get(CP_ST_SAMPLES_WALL),
            (unsigned long long)cp_stats_get(CP_ST_SAMPLES_NOJAVA),
            (unsigned long long)(cp_stats_get(CP_ST_FAIL_NO_CLASS_LOAD) + cp_stats_get(CP_ST_FAIL_GC_ACTIVE) +
                                 cp_stats_get(CP_ST_FAIL_UNKNOWN_NOT_JAVA) + cp_stats_get(CP_ST_FAIL_NOT_WALKABLE_NOT_JAVA) +
                                 cp_stats_get(CP_ST_FAIL_UNKNOWN_JAVA) + cp_stats_get(CP_ST_FAIL_NOT_WALKABLE_JAVA) +
                                 cp_stats_get(CP_ST_FAIL_UNKNOWN_STATE) + cp_stats_get(CP_ST_FAIL_THREAD_EXIT) +
                                 cp_stats_get(CP_ST_FAIL_DEOPT) + cp_stats_get(CP_ST_FAIL_SAFEPOINT) +
                                 cp_stats_get(CP_ST_FAIL_OTHER) + cp_stats_get(CP_ST_FAIL_CRASH)),
            (unsigned long long)cp_stats_get(CP_ST_DROP_RING));
    struct timespec pc;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &pc);
    double proc_ms = pc.tv_sec * 1e3 + pc.tv_nsec / 1e6;
    cp_cost_callback(c0);   /* this exit's own work, up to here */
    double own_ms = cp_stats_get(CP_ST_AGENT_THREADS_NS) / 1e6;
    double hand_ms = cp_stats_get(CP_ST_HANDLER_NS) / 1e6;
    double cb_ms = cp_stats_get(CP_ST_CALLBACK_NS) / 1e6;
    double sig_ms = (cp_sigcost_ns(CP_SIGCOST_CPU) + cp_sigcost_ns(CP_SIGCOST_WALL)) / 1e6;
    CP_LOGI("exit: agent cost: threads %.1f ms + signal handlers %.1f ms + JVMTI callbacks %.1f ms + "
            "signal delivery %.1f ms = %.2f%% of the JVM's %.0f ms CPU", own_ms, hand_ms, cb_ms, sig_ms,
            proc_ms > 0 ? 100.0 * (own_ms + hand_ms + cb_ms + sig_ms) / proc_ms : 0.0, proc_ms);
    CP_LOGI("exit: signal delivery (kernel, sigcost.h): %llu cpu signals x %.1f us + %llu wall signals x %.1f us%s",
            (unsigned long long)cp_sigcost_signals(CP_SIGCOST_CPU), cp_sigcost_per_signal_ns(CP_SIGCOST_CPU) / 1e3,
            (unsigned long long)cp_sigcost_signals(CP_SIGCOST_WALL), cp_sigcost_per_signal_ns(CP_SIGCOST_WALL) / 1e3,
            !cp_sigcost_calibrated() ? " (not calibrated yet: counted as 0)"
            : cp_stats_get(CP_ST_SIGCOST_FAIL) ? " (calibration failed for some kind: counted as 0)" : "");
    char kinds[512];
    size_t ko = 0;
    kinds[0] = '\0';
    for (int i = 0; i < CP_ST__COUNT && ko < sizeof kinds - 64; i++) {
        const char *nm = cp_stats_name((cp_stat_id_t)i);
        uint64_t v = cp_stats_get((cp_stat_id_t)i);
        if (v && !strncmp(nm, "fail.", 5))
            ko += (size_t)snprintf(kinds + ko, sizeof kinds - ko, " %s=%llu", nm, (unsigned long long)v);
    }
    if (ko)
        CP_LOGI("exit: failures by kind:%s", kinds);
    ko = 0;   /* every cause of loss, zeros included, for fault tests */
    kinds[0] = '\0';
    for (int i = 0; i < CP_ST__COUNT && ko < sizeof kinds - 64; i++) {
        const char *nm = cp_stats_name((cp_stat_id_t)i);
        if (!strncmp(nm, "drop.", 5))
            ko += (size_t)snprintf(kinds + ko, sizeof kinds - ko, " %s=%llu", nm,
                                   (unsigned long long)cp_stats_get((cp_stat_id_t)i));
    }
    CP_LOGI("exit: drops:%s", kinds);
    ko = 0;   /* issue 8: recovered samples, native frames, CPU engine */
    kinds[0] = '\0';
    for (int i = 0; i < CP_ST__COUNT && ko < sizeof kinds - 64; i++) {
        const char *nm = cp_stats_name((cp_stat_id_t)i);
        uint64_t v = cp_stats_get((cp_stat_id_t)i);
        if (v && (!strncmp(nm, "recovered.", 10) || !strncmp(nm, "native.", 7) || !strncmp(nm, "cpu.", 4)))
            ko += (size_t)snprintf(kinds + ko, sizeof kinds - ko, " %s=%llu", nm, (unsigned long long)v);
    }
    CP_LOGI("exit: cpu engine %s;%s", cp_sampler_engine(), ko ? kinds : " nothing recovered");
    uint64_t chains, cdrops;
    cp_codemap_stats(&chains, &cdrops);
    CP_LOGI("exit: code map %llu inline chains (%llu not kept)", (unsigned long long)chains,
            (unsigned long long)cdrops);
}
