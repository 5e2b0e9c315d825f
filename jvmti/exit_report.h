/* exit_report.h - the agent's summary lines at VM death (exit_report.c).
 * Thread: the VM's shutdown thread, under agent.c's life_mu. */
#ifndef CP_EXIT_REPORT_H
#define CP_EXIT_REPORT_H

#include <stdint.h>

/* Logs the exit summary (info level): counters, bytes sent since start_ms,
 * samples and failures by kind, drops, CPU engine, code map, and the
 * agent's cost against the JVM's CPU time. left: batches never acknowledged
 * by the relay; c0: cp_cost_now() when the exit's own work began (counted
 * as callback time before the cost line). */
void cp_exit_report(int left, uint64_t start_ms, uint64_t c0);

#endif
