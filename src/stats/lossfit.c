/* The exponential fit of a loss curve (see lossfit.h). */
#include "hessrmt/lossfit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multifit_nlinear.h>
#include <math.h>
#include <string.h>

#include "hessrmt/error.h"

enum { N_PARAMS = 3, MAX_ITER = 500, START_GRID = 121 };

/* The data, with the time axis measured from its first value t0: the fit
 * runs in u = t - t0, where b is the excess at the first point, of the
 * same size as the data however late the curve starts (a curve of epochs
 * 1000 ... 2000 would otherwise need b ~ exp(1000 c)). */
typedef struct {
  const double *t, *y;
  double t0;
  size_t n;
} curve_t;

/* exp(-c u) with the exponent capped: a trial step to c < 0 must give a
 * large finite residual, which the trust region rejects, not an overflow. */
static double decay(double c, double u) { return exp(fmin(-c * u, 300.0)); }

static int residuals(const gsl_vector *x, void *data, gsl_vector *f) {
  const curve_t *d = data;
  double a = gsl_vector_get(x, 0), b = gsl_vector_get(x, 1), c = gsl_vector_get(x, 2);
  for (size_t i = 0; i < d->n; i++)
    gsl_vector_set(f, i, a + b * decay(c, d->t[i] - d->t0) - d->y[i]);
  return GSL_SUCCESS;
}

static int jacobian(const gsl_vector *x, void *data, gsl_matrix *J) {
  const curve_t *d = data;
  double b = gsl_vector_get(x, 1), c = gsl_vector_get(x, 2);
  for (size_t i = 0; i < d->n; i++) {
    double u = d->t[i] - d->t0, e = decay(c, u);
    gsl_matrix_set(J, i, 0, 1.0);
    gsl_matrix_set(J, i, 1, e);
    gsl_matrix_set(J, i, 2, -b * u * e);
  }
  return GSL_SUCCESS;
}

/* For a fixed c the model is linear in (a, b): their least-squares values
 * and the residual sum of squares in closed form. */
static double linear_in_ab(const curve_t *d, double c, double *a, double *b) {
  double me = 0.0, my = 0.0, see = 0.0, sey = 0.0, syy = 0.0;
  for (size_t i = 0; i < d->n; i++) {
    me += decay(c, d->t[i] - d->t0);
    my += d->y[i];
  }
  me /= (double)d->n;
  my /= (double)d->n;
  for (size_t i = 0; i < d->n; i++) {
    double de = decay(c, d->t[i] - d->t0) - me, dy = d->y[i] - my;
    see += de * de, sey += de * dy, syy += dy * dy;
  }
  *b = see > 0.0 ? sey / see : 0.0;
  *a = my - *b * me;
  return see > 0.0 ? syy - sey * sey / see : syy;
}

static void try_start(const curve_t *d, double c, double x[N_PARAMS], double *best) {
  double a, b, rss = linear_in_ab(d, c, &a, &b);
  if (rss < *best) *best = rss, x[0] = a, x[1] = b, x[2] = c;
}

/* Starting values: the best c on a log grid from 0.01 to 1000 decays per
 * span of t, with a and b solved exactly at each.  Unlike a log-linear
 * fit of y - min(y), this needs no guess of the asymptote, which a
 * curve still falling at its last point does not show, and it never
 * takes the log of a residual near zero.  Growth (c < 0) up to a factor
 * e^10 over the span is tried too, so that a curve that does not decay
 * is fitted as what it is and reported, not stuck at c -> 0+. */
static int start_values(const curve_t *d, double span, double x[N_PARAMS]) {
  double best = INFINITY;
  for (int k = 0; k < START_GRID; k++) {
    double c = 0.01 / span * pow(1e5, k / (START_GRID - 1.0));
    try_start(d, c, x, &best);
    if (c * span <= 10.0) try_start(d, -c, x, &best);
  }
  if (!isfinite(best))  /* values so large every residual sum overflows */
    HR_FAIL(HR_ERR_INPUT, "no starting point gives a finite sum of squares: "
            "the values are too large to fit (a diverged run?)");
  return HR_OK;
}

