/* Unfolding and unfolded-level statistics against known cases: a
 * hand-computed pool unfolding, exact polynomial unfolding of a linear
 * staircase, mean spacing 1 after KDE unfolding, the spacing laws'
 * normalisation and means (Simpson quadrature), Brody's q on samples drawn
 * from the Poisson and Wigner laws, the number variance of a Poisson
 * process (L) and of a picket fence (0), and the GOE Sigma^2 and Delta_3
 * curves against an independent quadrature of the two-level cluster
 * function and against their limits.  The measured Sigma^2 and Delta_3 of
 * GOE spectra of N = 2,000 to 8,000 (the Dumitriu-Edelman tridiagonal
 * model, unfolded by the exact semicircle) follow the exact GOE curves;
 * Delta_3 is unchanged by a shift of 10^9 (no cancellation) and stays
 * finite and non-negative on adversarial sequences: a gap of 10^3 mean
 * spacings, 90% of the levels at one point, every level five-fold
 * degenerate (whose rigidity is known: 25/12). */
#include <stdlib.h>

#include "check.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/error.h"
#include "hessrmt/lapack.h"
#include "hessrmt/random.h"
#include "hessrmt/unfold.h"

static double simpson_spacing(hr_spacing_law_t law, double b, int moment) {
  const int n = 40000;
  double h = b / n, sum = 0.0;
  for (int i = 0; i <= n; i++) {
    double x = i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    sum += w * hr_spacing_density(law, x) * (moment ? x : 1.0);
  }
  return sum * h / 3.0;
}

/* GOE two-level cluster function (Mehta 6.4.19): with s(r) = sin(pi r) /
 * (pi r), Y2(r) = s^2 + s'(r) (1/2 - int_0^r s); then Sigma^2(L) = L - 2
 * int_0^L (L - r) Y2(r) dr.  The inner integral is accumulated along the
 * same Simpson grid, so this shares nothing with Mehta's closed form. */
static double sinc(double r) { return r == 0.0 ? 1.0 : sin(M_PI * r) / (M_PI * r); }

static double sinc_prime(double r) {
  if (r == 0.0) return 0.0;
  return (M_PI * r * cos(M_PI * r) - sin(M_PI * r)) / (M_PI * r * r);
}

static double sigma2_goe_by_quadrature(double L) {
  const int n = 20000;  /* even */
  double h = L / n, inner = 0.0, sum = 0.0;
  for (int i = 0; i <= n; i++) {
    double r = i * h;
    if (i > 0) {  /* int_0^r sinc by the trapezoid rule on a fine grid */
      double a = r - h;
      for (int k = 0; k < 8; k++) {
        double x0 = a + h * k / 8, x1 = a + h * (k + 1) / 8;
        inner += 0.5 * (h / 8) * (sinc(x0) + sinc(x1));
      }
    }
    double y2 = sinc(r) * sinc(r) + sinc_prime(r) * (0.5 - inner);
    double w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    sum += w * (L - r) * y2;
  }
  return L - 2.0 * sum * h / 3.0;
}

