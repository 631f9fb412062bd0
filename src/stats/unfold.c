/* Unfolding and the statistics of unfolded levels (see unfold.h). */
#include "hessrmt/unfold.h"

#include <gsl/gsl_bspline.h>
#include <gsl/gsl_integration.h>
#include <gsl/gsl_min.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_sf_expint.h>
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdlib.h>

#include "hessrmt/error.h"

/* ---- unfolding ------------------------------------------------------------ */

/* How many of the sorted values are <= x (upper bound by bisection). */
static int64_t count_at_most(const double *sorted, int64_t m, double x) {
  int64_t lo = 0, hi = m;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (sorted[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* The pool's staircase interpolated linearly through the middles of its
 * steps, (p_k, k + 1/2): a level between p_(j-1) and p_j maps to
 * j - 1/2 + (l - p_(j-1)) / (p_j - p_(j-1)).  Without it, two levels in
 * the same gap of the pool unfold to one point, and a zero spacing makes
 * the Brody likelihood collapse to q = 0. */
static double pool_count(const double *pool, int64_t m, double l) {
  int64_t j = count_at_most(pool, m, l);
  if (j == 0 || j == m) return (double)j;
  return (double)j - 0.5 + (l - pool[j - 1]) / (pool[j] - pool[j - 1]);
}

void hr_unfold_pool(const double *levels, int64_t n, const double *pool,
                    int64_t m, int64_t pool_spectra, double *out) {
  for (int64_t i = 0; i < n; i++)
    out[i] = pool_count(pool, m, levels[i]) / (double)pool_spectra;
}

int hr_unfold_poly(const double *levels, int64_t n, int degree, double trim,
                   double *out) {
  int64_t cut = (int64_t)(trim * (double)n), first = cut, count = n - 2 * cut;
  if (degree < 1 || count < degree + 2)
    HR_FAIL(HR_ERR_INPUT, "polynomial unfolding of degree %d needs at least "
            "%d levels after trimming; %lld remain (use --unfold kde, or a "
            "lower --poly-degree)", degree, degree + 2, (long long)count);
  /* Fit in a scaled variable t = (l - centre) / half-width: the monomials
   * of raw eigenvalues are badly conditioned. */
  double lo = levels[first], hi = levels[first + count - 1];
  double centre = 0.5 * (lo + hi), half = hi > lo ? 0.5 * (hi - lo) : 1.0;
  gsl_matrix *X = gsl_matrix_alloc((size_t)count, (size_t)degree + 1);
  gsl_vector *y = gsl_vector_alloc((size_t)count), *c = gsl_vector_alloc((size_t)degree + 1);
  gsl_matrix *cov = gsl_matrix_alloc((size_t)degree + 1, (size_t)degree + 1);
  gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc((size_t)count, (size_t)degree + 1);
  if (!X || !y || !c || !cov || !w) {
    gsl_matrix_free(X); gsl_vector_free(y); gsl_vector_free(c);
    gsl_matrix_free(cov); gsl_multifit_linear_free(w);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the unfolding fit");
  }
  for (int64_t i = 0; i < count; i++) {
    double t = (levels[first + i] - centre) / half, p = 1.0;
    for (int k = 0; k <= degree; k++, p *= t) gsl_matrix_set(X, (size_t)i, (size_t)k, p);
    gsl_vector_set(y, (size_t)i, (double)(first + i) + 0.5);
  }
  double chisq;
  gsl_multifit_linear(X, y, c, cov, &chisq, w);
  for (int64_t i = 0; i < n; i++) {
    double t = (levels[i] - centre) / half, p = 1.0, v = 0.0;
    for (int k = 0; k <= degree; k++, p *= t) v += gsl_vector_get(c, (size_t)k) * p;
    out[i] = v;
  }
  gsl_matrix_free(X); gsl_vector_free(y); gsl_vector_free(c);
  gsl_matrix_free(cov); gsl_multifit_linear_free(w);
  return HR_OK;
}

/* Strictly increasing breakpoints at quantiles of the levels, so that a
 * strongly varying density has knots where its levels are. */
static int64_t spline_breaks(const double *levels, int64_t n, int64_t want,
                             double *bp) {
  int64_t got = 0;
  for (int64_t j = 0; j < want; j++) {
    double x = levels[(int64_t)llround((double)j * (double)(n - 1) / (double)(want - 1))];
    if (got == 0 || x > bp[got - 1]) bp[got++] = x;
  }
  return got;
}

int hr_unfold_spline(const double *levels, int64_t n, double *out) {
  /* Few knots: a flexible fit follows the levels' own fluctuations and
   * hides the long-range ones (Sigma^2 of Poisson levels fell from 10 to
   * 6.6 at L = 10 with n/25 knots). */
  int64_t want = n / 50;
  want = want < 4 ? 4 : want > 20 ? 20 : want;
  double bp[20];
  int64_t nbreak = n >= 2 ? spline_breaks(levels, n, want, bp) : 0;
  int64_t ncoef = nbreak + 2;  /* cubic: nbreak + k - 2 */
  if (nbreak < 2 || n < 2 * ncoef)
    HR_FAIL(HR_ERR_INPUT, "spline unfolding needs at least %lld distinct "
            "levels; %lld remain (use --unfold poly or kde)",
            (long long)(2 * (want + 2)), (long long)n);
  gsl_bspline_workspace *bw = gsl_bspline_alloc(4, (size_t)nbreak);
  gsl_vector *B = gsl_vector_alloc((size_t)ncoef), *c = gsl_vector_alloc((size_t)ncoef);
  gsl_vector *y = gsl_vector_alloc((size_t)n);
  gsl_vector_view br = gsl_vector_view_array(bp, (size_t)nbreak);
  gsl_matrix *X = gsl_matrix_alloc((size_t)n, (size_t)ncoef);
  gsl_matrix *cov = gsl_matrix_alloc((size_t)ncoef, (size_t)ncoef);
  gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc((size_t)n, (size_t)ncoef);
  int rc = bw && B && c && y && X && cov && w ? HR_OK
      : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                     "out of memory for the spline unfolding");
  if (rc == HR_OK) {
    gsl_bspline_knots(&br.vector, bw);
    for (int64_t i = 0; i < n; i++) {
      gsl_bspline_eval(levels[i], B, bw);
      for (int64_t k = 0; k < ncoef; k++)
        gsl_matrix_set(X, (size_t)i, (size_t)k, gsl_vector_get(B, (size_t)k));
      gsl_vector_set(y, (size_t)i, (double)i + 0.5);
    }
    double chisq;
    gsl_multifit_linear(X, y, c, cov, &chisq, w);
    for (int64_t i = 0; i < n; i++) {
      double v = 0.0;
      gsl_bspline_eval(levels[i], B, bw);
      for (int64_t k = 0; k < ncoef; k++)
        v += gsl_vector_get(c, (size_t)k) * gsl_vector_get(B, (size_t)k);
      out[i] = v;
    }
  }
  gsl_bspline_free(bw); gsl_vector_free(B); gsl_vector_free(c); gsl_vector_free(y);
  gsl_matrix_free(X); gsl_matrix_free(cov); gsl_multifit_linear_free(w);
  return rc;
}

void hr_unfold_kde(const double *levels, int64_t n, double bandwidth,
                   double *out) {
  double h = bandwidth;
  if (h <= 0.0) {  /* Silverman's rule of thumb */
    double mean = 0.0, sq = 0.0;
    for (int64_t i = 0; i < n; i++) mean += levels[i];
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++) sq += (levels[i] - mean) * (levels[i] - mean);
    h = 1.06 * sqrt(sq / (double)n) * pow((double)n, -0.2);
    if (h <= 0.0) h = 1.0;
  }
  /* n times the kernel CDF: the integrated density, scaled to the number
   * of levels so the unfolded spacing is 1 on average. */
  for (int64_t i = 0; i < n; i++) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++)
      sum += 0.5 * erfc(-(levels[i] - levels[j]) / (h * M_SQRT2));
    out[i] = sum;
  }
}

