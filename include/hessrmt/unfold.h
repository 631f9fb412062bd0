/* Unfolding and the statistics of unfolded levels.
 *
 * Unfolding maps levels l to x = N(l), the smoothed counting function, so
 * the unfolded levels have mean spacing 1 and their fluctuations can be
 * compared with random-matrix laws.  Three ways (DESIGN.md, "Unfolding"):
 *   pool  (the paper's, after tscholak/unfoldr): with many spectra, some are
 *         unfolded against the pooled, sorted levels of the others:
 *         x = #{pool <= l} / (number of pool spectra);
 *   poly  a polynomial fit of the counting function, outliers trimmed first
 *         (fitting through them distorts the bulk: Gomez et al., PRE 66,
 *         036209, 2002);
 *   kde   a Gaussian kernel density, integrated and multiplied by the
 *         number of levels (the factor the paper's notebook forgot);
 *   spline a least-squares cubic B-spline of the counting function, with
 *         breakpoints at quantiles of the levels (a density that varies
 *         strongly keeps knots where its levels are). */
#ifndef HESSRMT_UNFOLD_H
#define HESSRMT_UNFOLD_H

#include <stdint.h>

/* pool: unfold `levels` (n, ascending) against `pool` (m ascending values
 * gathered from `pool_spectra` spectra): #{pool <= l} / pool_spectra,
 * interpolated linearly between the middles of the pool's steps, so
 * distinct levels never unfold to the same point. */
void hr_unfold_pool(const double *levels, int64_t n, const double *pool,
                    int64_t m, int64_t pool_spectra, double *out);

/* poly: least-squares fit of degree `degree` to (l_i, i + 1/2) over the
 * levels left after trimming `trim` (a fraction, e.g. 0.05) from each end;
 * every level is then mapped through the polynomial.  HR_ERR_INPUT if too
 * few levels remain. */
int hr_unfold_poly(const double *levels, int64_t n, int degree, double trim,
                   double *out);

/* kde: x = n * (1/n) sum_j Phi((l - l_j) / h) with Silverman's bandwidth
 * h = 1.06 sigma n^(-1/5) when bandwidth <= 0. */
void hr_unfold_kde(const double *levels, int64_t n, double bandwidth,
                   double *out);

/* spline: the fit of (l_i, i + 1/2) by a cubic B-spline with n/50
 * breakpoints (4 to 20) at quantiles of the levels, evaluated at every
 * level.  HR_ERR_INPUT with too few distinct levels. */
int hr_unfold_spline(const double *levels, int64_t n, double *out);

/* Nearest-neighbour spacing laws, each with mean 1 (Wigner surmises). */
typedef enum { HR_SPACING_POISSON, HR_SPACING_GOE, HR_SPACING_GUE } hr_spacing_law_t;
double hr_spacing_density(hr_spacing_law_t law, double s);
double hr_spacing_cdf(hr_spacing_law_t law, double s);

/* Brody parameter q in [0, 1] by maximum likelihood for spacings s (mean
 * 1): P(s) = (q + 1) a s^q exp(-a s^(q+1)), a = Gamma((q+2)/(q+1))^(q+1);
 * q = 0 is Poisson, q = 1 the GOE surmise. */
double hr_brody_fit(const double *spacings, int64_t n);

/* Number variance Sigma^2(L) of unfolded levels (ascending): the variance
 * of the count of levels in windows (x, x + L], with `windows` starts x
 * evenly spaced so that every window lies inside [x_0, x_(n-1)].  NaN
 * when the span is shorter than L; never negative (Welford's update). */
double hr_number_variance(const double *unfolded, int64_t n, double L,
                          int64_t windows);

/* The GOE curve, exact for all L (Mehta's closed form with the sine and
 * cosine integrals); Poisson is L.  For large L it tends to (2/pi^2)(ln 2
 * pi L + gamma + 1 - pi^2 / 8). */
double hr_number_variance_goe(double L);

/* Spectral rigidity Delta_3(L) (Dyson and Mehta) of unfolded levels
 * (ascending): the least-squares deviation of the staircase from its best
 * straight line over a window of length L, (1/L) min_{A,B} int (N(x) - A x
 * - B)^2 dx, averaged over `windows` starts placed as for Sigma^2.  The
 * integral is taken exactly, segment by segment of the staircase, as a sum
 * of squares in coordinates centred on the window: >= 0 by construction
 * and free of cancellation however many levels the window holds.
 * References: Poisson L/15; GOE exact from Sigma^2 by Pandey's integral,
 * tending to (1/pi^2)(ln 2 pi L + gamma - 5/4 - pi^2/8) for large L; a
 * picket fence 1/12 for L >> 1. */
double hr_spectral_rigidity(const double *unfolded, int64_t n, double L,
                            int64_t windows);
double hr_spectral_rigidity_goe(double L);

#endif