static void goe_curves(void) {
  for (double L = 0.5; L <= 8.0; L *= 2)
    EXPECT_NEAR(hr_number_variance_goe(L), sigma2_goe_by_quadrature(L), 2e-6,
                "GOE Sigma^2(%g): closed form vs cluster-function quadrature", L);
  EXPECT_NEAR(hr_number_variance_goe(1e-3), 1e-3, 1e-5, "GOE Sigma^2 -> L at small L");
  EXPECT_NEAR(hr_spectral_rigidity_goe(1e-2), 1e-2 / 15.0, 1e-6,
              "GOE Delta_3 -> L/15 at small L");
  const double euler_gamma = 0.5772156649015329;
  double L = 200.0;
  EXPECT_NEAR(hr_number_variance_goe(L), 2.0 / (M_PI * M_PI) *
              (log(2 * M_PI * L) + euler_gamma + 1.0 - M_PI * M_PI / 8.0), 1e-4,
              "GOE Sigma^2 large-L limit");
  EXPECT_NEAR(hr_spectral_rigidity_goe(L), (log(2 * M_PI * L) + euler_gamma -
              1.25 - M_PI * M_PI / 8.0) / (M_PI * M_PI), 2e-3, "GOE Delta_3 large-L limit");
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The semicircle's distribution function on [-R, R]. */
static double semicircle_cdf(double l, double R) {
  double t = fmax(-1.0, fmin(1.0, l / R));
  return 0.5 + (t * sqrt(1.0 - t * t) + asin(t)) / M_PI;
}

/* Members of the GOE (beta = 1) of size n, each solved by dsterf and
 * unfolded by n times the semicircle CDF of radius sqrt(2 n); the central
 * half of each is kept.  Sigma^2 and Delta_3 at L are averaged over the
 * members and compared with the exact GOE curves, within a few standard
 * errors of estimators over ~2 x 10^4 levels. */
static void goe_long_range(int64_t n, int members) {
  static const double Ls[] = {1.0, 2.0, 5.0, 10.0};
  enum { NL = sizeof Ls / sizeof Ls[0] };
  hr_ensemble_t e = {.kind = HR_KIND_BETA, .n = n, .seed = 77, .beta = 1.0};
  double *d = malloc((size_t)n * sizeof *d), *off = malloc((size_t)n * sizeof *off);
  double *x = malloc((size_t)n * sizeof *x);
  double sigma2[NL] = {0}, delta3[NL] = {0}, R = sqrt(2.0 * (double)n);
  for (int k = 0; k < members; k++) {
    hr_ensemble_beta_tridiagonal(&e, (uint64_t)k, d, off);
    int nn = (int)n, info = 0;
    dsterf_(&nn, d, off, &info);
    EXPECT(info == 0, "dsterf %d", info);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
      if (fabs(d[i]) < 0.5 * R) x[m++] = (double)n * semicircle_cdf(d[i], R);
    for (int j = 0; j < NL; j++) {
      sigma2[j] += hr_number_variance(x, m, Ls[j], 4000) / members;
      delta3[j] += hr_spectral_rigidity(x, m, Ls[j], 4000) / members;
    }
  }
  for (int j = 0; j < NL; j++) {
    double s2 = hr_number_variance_goe(Ls[j]), d3 = hr_spectral_rigidity_goe(Ls[j]);
    EXPECT(fabs(sigma2[j] / s2 - 1.0) < 0.12, "GOE N = %lld: Sigma^2(%g) = %.4f, "
           "exact %.4f", (long long)n, Ls[j], sigma2[j], s2);
    EXPECT(fabs(delta3[j] / d3 - 1.0) < 0.08, "GOE N = %lld: Delta_3(%g) = %.4f, "
           "exact %.4f", (long long)n, Ls[j], delta3[j], d3);
    printf("GOE N = %lld x %d: L = %4.1f  Sigma^2 %.4f (exact %.4f)  Delta_3 %.4f "
           "(exact %.4f)\n", (long long)n, members, Ls[j], sigma2[j], s2, delta3[j], d3);
  }
  free(d); free(off); free(x);
}

/* Both statistics at L = 1, 10, 40 are finite and >= 0 on x (m levels). */
static void finite_and_non_negative(const double *x, int64_t m, const char *what) {
  static const double Ls[] = {1.0, 10.0, 40.0};
  for (size_t j = 0; j < sizeof Ls / sizeof Ls[0]; j++) {
    double L = Ls[j];
    double s2 = hr_number_variance(x, m, L, 3000), d3 = hr_spectral_rigidity(x, m, L, 3000);
    EXPECT(isfinite(s2) && s2 >= 0.0, "%s: Sigma^2(%g) = %g", what, L, s2);
    EXPECT(isfinite(d3) && d3 >= 0.0, "%s: Delta_3(%g) = %g", what, L, d3);
  }
}

/* Sequences that broke the old rigidity formula (its sums of x^2 and x N
 * cancel) or could: see the file comment. */
static void adversarial(void) {
  const int64_t m = 10000;
  double *x = malloc((size_t)m * sizeof *x), *y = malloc((size_t)m * sizeof *y);
  double t = 0;
  for (int64_t i = 0; i < m; i++) {
    t += -log(hr_random_uniform(13, 0, i, 0, HR_STREAM_ENTRY));
    x[i] = t, y[i] = t + 1e9;
  }
  for (double L = 1.0; L <= 10.0; L += 9.0) {
    double d = hr_spectral_rigidity(x, m, L, 3000), ds = hr_spectral_rigidity(y, m, L, 3000);
    EXPECT(fabs(ds - d) <= 1e-5 * d, "Delta_3(%g) shifted by 1e9: %.10g, unshifted "
           "%.10g", L, ds, d);
  }
  for (int64_t i = m / 2; i < m; i++) x[i] += 1000.0;  /* a gap of 10^3 spacings */
  finite_and_non_negative(x, m, "a gap of 1000 spacings");
  for (int64_t i = 0; i < m; i++)  /* 90% of the levels at one point */
    x[i] = i < 9 * m / 10 ? 0.0 : (double)(i - 9 * m / 10) * 10.0;
  finite_and_non_negative(x, m, "90% at one point");
  for (int64_t i = 0; i < m; i++) x[i] = 5.0 * (double)(i / 5) + 2.5;  /* five-fold */
  finite_and_non_negative(x, m, "five-fold degenerate");
  double d3 = hr_spectral_rigidity(x, m, 200.0, 501);
  EXPECT_NEAR(d3, 25.0 / 12.0, 0.03, "five-fold degenerate Delta_3(200) = %.4f, "
              "expected 25/12", d3);
  free(x); free(y);
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  /* pool: counts of pool values <= each level over 2 pool spectra */
  const double levels[] = {1.5, 2.5, 10.0}, pool[] = {1, 2, 3, 4};
  double between;  /* 1.25: a quarter into the step from 1 to 2: (0.5 + 0.25) / 2 */
  hr_unfold_pool((const double[]){1.25}, 1, pool, 4, 2, &between);
  EXPECT_NEAR(between, 0.375, 1e-15, "pool unfolding interpolates between steps: %g", between);
  double out[3];
  hr_unfold_pool(levels, 3, pool, 4, 2, out);
  EXPECT(out[0] == 0.5 && out[1] == 1.0 && out[2] == 2.0,
         "pool unfolding %g %g %g, expected 0.5 1 2", out[0], out[1], out[2]);

  /* poly: a linear staircase is unfolded exactly */
  const int64_t n = 2000;
  double *l = malloc((size_t)n * sizeof *l), *u = malloc((size_t)n * sizeof *u);
  for (int64_t i = 0; i < n; i++) l[i] = 3.0 + 0.01 * (double)i;
  EXPECT(hr_unfold_poly(l, n, 3, 0.05, u) == 0, "poly fit");
  double worst = 0;
  for (int64_t i = 1; i < n; i++) worst = fmax(worst, fabs(u[i] - u[i - 1] - 1.0));
  EXPECT(worst < 1e-9, "linear staircase: spacing deviates by %.2e", worst);

  /* kde: Gaussian levels unfold to mean spacing 1 */
  for (int64_t i = 0; i < n; i++) l[i] = hr_random_normal(3, 0, i, 0, HR_STREAM_ENTRY);
  qsort(l, (size_t)n, sizeof *l, compare);
  hr_unfold_kde(l, n, 0.0, u);
  double mean_spacing = (u[n - 1] - u[0]) / (double)(n - 1);
  EXPECT(fabs(mean_spacing - 1.0) < 0.01, "KDE mean spacing %.4f", mean_spacing);

  /* spline: levels at the quantiles of a strongly varying density,
   * l_i = exp(5 t_i) with t_i uniform, unfold to i + 1/2 (the counting
   * function is a log, which a cubic spline with knots at quantiles
   * follows and a cubic polynomial does not) */
  for (int64_t i = 0; i < n; i++) l[i] = exp(5.0 * ((double)i + 0.5) / (double)n);
  EXPECT(hr_unfold_spline(l, n, u) == 0, "spline fit");
  double worst_spline = 0, worst_poly = 0;
  for (int64_t i = n / 20; i < n - n / 20; i++)
    worst_spline = fmax(worst_spline, fabs(u[i] - ((double)i + 0.5)));
  EXPECT(hr_unfold_poly(l, n, 3, 0.0, u) == 0, "poly fit of the warped levels");
  for (int64_t i = n / 20; i < n - n / 20; i++)
    worst_poly = fmax(worst_poly, fabs(u[i] - ((double)i + 0.5)));
  EXPECT(worst_spline < 0.5 && worst_poly > 20.0,
         "warped levels: spline off by %.3f levels, cubic poly by %.1f",
         worst_spline, worst_poly);
  EXPECT(hr_unfold_spline(l, 10, u) != 0, "spline of 10 levels refused");
  hr_error_clear();

  /* spacing laws: normalised, mean 1, CDFs are their integrals */
  for (int law = 0; law < 3; law++) {
    EXPECT_NEAR(simpson_spacing(law, 40.0, 0), 1.0, 1e-9, "spacing law %d norm", law);
    EXPECT_NEAR(simpson_spacing(law, 40.0, 1), 1.0, 1e-9, "spacing law %d mean", law);
    for (double s = 0.25; s < 3.0; s += 0.5)
      EXPECT_NEAR(hr_spacing_cdf(law, s), simpson_spacing(law, s, 0), 1e-9,
                  "spacing law %d CDF at %g", law, s);
  }

  /* Brody: Poisson (q = 0) and Wigner GOE (q = 1) samples by inversion */
  const int64_t m = 20000;
  double *s = malloc((size_t)m * sizeof *s);
  for (int64_t i = 0; i < m; i++)
    s[i] = -log(hr_random_uniform(5, 0, i, 0, HR_STREAM_ENTRY));
  double q0 = hr_brody_fit(s, m);
  for (int64_t i = 0; i < m; i++)
    s[i] = sqrt(-4.0 * log(hr_random_uniform(5, 1, i, 0, HR_STREAM_ENTRY)) / M_PI);
  double q1 = hr_brody_fit(s, m);
  EXPECT(q0 < 0.03, "Brody q of Poisson spacings %.4f", q0);
  EXPECT(q1 > 0.97, "Brody q of Wigner spacings %.4f", q1);

  /* number variance: Poisson process L; picket fence 0 */
  double x = 0;
  for (int64_t i = 0; i < m; i++) {
    x += -log(hr_random_uniform(9, 0, i, 0, HR_STREAM_ENTRY));
    s[i] = x;
  }
  for (double L = 1; L <= 10; L += 4.5) {
    double v = hr_number_variance(s, m, L, 5000);
    EXPECT(fabs(v / L - 1.0) < 0.1, "Poisson Sigma^2(%g) = %.3f", L, v);
  }
  for (int64_t i = 0; i < m; i++) s[i] = (double)i + 0.5;
  EXPECT(hr_number_variance(s, m, 3.0, 777) < 1e-12, "picket fence Sigma^2");
  goe_curves();
  /* rigidity: a picket fence tends to Delta_3 = 1/12 (the variance of its
   * sawtooth) as L grows; small windows fit the teeth a little better */
  for (double L = 11; L <= 40; L += 14)
    EXPECT_NEAR(hr_spectral_rigidity(s, m, L, 501), 1.0 / 12.0, 1e-3,
                "picket fence Delta_3(%g) = %.5f", L,
                hr_spectral_rigidity(s, m, L, 501));
  x = 0;
  for (int64_t i = 0; i < m; i++) {
    x += -log(hr_random_uniform(9, 0, i, 0, HR_STREAM_ENTRY));
    s[i] = x;
  }
  for (double L = 5; L <= 15; L += 10) {
    double d3 = hr_spectral_rigidity(s, m, L, 5000);
    EXPECT(fabs(d3 / (L / 15.0) - 1.0) < 0.1, "Poisson Delta_3(%g) = %.4f vs "
           "L/15", L, d3);
  }
  goe_long_range(2000, 8);
  goe_long_range(4000, 4);
  goe_long_range(8000, 2);
  adversarial();
  free(l); free(u); free(s);
  return test_finish_serial("test_unfold");
}
