/* Random-matrix statistics (see rmt.h). */
#include "hessrmt/rmt.h"

#include <gsl/gsl_integration.h>
#include <math.h>
#include <stdlib.h>

static const char *law_names[HR_LAW_COUNT] = {"poisson", "goe", "gue", "gse"};

const char *hr_law_name(hr_law_t law) { return law_names[law]; }

double hr_zero_cut(const double *levels, int64_t n, double eps) {
  double big = fmax(fabs(levels[0]), fabs(levels[n - 1]));
  int64_t solved = 0;
  for (int64_t i = 0; i < n; i++) solved += levels[i] != 0.0;
  return 100.0 * eps * (double)(solved > 0 ? solved : 1) * big;
}

/* r~ of the spacings below and above level i; 0 if either is not
 * positive (degenerate levels have no ratio). */
static int ratio_at(const double *levels, int64_t i, double *rt) {
  double prev = levels[i] - levels[i - 1], next = levels[i + 1] - levels[i];
  if (!(prev > 0.0) || !(next > 0.0)) return 0;
  double r = next / prev;
  *rt = r < 1.0 ? r : 1.0 / r;
  return 1;
}

int64_t hr_spacing_ratios(const double *levels, int64_t n, double *out) {
  int64_t used = 0;
  for (int64_t i = 1; i + 1 < n; i++) used += ratio_at(levels, i, &out[used]);
  return used;
}

void hr_spacing_ratio_mean(const double *levels, int64_t n, double *mean,
                           double *stderr_mean, int64_t *count) {
  double sum = 0.0, sum2 = 0.0, rt;
  int64_t used = 0;
  for (int64_t i = 1; i + 1 < n; i++) {
    if (!ratio_at(levels, i, &rt)) continue;
    sum += rt;
    sum2 += rt * rt;
    used++;
  }
  *count = used;
  *mean = used ? sum / (double)used : NAN;
  double var = used > 1 ? (sum2 - sum * sum / (double)used) / (double)(used - 1) : NAN;
  *stderr_mean = used > 1 ? sqrt(var / (double)used) : NAN;
}

/* ---- the laws --------------------------------------------------------------- */

static double surmise(int beta, double r) {
  static const double sqrt3 = 1.7320508075688772;
  double z = beta == 1 ? 8.0 / 27.0
           : beta == 2 ? 4.0 * M_PI / (81.0 * sqrt3)
                       : 4.0 * M_PI / (729.0 * sqrt3);
  double num = pow(r + r * r, beta);
  double den = pow(1.0 + r + r * r, 1.0 + 1.5 * beta);
  return num / den / z;
}

double hr_ratio_density(hr_law_t law, double rt) {
  if (rt < 0.0 || rt > 1.0) return 0.0;
  switch (law) {
    case HR_LAW_POISSON: return 2.0 / ((1.0 + rt) * (1.0 + rt));
    case HR_LAW_GOE: return 2.0 * surmise(1, rt);
    case HR_LAW_GUE: return 2.0 * surmise(2, rt);
    case HR_LAW_GSE: return 2.0 * surmise(4, rt);
    default: return NAN;
  }
}

static double density_fn(double x, void *law) {
  return hr_ratio_density(*(const hr_law_t *)law, x);
}

/* The surmise CDFs by adaptive Gauss-Kronrod quadrature (GSL QAG): the
 * integrand is smooth on [0, 1], so 21-point rules reach 1e-12 quickly. */
double hr_ratio_cdf(hr_law_t law, double rt) {
  if (rt <= 0.0) return 0.0;
  if (rt >= 1.0) return 1.0;
  if (law == HR_LAW_POISSON) return 2.0 * rt / (1.0 + rt);
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(64);
  if (!w) return NAN;
  gsl_function f = {density_fn, &law};
  double value = NAN, error = 0.0;
  gsl_integration_qag(&f, 0.0, rt, 1e-13, 1e-12, 64, GSL_INTEG_GAUSS21, w,
                      &value, &error);
  gsl_integration_workspace_free(w);
  return value;
}