/* ---- spacing laws ------------------------------------------------------------- */

double hr_spacing_density(hr_spacing_law_t law, double s) {
  if (s < 0.0) return 0.0;
  switch (law) {
    case HR_SPACING_POISSON: return exp(-s);
    case HR_SPACING_GOE: return 0.5 * M_PI * s * exp(-0.25 * M_PI * s * s);
    case HR_SPACING_GUE: return 32.0 / (M_PI * M_PI) * s * s * exp(-4.0 * s * s / M_PI);
  }
  return NAN;
}

double hr_spacing_cdf(hr_spacing_law_t law, double s) {
  if (s <= 0.0) return 0.0;
  switch (law) {
    case HR_SPACING_POISSON: return 1.0 - exp(-s);
    case HR_SPACING_GOE: return 1.0 - exp(-0.25 * M_PI * s * s);
    case HR_SPACING_GUE:
      return erf(2.0 * s / sqrt(M_PI)) - 4.0 * s / M_PI * exp(-4.0 * s * s / M_PI);
  }
  return NAN;
}

/* ---- Brody ------------------------------------------------------------------- */

typedef struct {
  const double *s;
  int64_t n;
} brody_data_t;

/* Minus the mean log-likelihood of the Brody law at q. */
static double brody_nll(double q, void *vd) {
  const brody_data_t *d = vd;
  double a = pow(gsl_sf_gamma((q + 2.0) / (q + 1.0)), q + 1.0), sum = 0.0;
  for (int64_t i = 0; i < d->n; i++) {
    double s = d->s[i] > 1e-300 ? d->s[i] : 1e-300;
    sum += log((q + 1.0) * a) + q * log(s) - a * pow(s, q + 1.0);
  }
  return -sum / (double)d->n;
}

