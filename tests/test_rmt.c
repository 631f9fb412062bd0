/* The spacing-ratio laws against independent computations: the densities
 * integrate to 1 and their means equal the closed forms (composite Simpson,
 * not GSL), the CDFs agree with Simpson integrals, the Kolmogorov p-values
 * with the classical critical values, and KS tells Poisson samples from
 * GOE ones. */
#include <stdlib.h>

#include "check.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/lapack.h"
#include "hessrmt/random.h"
#include "hessrmt/rmt.h"

/* Simpson's rule for f(x) * x^moment on [0, b] with 20,000 intervals. */
static double simpson(hr_law_t law, double b, int moment) {
  const int n = 20000;
  double h = b / n, sum = 0.0;
  for (int i = 0; i <= n; i++) {
    double x = i * h, w = (i == 0 || i == n) ? 1 : (i % 2 ? 4 : 2);
    sum += w * hr_ratio_density(law, x) * (moment ? x : 1.0);
  }
  return sum * h / 3.0;
}

static double cdf_of(double x, void *law) { return hr_ratio_cdf(*(hr_law_t *)law, x); }

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  /* Closed-form means quoted in DESIGN.md. */
  static const double means[HR_LAW_COUNT] = {0.38629, 0.53590, 0.60266, 0.67617};
  for (int l = 0; l < HR_LAW_COUNT; l++) {
    hr_law_t law = (hr_law_t)l;
    EXPECT_NEAR(simpson(law, 1.0, 0), 1.0, 1e-10, "%s density integrates to "
                "%.12f", hr_law_name(law), simpson(law, 1.0, 0));
    EXPECT_NEAR(simpson(law, 1.0, 1), hr_ratio_mean_exact(law), 1e-10,
                "%s mean by quadrature vs closed form", hr_law_name(law));
    EXPECT_NEAR(hr_ratio_mean_exact(law), means[l], 5e-6, "%s mean %.6f",
                hr_law_name(law), hr_ratio_mean_exact(law));
    for (double x = 0.1; x < 1.0; x += 0.2)
      EXPECT_NEAR(hr_ratio_cdf(law, x), simpson(law, x, 0), 1e-10,
                  "%s CDF at %g", hr_law_name(law), x);
    EXPECT(hr_ratio_cdf(law, 1.0) == 1.0 && hr_ratio_cdf(law, 0.0) == 0.0,
           "%s CDF ends", hr_law_name(law));
  }

  /* The zero cut counts only the levels solved: a Gram spectrum of 64
   * nonzero levels padded with exact zeros to 16,601 gets 100 eps 64
   * max|l|, the cut of the 64 x 64 solve; a dense one counts all N. */
  {
    enum { PADDED = 16601, SOLVED = 64 };
    double *lv = calloc(PADDED, sizeof *lv);
    for (int i = 0; i < SOLVED; i++) lv[PADDED - SOLVED + i] = 1.0 + i;
    EXPECT_NEAR(hr_zero_cut(lv, PADDED, 1e-7), 100 * 1e-7 * SOLVED * 64.0, 1e-12,
                "zero cut of a padded spectrum %g", hr_zero_cut(lv, PADDED, 1e-7));
    for (int i = 0; i < PADDED; i++) lv[i] = 1.0 + i;
    EXPECT_NEAR(hr_zero_cut(lv, PADDED, 1e-7), 100 * 1e-7 * PADDED * (double)PADDED,
                1e-6, "zero cut of a dense spectrum");
    free(lv);
  }

  /* Kolmogorov's distribution: 5% and 1% critical values 1.358 and 1.628. */
  int64_t big = 1000000;
  double scale = sqrt((double)big) + 0.12 + 0.11 / sqrt((double)big);
  EXPECT_NEAR(hr_ks_pvalue(1.358 / scale, big), 0.05, 5e-4, "Q(1.358)");
  EXPECT_NEAR(hr_ks_pvalue(1.628 / scale, big), 0.01, 2e-4, "Q(1.628)");
  EXPECT(hr_ks_pvalue(0.0, 10) == 1.0, "Q(0) = 1");

  /* Samples of the Poisson ratio law by inversion, r~ = F / (2 - F): KS
   * accepts Poisson and rejects GOE. */
  const int64_t n = 20000;
  double *sample = malloc((size_t)n * sizeof *sample);
  hr_law_t poisson = HR_LAW_POISSON, goe = HR_LAW_GOE;
  for (int64_t i = 0; i < n; i++) {
    double u = hr_random_uniform(7, 0, i, 0, HR_STREAM_ENTRY);
    sample[i] = u / (2.0 - u);
  }
  double d_poisson = hr_ks_distance(sample, n, cdf_of, &poisson);
  double d_goe = hr_ks_distance(sample, n, cdf_of, &goe);
  EXPECT(hr_ks_pvalue(d_poisson, n) > 0.001, "Poisson sample vs Poisson: D "
         "%.4f p %.3g", d_poisson, hr_ks_pvalue(d_poisson, n));
  EXPECT(hr_ks_pvalue(d_goe, n) < 1e-10 && d_goe > 0.1, "Poisson sample vs "
         "GOE: D %.4f", d_goe);

  /* Ratios of a known sequence: spacings 1, 2, 1, 4 give r~ 1/2, 1/2, 1/4. */
  const double levels[] = {0, 1, 3, 4, 8};
  double rt[3];
  EXPECT(hr_spacing_ratios(levels, 5, rt) == 3 && rt[0] == 0.5 &&
         rt[1] == 0.5 && rt[2] == 0.25, "ratios of a known sequence");
  free(sample);

  /* Surmise means for any index agree with the closed forms. */
  EXPECT_NEAR(hr_ratio_mean_index(1.0), hr_ratio_mean_exact(HR_LAW_GOE), 1e-10, "index 1");
  EXPECT_NEAR(hr_ratio_mean_index(2.0), hr_ratio_mean_exact(HR_LAW_GUE), 1e-10, "index 2");
  EXPECT_NEAR(hr_ratio_mean_index(4.0), hr_ratio_mean_exact(HR_LAW_GSE), 1e-10, "index 4");
  EXPECT(hr_ratio_effective_index(1.0, 2) == 4.0 && hr_ratio_effective_index(1.0, 3) == 8.0,
         "effective indices of GOE k = 2, 3");

  /* Poisson higher orders: k = 1 is 2 ln 2 - 1; for k = 2 the density of r
   * is 6 r / (1 + r)^4, and 12 int_0^1 r^2 / (1 + r)^4 dr = 1/2 by hand. */
  EXPECT_NEAR(hr_ratio_mean_poisson_order(1), 2.0 * log(2.0) - 1.0, 1e-12, "Poisson k = 1");
  EXPECT_NEAR(hr_ratio_mean_poisson_order(2), 0.5, 1e-12, "Poisson k = 2");
  {
    /* ... and a Poisson sample's third-order ratios agree (4 standard errors) */
    enum { M = 200000 };
    double *lv = malloc(M * sizeof *lv), *r3 = malloc(M * sizeof *r3), x = 0;
    for (int64_t i = 0; i < M; i++) {
      x += -log(hr_random_uniform(17, 0, i, 0, HR_STREAM_ENTRY));
      lv[i] = x;
    }
    int64_t n3 = hr_higher_order_ratios(lv, M, 3, r3);
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < n3; i++) { mean += r3[i]; sq += r3[i] * r3[i]; }
    mean /= (double)n3;
    double se = sqrt((sq / (double)n3 - mean * mean) / (double)n3) * 2.0;  /* overlapping: x2 */
    EXPECT(fabs(mean - hr_ratio_mean_poisson_order(3)) < 4 * se, "Poisson k = 3: "
           "sample %.5f vs %.5f (se %.5f)", mean, hr_ratio_mean_poisson_order(3), se);
    free(lv);
    free(r3);
  }

  /* Tekur et al.: second-order ratios of GOE spectra (beta ensemble,
   * tridiagonal model) follow the index-4 surmise (measured: 0.6746 +/-
   * 0.0020 against 0.6762). */
  const int64_t N = 1000, spectra = 24;
  double *d = malloc((size_t)N * sizeof *d), *e = malloc((size_t)N * sizeof *e);
  double *rk = malloc((size_t)N * sizeof *rk), sum = 0, sum2 = 0;
  hr_ensemble_t model = {.kind = HR_KIND_BETA, .n = N, .seed = 17,
                         .wishart_ratio = 1.0, .beta = 1.0};
  for (int64_t k = 0; k < spectra; k++) {
    hr_ensemble_beta_tridiagonal(&model, (uint64_t)k, d, e);
    int order = (int)N, info = 0;
    dsterf_(&order, d, e, &info);
    int64_t m = hr_higher_order_ratios(d, N, 2, rk), lo = m / 4, hi = 3 * m / 4;
    double mean = 0;
    for (int64_t i = lo; i < hi; i++) mean += rk[i];
    mean /= (double)(hi - lo);
    sum += mean;
    sum2 += mean * mean;
  }
  double mean = sum / spectra, se = sqrt((sum2 / spectra - mean * mean) / (spectra - 1));
  EXPECT(fabs(mean - hr_ratio_mean_index(4.0)) < 3 * se + 0.002, "GOE second-order "
         "ratios: mean %.4f +/- %.4f vs index-4 surmise %.4f", mean, se,
         hr_ratio_mean_index(4.0));
  free(d); free(e); free(rk);
  return test_finish_serial("test_rmt");
}