double hr_ratio_mean_exact(hr_law_t law) {
  static const double sqrt3 = 1.7320508075688772;
  switch (law) {
    case HR_LAW_POISSON: return 2.0 * log(2.0) - 1.0;
    case HR_LAW_GOE: return 4.0 - 2.0 * sqrt3;
    case HR_LAW_GUE: return 2.0 * sqrt3 / M_PI - 0.5;
    case HR_LAW_GSE: return 32.0 * sqrt3 / (15.0 * M_PI) - 0.5;
    default: return NAN;
  }
}

double hr_ratio_mean_reference(hr_law_t law) {
  switch (law) {
    case HR_LAW_POISSON: return 2.0 * log(2.0) - 1.0;
    case HR_LAW_GOE: return 0.5307;
    case HR_LAW_GUE: return 0.5996;
    case HR_LAW_GSE: return 0.6744;
    default: return NAN;
  }
}

/* ---- higher-order ratios ------------------------------------------------------- */

int64_t hr_higher_order_ratios(const double *levels, int64_t n, int k,
                               double *out) {
  int64_t used = 0;
  for (int64_t i = 0; i + 2 * k < n; i++) {
    double below = levels[i + k] - levels[i], above = levels[i + 2 * k] - levels[i + k];
    if (!(below > 0.0) || !(above > 0.0)) continue;
    double r = above / below;
    out[used++] = r < 1.0 ? r : 1.0 / r;
  }
  return used;
}

double hr_ratio_effective_index(double beta, int k) {
  return 0.5 * k * (k + 1) * beta + (k - 1);
}

/* The unnormalised surmise of index b, and b times r~ for its mean. */
static double surmise_shape(double r, void *vb) {
  double b = *(const double *)vb;
  return pow(r + r * r, b) / pow(1.0 + r + r * r, 1.0 + 1.5 * b);
}

static double surmise_shape_x(double r, void *vb) { return r * surmise_shape(r, vb); }

static double integrate01(double (*fn)(double, void *), void *ctx) {
  gsl_integration_workspace *w = gsl_integration_workspace_alloc(64);
  if (!w) return NAN;
  gsl_function f = {fn, ctx};
  double value = NAN, error = 0.0;
  gsl_integration_qag(&f, 0.0, 1.0, 1e-13, 1e-12, 64, GSL_INTEG_GAUSS21, w,
                      &value, &error);
  gsl_integration_workspace_free(w);
  return value;
}

double hr_ratio_mean_index(double b) {
  return integrate01(surmise_shape_x, &b) / integrate01(surmise_shape, &b);
}

/* 2 r~ times the density of r~^(k) for Poisson levels (without 1/B(k,k)),
 * and the density alone. */
static double gamma_ratio_shape(double r, void *vk) {
  int k = *(const int *)vk;
  return pow(r, k - 1) / pow(1.0 + r, 2 * k);
}

static double gamma_ratio_shape_x(double r, void *vk) { return r * gamma_ratio_shape(r, vk); }

double hr_ratio_mean_poisson_order(int k) {
  return integrate01(gamma_ratio_shape_x, &k) / integrate01(gamma_ratio_shape, &k);
}

/* ---- Kolmogorov-Smirnov --------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void hr_sort_doubles(double *v, int64_t n) {
  qsort(v, (size_t)n, sizeof *v, compare_doubles);
}

double hr_ks_distance(double *sample, int64_t n, double (*cdf)(double, void *),
                      void *ctx) {
  if (n <= 0) return NAN;
  hr_sort_doubles(sample, n);
  double d = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double f = cdf(sample[i], ctx);
    double below = f - (double)i / (double)n, above = (double)(i + 1) / (double)n - f;
    d = fmax(d, fmax(below, above));
  }
  return d;
}

double hr_ks_pvalue(double d, int64_t n) {
  if (n <= 0 || isnan(d)) return NAN;
  double sn = sqrt((double)n);
  double lambda = (sn + 0.12 + 0.11 / sn) * d;
  if (lambda < 0.2) return 1.0;  /* the series converges too slowly; Q = 1 */
  double sum = 0.0, sign = 1.0;
  for (int k = 1; k <= 100; k++) {
    double term = sign * exp(-2.0 * k * k * lambda * lambda);
    sum += term;
    if (fabs(term) < 1e-16 * fabs(sum)) break;
    sign = -sign;
  }
  double p = 2.0 * sum;
  return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}
