/* Random-matrix statistics of spectra: spacing ratios and the laws they are
 * compared with.
 *
 * Spacing ratios (Atas, Bogomolny, Giraud, Roux, PRL 110, 084101, 2013):
 * r_n = s_n / s_(n-1) over consecutive spacings s_n = l_(n+1) - l_n of
 * ascending levels, and r~ = min(r, 1/r) in [0, 1].  They need no
 * unfolding.  The surmise of the Gaussian ensembles of index b is
 *   P_b(r) = (1/Z_b) (r + r^2)^b / (1 + r + r^2)^(1 + 3b/2),
 *   Z_1 = 8/27, Z_2 = 4 pi / (81 sqrt 3), Z_4 = 4 pi / (729 sqrt 3),
 * and uncorrelated (Poisson) levels have P(r) = 1 / (1 + r)^2.  Both are
 * invariant under r -> 1/r, so r~ has density 2 P(r~) on [0, 1]. */
#ifndef HESSRMT_RMT_H
#define HESSRMT_RMT_H

#include <stdint.h>

typedef enum { HR_LAW_POISSON, HR_LAW_GOE, HR_LAW_GUE, HR_LAW_GSE, HR_LAW_COUNT } hr_law_t;

/* "poisson", "goe", "gue", "gse". */
const char *hr_law_name(hr_law_t law);

/* The magnitude below which an eigenvalue of ascending levels is zero to
 * the rounding of a solve in precision eps: 100 eps N max|l|, N the levels
 * that are not exactly 0.0 - the order of the matrix actually solved, as
 * the gram, lowrank and reduced methods pad their spectra with exact
 * zeros.  Counting the levels above it gives the numerical rank. */
double hr_zero_cut(const double *levels, int64_t n, double eps);

/* Mean of r~ = min(r, 1/r), r_n = s_n / s_(n-1) over consecutive spacings
 * of ascending levels, and its standard error.  Pairs with a zero spacing
 * are skipped; *count says how many ratios were used. */
void hr_spacing_ratio_mean(const double *levels, int64_t n, double *mean,
                           double *stderr_mean, int64_t *count);

/* The r~ of ascending levels into out (at most n - 2 values); pairs with a
 * zero spacing are skipped.  Returns how many. */
int64_t hr_spacing_ratios(const double *levels, int64_t n, double *out);

/* Density and distribution function of r~ on [0, 1] under a law. */
double hr_ratio_density(hr_law_t law, double rt);
double hr_ratio_cdf(hr_law_t law, double rt);

/* The law's mean of r~ in closed form: Poisson 2 ln 2 - 1, GOE 4 - 2 sqrt 3,
 * GUE 2 sqrt 3 / pi - 1/2, GSE 32 sqrt 3 / (15 pi) - 1/2. */
double hr_ratio_mean_exact(hr_law_t law);

/* The reference mean of r~ a large spectrum is compared with: Poisson's
 * exact 2 ln 2 - 1, and for the Gaussian ensembles the large-N values of
 * Atas et al. (GOE 0.5307, GUE 0.5996, GSE 0.6744), which differ from the
 * surmise's by about 1%. */
double hr_ratio_mean_reference(hr_law_t law);

/* Higher-order (non-overlapping) ratios r~^(k) = min(r, 1/r) with
 * r = (l_(i+2k) - l_(i+k)) / (l_(i+k) - l_i) into out; returns how many.
 * Tekur, Bhosale and Santhanam (PRB 98, 104305, 2018) found them
 * distributed as the nearest-neighbour surmise of the effective index
 * b' = k (k + 1) / 2 * b + k - 1. */
int64_t hr_higher_order_ratios(const double *levels, int64_t n, int k,
                               double *out);
double hr_ratio_effective_index(double beta, int k);

/* Mean of r~^(k) for Poisson levels: the two k-th order spacings are
 * independent Gamma(k, 1), so r has density r^(k-1) / (B(k,k) (1+r)^(2k))
 * (k = 1 gives 2 ln 2 - 1). */
double hr_ratio_mean_poisson_order(int k);

/* Mean of r~ under the surmise of any index b > 0 (quadrature). */
double hr_ratio_mean_index(double b);

/* Sort v (n values) ascending. */
void hr_sort_doubles(double *v, int64_t n);

/* Kolmogorov-Smirnov distance sup |F_n - F| of a sample against a
 * distribution function; sorts the sample in place. */
double hr_ks_distance(double *sample, int64_t n, double (*cdf)(double, void *),
                      void *ctx);

/* Asymptotic p-value of a KS distance d for n samples: the Kolmogorov
 * distribution Q(l) = 2 sum (-1)^(k-1) exp(-2 k^2 l^2) at
 * l = (sqrt n + 0.12 + 0.11 / sqrt n) d (Stephens 1970). */
double hr_ks_pvalue(double d, int64_t n);

#endif