static int check_input(const double *t, const double *y, int n, double *t0,
                       double *span) {
  if (n < 4)
    HR_FAIL(HR_ERR_INPUT, "the fit needs at least 4 points (3 parameters and "
            "one degree of freedom for the errors), got %d", n);
  double tmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  *t0 = INFINITY;
  for (int i = 0; i < n; i++) {
    if (!isfinite(t[i]) || !isfinite(y[i]))
      HR_FAIL(HR_ERR_INPUT, "point %d (t = %g, y = %g) is not finite", i, t[i], y[i]);
    *t0 = fmin(*t0, t[i]), tmax = fmax(tmax, t[i]);
    ymin = fmin(ymin, y[i]), ymax = fmax(ymax, y[i]);
  }
  *span = tmax - *t0;
  if (!(*span > 0.0))
    HR_FAIL(HR_ERR_INPUT, "every point has the same t (%g): no curve to fit", *t0);
  if (ymax == ymin)
    HR_FAIL(HR_ERR_INPUT, "y is constant (%g at every point): no decay to fit", ymin);
  return HR_OK;
}

/* sqrt of a variance that rounding may have made slightly negative; NaN
 * stays NaN (fmax would turn it into 0, a falsely exact error). */
static double nan_safe_sqrt(double v) { return isnan(v) ? NAN : sqrt(fmax(v, 0.0)); }

/* Back from the fit's (a, b_u, c) in u = t - t0 to the reported (a, b, c)
 * in t: b = b_u exp(c t0), and the covariance C -> T C T' with T the
 * Jacobian of that map (b depends on b_u and on c). */
static void shift_back(double t0, const double x[N_PARAMS],
                       const double cu[N_PARAMS][N_PARAMS], hr_lossfit_t *fit) {
  double E = exp(x[2] * t0);
  fit->a = x[0], fit->b = x[1] * E, fit->c = x[2];
  fit->t0 = t0, fit->b_shifted = x[1];
  double T[N_PARAMS][N_PARAMS] = {{1, 0, 0}, {0, E, fit->b * t0}, {0, 0, 1}};
  for (int i = 0; i < N_PARAMS; i++)
    for (int j = 0; j < N_PARAMS; j++) {
      double s = 0.0;
      for (int k = 0; k < N_PARAMS; k++)
        for (int l = 0; l < N_PARAMS; l++) s += T[i][k] * cu[k][l] * T[j][l];
      fit->cov[i][j] = s;
    }
  double *err[N_PARAMS] = {&fit->a_err, &fit->b_err, &fit->c_err};
  for (int i = 0; i < N_PARAMS; i++)
    *err[i] = fit->identifiable ? nan_safe_sqrt(fit->cov[i][i]) : NAN;
}

/* The parameter covariance.  gsl_multifit_nlinear_covar gives (J'J)^-1,
 * the covariance for residuals of unit variance.  A loss curve carries no
 * per-point errors, so the noise is taken as equal at every point and
 * estimated from the residuals, s^2 = chi^2 / (n - 3), the unbiased
 * variance of a least-squares fit with 3 parameters; the covariance is
 * s^2 (J'J)^-1 (GSL manual, "Covariance matrix of best fit parameters";
 * Bevington and Robinson, ch. 8).  A dependent column of J (dropped by
 * GSL, leaving a zero diagonal) means some error is undetermined. */
static void covariance(gsl_multifit_nlinear_workspace *w, hr_lossfit_t *fit,
                       double cu[N_PARAMS][N_PARAMS]) {
  double store[N_PARAMS * N_PARAMS];
  gsl_matrix_view C = gsl_matrix_view_array(store, N_PARAMS, N_PARAMS);
  int bad = gsl_multifit_nlinear_covar(gsl_multifit_nlinear_jac(w), 1e-13, &C.matrix);
  fit->identifiable = !bad;
  double s2 = fit->chi2 / fit->dof;
  for (int i = 0; i < N_PARAMS; i++) {
    double v = store[i * N_PARAMS + i];
    if (!(isfinite(v) && v > 0.0)) fit->identifiable = 0;
    for (int j = 0; j < N_PARAMS; j++) cu[i][j] = s2 * store[i * N_PARAMS + j];
  }
}

