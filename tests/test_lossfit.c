/* The exponential loss-curve fit against known curves: exact data give
 * the parameters back to rounding, also for a curve that starts late;
 * over many noisy curves the reported standard errors are honest (the
 * z-scores (estimate - truth) / error have spread near 1 and rarely pass
 * 3), for the parameters and for the curve's delta-method band; and
 * degenerate input fails cleanly or is flagged, never crashes. */
#include <stdlib.h>

#include "check.h"
#include "hessrmt/error.h"
#include "hessrmt/lossfit.h"
#include "hessrmt/random.h"

enum { CURVES = 1000, POINTS = 50 };

static double model(double a, double b, double c, double t) { return a + b * exp(-c * t); }

static void exact(void) {
  double t[POINTS], y[POINTS];
  for (int i = 0; i < POINTS; i++) t[i] = i + 1, y[i] = model(0.3, 2.0, 0.05, t[i]);
  hr_lossfit_t f;
  EXPECT(hr_lossfit(t, y, POINTS, &f) == HR_OK, "exact fit: %s", hr_error_message());
  EXPECT_NEAR(f.a, 0.3, 1e-8, "exact a %.12g", f.a);
  EXPECT_NEAR(f.b, 2.0, 1e-8, "exact b %.12g", f.b);
  EXPECT_NEAR(f.c, 0.05, 1e-8, "exact c %.12g", f.c);
  EXPECT(f.converged && f.identifiable, "exact: converged %d identifiable %d",
         f.converged, f.identifiable);
  EXPECT(f.r2 > 1.0 - 1e-12 && f.n == POINTS && f.dof == POINTS - 3,
         "exact: R^2 %.15g, n %d, dof %d", f.r2, f.n, f.dof);
  EXPECT_NEAR(hr_lossfit_eval(&f, 7.5), model(0.3, 2.0, 0.05, 7.5), 1e-9, "eval");
}

/* Epochs 1000 ... 1099 with b = 1.2 exp(0.03 * 1000), about 1.3e13: the
 * fit in t - t0 keeps this as well conditioned as an early curve. */
static void late_start(void) {
  double t[100], y[100], b = 1.2 * exp(30.0);
  for (int i = 0; i < 100; i++) t[i] = 1000 + i, y[i] = model(0.7, b, 0.03, t[i]);
  hr_lossfit_t f;
  EXPECT(hr_lossfit(t, y, 100, &f) == HR_OK, "late fit: %s", hr_error_message());
  EXPECT_NEAR(f.a, 0.7, 1e-8, "late a %.12g", f.a);
  EXPECT_NEAR(f.b / b, 1.0, 1e-8, "late b %.12g vs %.12g", f.b, b);
  EXPECT_NEAR(f.c, 0.03, 1e-10, "late c %.12g", f.c);
  EXPECT(f.converged, "late start did not converge");
}

typedef struct {
  double a, b, c, sigma;  /* truth and noise */
  double tmax;            /* points evenly on [0, tmax] */
} truth_t;

typedef struct {
  int fits, within3[4];
  double sum[4], sum2[4];  /* z-scores of a, b, c and the curve at mid-span */
} zstats_t;

static void add_z(zstats_t *z, int k, double est, double true_value, double err) {
  double s = (est - true_value) / err;
  z->within3[k] += fabs(s) <= 3.0;
  z->sum[k] += s;
  z->sum2[k] += s * s;
}

static void one_noisy(const truth_t *tr, uint64_t k, zstats_t *z) {
  double t[POINTS], y[POINTS];
  for (int i = 0; i < POINTS; i++) {
    t[i] = tr->tmax * i / (POINTS - 1.0);
    y[i] = model(tr->a, tr->b, tr->c, t[i]) +
           tr->sigma * hr_random_normal(11, k, i, 0, HR_STREAM_ENTRY);
  }
  hr_lossfit_t f;
  if (hr_lossfit(t, y, POINTS, &f) != HR_OK || !f.converged || !f.identifiable) {
    hr_error_clear();
    return;
  }
  z->fits++;
  add_z(z, 0, f.a, tr->a, f.a_err);
  add_z(z, 1, f.b, tr->b, f.b_err);
  add_z(z, 2, f.c, tr->c, f.c_err);
  double mid = 0.5 * tr->tmax;
  add_z(z, 3, hr_lossfit_eval(&f, mid), model(tr->a, tr->b, tr->c, mid),
        hr_lossfit_eval_err(&f, mid));
}

