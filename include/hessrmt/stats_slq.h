/* The stochastic Lanczos quadrature estimate against the exact spectrum
 * (hr_stats_slq_t in stats.h). */
#ifndef HESSRMT_STATS_SLQ_H
#define HESSRMT_STATS_SLQ_H

#include "hessrmt/spectra_read.h"
#include "hessrmt/stats.h"

/* From the file's slq_nodes and slq_weights (nothing when absent). */
int hr_stats_slq(const hr_spectra_t *sp, hr_stats_slq_t *q);
void hr_stats_slq_free(hr_stats_slq_t *q);

/* The estimate's density at x, each node broadened by a Gaussian of
 * q->sigma, as PyHessian plots it. */
double hr_stats_slq_density(const hr_stats_slq_t *q, double x);

#endif