static void goodness(const curve_t *d, gsl_multifit_nlinear_workspace *w,
                     hr_lossfit_t *fit) {
  const gsl_vector *f = gsl_multifit_nlinear_residual(w);
  double chi2 = 0.0, mean = 0.0, tss = 0.0;
  for (size_t i = 0; i < d->n; i++) {
    chi2 += gsl_vector_get(f, i) * gsl_vector_get(f, i);
    mean += d->y[i];
  }
  mean /= (double)d->n;
  for (size_t i = 0; i < d->n; i++) tss += (d->y[i] - mean) * (d->y[i] - mean);
  fit->chi2 = chi2;
  fit->residual_std = sqrt(chi2 / fit->dof);
  fit->r2 = 1.0 - chi2 / tss;
}

/* Levenberg-Marquardt from x (replaced by the optimum).  The driver's
 * status is the convergence flag: GSL_SUCCESS when the step or the
 * gradient became small, else the iteration limit or no progress. */
static int solve(curve_t *d, double x[N_PARAMS], hr_lossfit_t *fit,
                 double cu[N_PARAMS][N_PARAMS]) {
  gsl_multifit_nlinear_fdf fdf = {.f = residuals, .df = jacobian, .n = d->n,
                                  .p = N_PARAMS, .params = d};
  gsl_multifit_nlinear_parameters par = gsl_multifit_nlinear_default_parameters();
  par.trs = gsl_multifit_nlinear_trs_lm;
  gsl_multifit_nlinear_workspace *w =
      gsl_multifit_nlinear_alloc(gsl_multifit_nlinear_trust, &par, d->n, N_PARAMS);
  if (!w) HR_FAIL(HR_ERR_MEMORY, "out of memory for a fit of %zu points", d->n);
  gsl_vector_view xv = gsl_vector_view_array(x, N_PARAMS);
  int info = 0, status = gsl_multifit_nlinear_init(&xv.vector, &fdf, w);
  if (status == GSL_SUCCESS)
    status = gsl_multifit_nlinear_driver(MAX_ITER, 1e-10, 1e-10, 0.0, NULL, NULL,
                                         &info, w);
  fit->converged = status == GSL_SUCCESS;
  fit->iterations = (int)gsl_multifit_nlinear_niter(w);
  const gsl_vector *best = gsl_multifit_nlinear_position(w);
  for (int i = 0; i < N_PARAMS; i++) x[i] = gsl_vector_get(best, (size_t)i);
  goodness(d, w, fit);
  covariance(w, fit, cu);
  gsl_multifit_nlinear_free(w);
  return HR_OK;
}

int hr_lossfit(const double *t, const double *y, int n, hr_lossfit_t *fit) {
  memset(fit, 0, sizeof *fit);
  double span = 0.0, x[N_PARAMS], cu[N_PARAMS][N_PARAMS];
  curve_t d = {t, y, 0.0, (size_t)(n > 0 ? n : 0)};
  HR_CHECK(check_input(t, y, n, &d.t0, &span));
  fit->n = n;
  fit->dof = n - N_PARAMS;
  HR_CHECK(start_values(&d, span, x));
  /* GSL's default handler aborts the program on an error such as a
   * singular system inside an iteration; here such a fit is only one
   * that did not converge, which the flags report. */
  gsl_error_handler_t *handler = gsl_set_error_handler_off();
  int rc = solve(&d, x, fit, cu);
  gsl_set_error_handler(handler);
  HR_CHECK(rc);
  shift_back(d.t0, x, cu, fit);
  return HR_OK;
}

/* Evaluated from the first point, b_u exp(-c (t - t0)): b exp(-c t)
 * overflows to inf * 0 for curves that start late. */
double hr_lossfit_eval(const hr_lossfit_t *fit, double t) {
  return fit->a + fit->b_shifted * exp(-fit->c * (t - fit->t0));
}

double hr_lossfit_eval_err(const hr_lossfit_t *fit, double t) {
  if (!fit->identifiable) return NAN;
  double e = exp(-fit->c * t), g[N_PARAMS] = {1.0, e, -fit->b * t * e}, var = 0.0;
  for (int i = 0; i < N_PARAMS; i++)
    for (int j = 0; j < N_PARAMS; j++) var += g[i] * fit->cov[i][j] * g[j];
  return nan_safe_sqrt(var);
}