double hr_brody_fit(const double *spacings, int64_t n) {
  brody_data_t d = {spacings, n};
  gsl_function f = {brody_nll, &d};
  /* The likelihood is unimodal on [0, 1]; scan for a bracket, then Brent. */
  double best_q = 0.0, best = brody_nll(0.0, &d);
  for (int k = 1; k <= 20; k++) {
    double q = k / 20.0, v = brody_nll(q, &d);
    if (v < best) { best = v; best_q = q; }
  }
  if (best_q <= 0.0 || best_q >= 1.0) return best_q;  /* at a bound */
  gsl_min_fminimizer *m = gsl_min_fminimizer_alloc(gsl_min_fminimizer_brent);
  if (!m) return best_q;
  if (gsl_min_fminimizer_set(m, &f, best_q, best_q - 0.05, best_q + 0.05) == 0)
    for (int it = 0; it < 100; it++) {
      gsl_min_fminimizer_iterate(m);
      if (gsl_min_test_interval(gsl_min_fminimizer_x_lower(m),
                                gsl_min_fminimizer_x_upper(m), 1e-8, 0.0) == 0)
        break;
    }
  double q = gsl_min_fminimizer_x_minimum(m);
  gsl_min_fminimizer_free(m);
  return q;
}

/* ---- long-range statistics ------------------------------------------------------ */

/* Where the windows of length L start: `windows` points evenly spaced so
 * that every window (x, x + L] lies inside [x_0, x_(n-1)]; none when the
 * span is shorter than L. */
static int window_starts(const double *x, int64_t n, double L, int64_t windows,
                         double *lo, double *step) {
  if (n < 2 || windows < 2 || !(L > 0.0)) return 0;
  *lo = x[0];
  double hi = x[n - 1] - L;
  if (!(hi > *lo)) return 0;
  *step = (hi - *lo) / (double)(windows - 1);
  return 1;
}

double hr_number_variance(const double *unfolded, int64_t n, double L,
                          int64_t windows) {
  double lo, step;
  if (!window_starts(unfolded, n, L, windows, &lo, &step)) return NAN;
  /* Welford's update adds (c - old mean)(c - new mean) >= 0 each step:
   * the variance cannot come out negative, as sum c^2 / w - mean^2 can. */
  double mean = 0.0, m2 = 0.0;
  for (int64_t w = 0; w < windows; w++) {
    double x = lo + step * (double)w;
    double c = (double)(count_at_most(unfolded, n, x + L) -
                        count_at_most(unfolded, n, x));
    double before = mean;
    mean += (c - before) / (double)(w + 1);
    m2 += (c - before) * (c - mean);
  }
  return m2 / (double)windows;
}

/* Mehta, Random Matrices (3rd ed.), (16.1.3)-(16.1.4): with x = 2 pi L,
 *   GUE  S2(L) = (ln x + gamma + 1 - cos x - Ci x) / pi^2 + L (1 - 2 Si(x) / pi),
 *   GOE  2 S2(L) + (Si(pi L) / pi)^2 - Si(pi L) / pi,
 * which tends to L as L -> 0 and to (2/pi^2)(ln 2 pi L + gamma + 1 - pi^2/8). */
