/*
 * rt_metrics.h - reading a running program's /metrics in the routing
 * tests: the port it wrote to its metrics_port_file, one series' value,
 * and polling a series against a deadline.
 */
#ifndef RT_METRICS_H
#define RT_METRICS_H

/** @brief The port written to pf by the running program pid, waiting up
 *  to timeout_ms.  @returns the port, or 0 (pid exited, or no port). */
int rt_metrics_port(const char *pf, int pid, int timeout_ms);

/** @brief One series ("name{labels}" exactly as rendered): its value, or
 *  -1 when absent or /metrics could not be read. */
double rt_metric(int port, const char *series);

/** @brief Poll until series == want.  @returns the last value. */
double rt_wait_metric(int port, const char *series, double want,
                      int timeout_ms);

#endif /* RT_METRICS_H */
