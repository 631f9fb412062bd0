/* The gp-loss ensemble (the paper's Gaussian-process model of the loss's
 * Hessian), generated on a one-rank 1x1 grid:
 *  - moments over many members against a and b (a != b, so swapping them,
 *    or an independent diagonal, fails): off-diagonal mean 0, variance b;
 *    diagonal variance a + 2b; covariance a of two distinct diagonal
 *    entries; each within 4.5 standard errors taken from the spread over
 *    members (which are independent), with those errors small enough to
 *    tell the alternatives apart;
 *  - exact symmetry; a = 0, b = 1 is bit for bit the GOE of the same seed;
 *  - --degenerate: the last floor(F N) rows and columns exactly zero, and
 *    that many zero eigenvalues;
 *  - --outliers: the K largest eigenvalues where a rank-K spike theta on a
 *    semicircle of radius R puts them (theta + R^2 / (4 theta)), far above
 *    the bulk edge, which stays at R;
 *  - the argument checks' messages. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/error.h"
#include "hessrmt/grid.h"

void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
             const int *lda, double *w, double *work, const int *lwork,
             int *iwork, const int *liwork, int *info);

static hr_ensemble_t gp(int64_t n, double a, double b, double f, int64_t k) {
  return (hr_ensemble_t){.kind = HR_KIND_GP_LOSS, .n = n, .seed = 42,
                         .wishart_ratio = 1.0, .beta = 1.0, .gp_a = a,
                         .gp_b = b, .degenerate = f, .outliers = k,
                         .outlier_scale = 10.0};
}

/* Member k into a (n x n, column-major: the 1x1 grid's local block). */
static void member(const hr_grid_t *g, const hr_ensemble_t *e, uint64_t k,
                   double *a) {
  hr_dmat_t m;
  EXPECT(hr_dmat_create(g, e->n, e->n, 8, HR_PRECISION_DOUBLE, &m) == HR_OK,
         "create");
  EXPECT(hr_ensemble_generate(e, k, &m) == HR_OK, "generate: %s",
         hr_error_message());
  memcpy(a, m.data, (size_t)(e->n * e->n) * sizeof *a);
  hr_dmat_free(&m);
}

/* Mean and standard error of one statistic over members. */
typedef struct { double sum, sum2; int64_t count; } acc_t;
static void acc_add(acc_t *s, double v) { s->sum += v; s->sum2 += v * v; s->count++; }
static double acc_mean(const acc_t *s) { return s->sum / (double)s->count; }
static double acc_err(const acc_t *s) {
  double m = acc_mean(s), n = (double)s->count;
  return sqrt((s->sum2 / n - m * m) / (n - 1));
}

static void expect_moment(const char *what, const acc_t *s, double want,
                          double max_err) {
  double m = acc_mean(s), se = acc_err(s);
  EXPECT(fabs(m - want) <= 4.5 * se, "%s: %.4f +/- %.4f, expected %.4f", what,
         m, se, want);
  EXPECT(se < max_err, "%s: standard error %.4f too large to test", what, se);
}

/* Per member: the mean and mean square of the strict upper triangle, the
 * mean square of the diagonal, and the mean product of two distinct
 * diagonal entries, ((sum d)^2 - sum d^2) / (n (n - 1)); the expectations
 * are 0, b, a + 2b and a. */
static void test_moments(const hr_grid_t *g) {
  const double a = 0.5, b = 2.0;
  const int64_t n = 32, members = 3000;
  hr_ensemble_t e = gp(n, a, b, 0.0, 0);
  double *m = malloc((size_t)(n * n) * sizeof *m);
  acc_t off = {0}, off2 = {0}, diag2 = {0}, cross = {0};
  int64_t asym = 0;
  for (int64_t k = 0; k < members; k++) {
    member(g, &e, (uint64_t)k, m);
    double s = 0, s2 = 0, d = 0, d2 = 0;
    for (int64_t j = 0; j < n; j++) {
      for (int64_t i = 0; i < j; i++) {
        s += m[j * n + i];
        s2 += m[j * n + i] * m[j * n + i];
        asym += m[j * n + i] != m[i * n + j];
      }
      d += m[j * n + j];
      d2 += m[j * n + j] * m[j * n + j];
    }
    double pairs = (double)(n * (n - 1) / 2);
    acc_add(&off, s / pairs);
    acc_add(&off2, s2 / pairs);
    acc_add(&diag2, d2 / (double)n);
    acc_add(&cross, (d * d - d2) / (double)(n * (n - 1)));
  }
  EXPECT(asym == 0, "%lld asymmetric pairs", (long long)asym);
  /* the bounds on the errors keep b vs a (2 vs 0.5), a + 2b vs 3a or 3b
   * and a vs 0 apart by far more than 4.5 of them */
  expect_moment("off-diagonal mean", &off, 0.0, 0.01);
  expect_moment("off-diagonal variance", &off2, b, 0.05);
  expect_moment("diagonal variance", &diag2, a + 2 * b, 0.1);
  expect_moment("diagonal covariance", &cross, a, 0.05);
  free(m);
}

/* a = 0, b = 1, nothing degenerate and no outliers: the GOE itself. */
static void test_goe_limit(const hr_grid_t *g) {
  const int64_t n = 40;
  hr_ensemble_t e = gp(n, 0.0, 1.0, 0.0, 0), goe = e;
  goe.kind = HR_KIND_GOE;
  double *x = malloc((size_t)(n * n) * sizeof *x);
  double *y = malloc((size_t)(n * n) * sizeof *y);
  member(g, &e, 3, x);
  member(g, &goe, 3, y);
  EXPECT(memcmp(x, y, (size_t)(n * n) * sizeof *x) == 0,
         "gp-loss with a = 0, b = 1 differs from the GOE");
  free(x);
  free(y);
}