double hr_number_variance_goe(double L) {
  const double euler_gamma = 0.5772156649015329;
  if (L <= 0.0) return 0.0;
  double x = 2.0 * M_PI * L, si = gsl_sf_Si(M_PI * L) / M_PI;
  double gue = (log(x) + euler_gamma + 1.0 - cos(x) - gsl_sf_Ci(x)) / (M_PI * M_PI) +
               L * (1.0 - 2.0 * gsl_sf_Si(x) / M_PI);
  return 2.0 * gue + si * si - si;
}

/* The staircase of one window [a, a + L] holding the levels y[0..k)
 * (ascending, all in (a, a + L]) is constant on k + 1 segments: j on
 * [y_(j-1), y_j), with y_(-1) = a and y_k = a + L.  In the centred
 * coordinate u = x - a - L/2 the functions 1 and u are orthogonal, so the
 * best line is B + A u with B the staircase's mean and A = int u N du /
 * (L^3 / 12).  The residual is then integrated segment by segment: on a
 * segment of length d and midpoint m, int (c - A u)^2 du = d ((c - A m)^2 +
 * A^2 d^2 / 12) with c = j - B, a sum of squares.  Delta_3 is thus >= 0 by
 * construction, where the normal-equation form I2 - A I1 - B I0 loses
 * every digit to cancellation once the counts are large. */
static double segment_start(const double *y, int64_t k, int64_t j, double a,
                            double L) {
  return j == 0 ? -0.5 * L : (j > k ? 0.5 * L : y[j - 1] - a - 0.5 * L);
}

static double rigidity_window(const double *y, int64_t k, double a, double L) {
  double mean = 0.0, moment = 0.0;
  for (int64_t j = 0; j <= k; j++) {
    double u0 = segment_start(y, k, j, a, L), u1 = segment_start(y, k, j + 1, a, L);
    double d = u1 - u0, mid = 0.5 * (u0 + u1);
    mean += (double)j * d;
    moment += (double)j * d * mid;
  }
  mean /= L;
  double slope = moment / (L * L * L / 12.0), sum = 0.0;
  for (int64_t j = 0; j <= k; j++) {
    double u0 = segment_start(y, k, j, a, L), u1 = segment_start(y, k, j + 1, a, L);
    double d = u1 - u0, c = (double)j - mean - slope * 0.5 * (u0 + u1);
    sum += d * (c * c + slope * slope * d * d / 12.0);
  }
  return sum / L;
}

double hr_spectral_rigidity(const double *unfolded, int64_t n, double L,
                            int64_t windows) {
  double lo, step;
  if (!window_starts(unfolded, n, L, windows, &lo, &step)) return NAN;
  double sum = 0.0;
  for (int64_t w = 0; w < windows; w++) {
    double a = lo + step * (double)w;
    int64_t first = count_at_most(unfolded, n, a);
    int64_t last = count_at_most(unfolded, n, a + L);
    sum += rigidity_window(unfolded + first, last - first, a, L);
  }
  return sum / (double)windows;
}

/* Delta_3 follows from Sigma^2 (Pandey 1979):
 *   Delta_3(L) = (2 / L^4) int_0^L (L^3 - 2 L^2 r + r^3) Sigma^2(r) dr;
 * for Sigma^2 = r it gives L / 15.  Large L: (1/pi^2)(ln 2 pi L + gamma -
 * 5/4 - pi^2/8). */
static double rigidity_integrand(double r, void *vL) {
  double L = *(const double *)vL;
  return (L * L * L - 2.0 * L * L * r + r * r * r) * hr_number_variance_goe(r);
}

double hr_spectral_rigidity_goe(double L) {
  if (L <= 0.0) return 0.0;
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(200);
  if (!w) return NAN;
  gsl_function f = {rigidity_integrand, &L};
  double value = NAN, error = 0.0;
  gsl_integration_qag(&f, 0.0, L, 0.0, 1e-10, 200, GSL_INTEG_GAUSS31, w, &value, &error);
  gsl_integration_workspace_free(w);
  return 2.0 * value / (L * L * L * L);
}
