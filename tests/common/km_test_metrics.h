/*
 * km_test_metrics.h - the tests' one reader of a running program's
 * /metrics: the port it wrote to its metrics_port_file, one series'
 * value, the sum of a family's series, and polling a series against a
 * deadline.
 */
#ifndef KM_TEST_METRICS_H
#define KM_TEST_METRICS_H

/** @brief The port written to pf by the running program pid, waiting up
 *  to timeout_ms.  @returns the port, or 0 (pid exited, or no port). */
int km_test_metrics_port(const char *pf, int pid, int timeout_ms);

/** @brief One series ("name{labels}" exactly as rendered): its value, or
 *  -1 when absent or /metrics could not be read. */
double km_test_metric(int port, const char *series);

/** @brief Poll until series == want.  @returns the last value. */
double km_test_wait_metric(int port, const char *series, double want,
                           int timeout_ms);

/** @brief The sum of the series that start with prefix (a name and the
 *  start of its labels) at the start of a line, or -1: none, or /metrics
 *  could not be read. */
double km_test_metric_sum(int port, const char *prefix);

#endif /* KM_TEST_METRICS_H */
