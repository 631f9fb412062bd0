/* The eigenvectors of --eigenvectors against random-matrix theory
 * (hr_stats_evecs_t in stats.h). */
#ifndef HESSRMT_STATS_EVECS_H
#define HESSRMT_STATS_EVECS_H

#include "hessrmt/spectra_read.h"
#include "hessrmt/stats.h"

/* From path's hessian_evecs, read one spectrum at a time (nothing when the
 * file has none).  Not collective. */
int hr_stats_evecs(const char *path, const hr_spectra_t *sp,
                   hr_stats_evecs_t *e);

#endif