/* Honest errors: at least 97% of the estimates within 3 errors (99.7% for
 * a normal estimate), and z-scores of mean near 0 and spread 0.8 ... 1.25. */
static void noisy(const truth_t *tr, const char *what) {
  static const char *names[4] = {"a", "b", "c", "curve(mid)"};
  zstats_t z = {0};
  for (uint64_t k = 0; k < CURVES; k++) one_noisy(tr, k, &z);
  EXPECT(z.fits == CURVES, "%s: %d of %d fits converged", what, z.fits, CURVES);
  for (int p = 0; p < 4 && z.fits > 0; p++) {
    double mean = z.sum[p] / z.fits, sd = sqrt(z.sum2[p] / z.fits - mean * mean);
    double cover = (double)z.within3[p] / z.fits;
    printf("%s: %-10s z mean %+.3f, sd %.3f, within 3 errors %.1f%%\n", what,
           names[p], mean, sd, 100.0 * cover);
    EXPECT(cover >= 0.97, "%s: %s within 3 errors in %.1f%%", what, names[p], 100 * cover);
    EXPECT(sd >= 0.8 && sd <= 1.25, "%s: %s z-score spread %.3f", what, names[p], sd);
    EXPECT(fabs(mean) < 0.25, "%s: %s z-score mean %.3f", what, names[p], mean);
  }
}

static void expect_input_error(const double *t, const double *y, int n, const char *what) {
  hr_lossfit_t f;
  int rc = hr_lossfit(t, y, n, &f);
  EXPECT(rc == HR_ERR_INPUT, "%s: status %d, expected an input error", what, rc);
  hr_error_clear();
}

static void degenerate(void) {
  double t[POINTS], y[POINTS], flat[POINTS], same_t[POINTS];
  for (int i = 0; i < POINTS; i++)
    t[i] = i, y[i] = model(0.2, 1.0, 0.1, i), flat[i] = 0.5, same_t[i] = 3.0;
  expect_input_error(t, y, 3, "3 points");
  expect_input_error(t, flat, POINTS, "constant y");
  expect_input_error(same_t, y, POINTS, "a single t");
  y[7] = NAN;
  expect_input_error(t, y, POINTS, "NaN");
  /* no decay: a straight line, and pure noise about a constant */
  hr_lossfit_t f;
  for (int i = 0; i < POINTS; i++) y[i] = 1.0 - 0.01 * i;
  EXPECT(hr_lossfit(t, y, POINTS, &f) == HR_OK, "straight line: %s", hr_error_message());
  EXPECT(!f.converged || !f.identifiable || f.c_err > f.c || f.c < 1e-3,
         "straight line reported as a decay: c %g +/- %g", f.c, f.c_err);
  for (int i = 0; i < POINTS; i++) y[i] = 1.0 + 0.01 * hr_random_normal(5, 0, i, 0, 0);
  EXPECT(hr_lossfit(t, y, POINTS, &f) == HR_OK, "noise: %s", hr_error_message());
  EXPECT(isfinite(f.a) && isfinite(f.chi2), "noise: a %g, chi2 %g", f.a, f.chi2);
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  exact();
  late_start();
  /* a curve well into its plateau, and one that has only begun to bend */
  noisy(&(truth_t){0.4, 1.5, 0.08, 0.02, 49.0}, "plateau");
  noisy(&(truth_t){0.4, 1.5, 0.03, 0.01, 49.0}, "bending");
  degenerate();
  return test_finish_serial("test_lossfit");
}