static void eigenvalues(int64_t order, double *a, double *w) {
  int n = (int)order, lwork = -1, liwork = -1, iq = 0, info = 0;
  double wq = 0;
  dsyevd_("N", "L", &n, a, &n, w, &wq, &lwork, &iq, &liwork, &info);
  lwork = (int)wq + 1;
  liwork = iq + 1;
  double *work = malloc((size_t)lwork * sizeof *work);
  int *iwork = malloc((size_t)liwork * sizeof *iwork);
  dsyevd_("N", "L", &n, a, &n, w, work, &lwork, iwork, &liwork, &info);
  EXPECT(info == 0, "dsyevd info %d", info);
  free(work);
  free(iwork);
}

/* Zero rows/columns, then the spectrum: D zeros, K outliers, the bulk. */
static void test_degenerate_and_outliers(const hr_grid_t *g) {
  const int64_t n = 400, K = 3;
  const double a = 0.5, b = 2.0, S = 10.0;
  hr_ensemble_t e = gp(n, a, b, 0.1, K);
  int64_t D = hr_ensemble_degenerate_rows(&e), M = n - D;
  EXPECT(D == 40, "floor(0.1 * 400) = %lld", (long long)D);
  double R = 2 * sqrt(b * (double)M), theta = S * R;
  EXPECT_NEAR(hr_ensemble_outlier_shift(&e), theta, 1e-12 * theta,
              "outlier shift %g vs %g", hr_ensemble_outlier_shift(&e), theta);
  double *m = malloc((size_t)(n * n) * sizeof *m), *w = malloc((size_t)n * sizeof *w);
  member(g, &e, 0, m);
  int64_t nonzero = 0;
  double trace = 0;
  for (int64_t j = 0; j < n; j++) {
    trace += m[j * n + j];
    for (int64_t i = 0; i < n; i++)
      if (i >= M || j >= M) nonzero += m[j * n + i] != 0.0;
  }
  EXPECT(nonzero == 0, "%lld non-zero entries in the degenerate rows/columns",
         (long long)nonzero);
  eigenvalues(n, m, w);
  int64_t zeros = 0;
  for (int64_t i = 0; i < n; i++) zeros += fabs(w[i]) < 1e-10 * theta;
  EXPECT(zeros == D, "%lld zero eigenvalues, expected %lld", (long long)zeros,
         (long long)D);
  /* the bulk's centre, sqrt(a) z, from the trace (to sqrt(2b / M)) */
  double centre = (trace - (double)K * theta) / (double)M;
  double spike = theta + R * R / (4 * theta);  /* BBP: theta + R^2/(4 theta) */
  for (int64_t i = n - K; i < n; i++)
    EXPECT(fabs(w[i] - centre - spike) < 0.03 * spike, "outlier %lld at %.2f, "
           "expected %.2f + %.2f", (long long)(n - i), w[i], centre, spike);
  EXPECT(fabs(w[n - K - 1] - centre - R) < 0.05 * R,
         "bulk edge %.2f - %.2f vs radius %.2f", w[n - K - 1], centre, R);
  free(m);
  free(w);
}

static void expect_refused(hr_ensemble_t e, const char *needle) {
  int rc = hr_ensemble_check(&e);
  EXPECT(rc == HR_ERR_USAGE && strstr(hr_error_message(), needle),
         "expected a usage error naming '%s': rc %d, %s", needle, rc,
         hr_error_message());
  hr_error_clear();
}

static void test_checks(void) {
  EXPECT(hr_ensemble_check(&(hr_ensemble_t){.kind = HR_KIND_GP_LOSS, .n = 10,
                                            .gp_b = 1, .degenerate = 0.5,
                                            .outliers = 5}) == HR_OK,
         "K + floor(F N) = N is allowed");
  expect_refused(gp(10, 1, 0, 0, 0), "--gp-b 0");
  expect_refused(gp(10, -1, 1, 0, 0), "--gp-a -1");
  expect_refused(gp(10, 1, 1, 1.0, 0), "--degenerate 1");
  expect_refused(gp(10, 1, 1, 0.5, 6), "--outliers 6");
  hr_ensemble_t goe = {.kind = HR_KIND_GOE, .n = 10};
  EXPECT(hr_ensemble_check(&goe) == HR_OK && hr_ensemble_degenerate_rows(&goe) == 0,
         "other kinds: nothing to check, nothing degenerate");
  hr_ensemble_t f = gp(100, 1, 1, 0.29, 0);
  EXPECT(hr_ensemble_degenerate_rows(&f) == 29, "floor(0.29 * 100) = %lld",
         (long long)hr_ensemble_degenerate_rows(&f));
}

int main(int argc, char **argv) {
  test_start(argv);
  MPI_Init(&argc, &argv);
  hr_grid_t g;
  hr_grid_create(MPI_COMM_SELF, 1, 1, &g);
  test_moments(&g);
  test_goe_limit(&g);
  test_degenerate_and_outliers(&g);
  test_checks();
  hr_grid_free(&g);
  int rc = test_finish("test_ensemble", MPI_COMM_SELF);
  MPI_Finalize();
  return rc;
}
