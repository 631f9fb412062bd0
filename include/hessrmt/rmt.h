/* Random-matrix statistics of a spectrum (grown by the stats command). */
#ifndef HESSRMT_RMT_H
#define HESSRMT_RMT_H

#include <stdint.h>

/* Mean of r~ = min(r, 1/r), r_n = s_n / s_(n-1) over consecutive spacings
 * of ascending levels (Atas et al., PRL 110, 084101, 2013), and its
 * standard error.  Needs no unfolding.  Pairs with a zero spacing are
 * skipped; *count says how many ratios were used. */
void hr_spacing_ratio_mean(const double *levels, int64_t n, double *mean,
                           double *stderr_mean, int64_t *count);

#endif
