/* --paper-conventions (see stats.h, hr_stats_paper_t): the statistics as
 * the notebooks of "Applicability of random matrix theory in deep
 * learning" computed them.  Nothing here is hessrmt's own choice: the
 * fixed 1e-10 threshold, the raw ratio with its r < 10 filter, the
 * unfolding by a strict count over a pool with no rescaling and the
 * cut-off list all follow the notebooks, so that hessrmt's figures can be
 * set beside the paper's and compared like with like. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/stats.h"

/* Literals, not pow(10, e): the JSON then holds exactly the doubles a
 * reader's 1e-100 ... 1e-4 parse to. */
static const double paper_cutoffs[HR_PAPER_CUTOFFS] = {
    1e-100, 1e-90, 1e-80, 1e-70, 1e-60, 1e-50, 1e-40, 1e-30,
    1e-20,  1e-10, 1e-9,  1e-8,  1e-7,  1e-6,  1e-5,  1e-4};


/* ---- the laws ------------------------------------------------------------- */

/* CDF of the GOE surmise of the raw ratio on [0, inf), in closed form:
 * with t = r + 1/2 and u = 1 + r + r^2 = t^2 + 3/4 the integrand is
 * (27/8)(u^(-3/2) - u^(-5/2)) dt, whose antiderivative simplifies to
 * G(r) = 1/2 + (2r + 1)(r + 2)(r - 1) / (4 u^(3/2)); G(1) = 1/2 is the
 * r -> 1/r symmetry. */
static double goe_raw_cdf(double r) {
  double u = 1.0 + r + r * r;
  return 0.5 + (2.0 * r + 1.0) * (r + 2.0) * (r - 1.0) / (4.0 * u * sqrt(u));
}

double hr_paper_ratio_density_goe(double r) {
  if (r < 0.0 || r >= HR_PAPER_RATIO_MAX) return 0.0;
  double u = 1.0 + r + r * r;
  return 27.0 / 8.0 * (r + r * r) / (u * u * sqrt(u)) / goe_raw_cdf(HR_PAPER_RATIO_MAX);
}

double hr_paper_ratio_density_poisson(double r) {
  if (r < 0.0 || r >= HR_PAPER_RATIO_MAX) return 0.0;
  double top = HR_PAPER_RATIO_MAX / (1.0 + HR_PAPER_RATIO_MAX);
  return 1.0 / ((1.0 + r) * (1.0 + r)) / top;
}

/* The truncated, renormalised CDFs the kept ratios (all < 10) are tested
 * against. */
static double goe_truncated_cdf(double r, void *ctx) {
  (void)ctx;
  if (r <= 0.0) return 0.0;
  if (r >= HR_PAPER_RATIO_MAX) return 1.0;
  return goe_raw_cdf(r) / goe_raw_cdf(HR_PAPER_RATIO_MAX);
}

static double poisson_truncated_cdf(double r, void *ctx) {
  (void)ctx;
  if (r <= 0.0) return 0.0;
  if (r >= HR_PAPER_RATIO_MAX) return 1.0;
  return (r / (1.0 + r)) / (HR_PAPER_RATIO_MAX / (1.0 + HR_PAPER_RATIO_MAX));
}

static double spacing_cdf(double s, void *law) {
  return hr_spacing_cdf(*(const hr_spacing_law_t *)law, s);
}

/* ---- histograms, as numpy.histogram(x, linspace(lo, hi, bins + 1)) -------- */

/* Edges computed as numpy's linspace does (i * step + lo, the last set to
 * hi), so that a reader's histogram with the same edges counts the same. */
static void hist_init(hr_paper_hist_t *h, double lo, double hi) {
  memset(h, 0, sizeof *h);
  double step = (hi - lo) / HR_PAPER_BINS;
  for (int i = 0; i < HR_PAPER_BINS; i++) h->edges[i] = (double)i * step + lo;
  h->edges[HR_PAPER_BINS] = hi;
}

/* Bin by comparison with the edges, not by (x - lo) / step, whose
 * rounding can put a value next to an edge in the neighbouring bin; the
 * last bin is closed on the right, as numpy's. */
static void hist_add(hr_paper_hist_t *h, double x) {
  if (!(x >= h->edges[0] && x <= h->edges[HR_PAPER_BINS])) {
    h->outside++;
    return;
  }
  int lo = 0, hi = HR_PAPER_BINS;  /* edges[lo] <= x < edges[hi] or x = last */
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (h->edges[mid] <= x) lo = mid;
    else hi = mid;
  }
  h->counts[lo]++;
}

/* ---- levels ---------------------------------------------------------------- */

/* The levels of one ascending row with |l| > 1e-10, into out; how many. */
static int64_t kept_levels(const double *v, int64_t n, double *out) {
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (fabs(v[i]) > HR_PAPER_CUT) out[m++] = v[i];
  return m;
}

static void cutoff_fractions(const double *rows, int64_t total, hr_stats_paper_t *p) {
  int64_t below[HR_PAPER_CUTOFFS] = {0};
  for (int64_t i = 0; i < total; i++)
    for (int c = 0; c < HR_PAPER_CUTOFFS; c++) below[c] += fabs(rows[i]) < paper_cutoffs[c];
  for (int c = 0; c < HR_PAPER_CUTOFFS; c++) {
    p->cutoff[c] = paper_cutoffs[c];
    p->cutoff_fraction[c] = (double)below[c] / (double)total;
  }
}

/* ---- raw spacing ratios ------------------------------------------------------ */

/* r_i = s_(i+1) / s_i of kept levels v[0..m), appended to p->ratios when
 * r < 10.  s_i = 0 gives inf or NaN in the notebook, which its r < 10
 * filter drops: counted apart, as they say the levels are degenerate. */
static void ratios_of_row(const double *v, int64_t m, hr_stats_paper_t *p) {
  for (int64_t i = 0; i + 2 < m; i++) {
    double below = v[i + 1] - v[i], above = v[i + 2] - v[i + 1];
    p->n_ratios_all++;
    if (below == 0.0) {
      p->n_zero_spacing++;
      continue;
    }
    double r = above / below;
    if (r < HR_PAPER_RATIO_MAX) p->ratios[p->n_ratios++] = r;
  }
}

static void ratio_summary(hr_stats_paper_t *p) {
  double sum = 0.0;
  int64_t below_one = 0;
  hist_init(&p->ratio_hist, 0.0, HR_PAPER_RATIO_MAX);
  for (int64_t i = 0; i < p->n_ratios; i++) {
    sum += p->ratios[i];
    below_one += p->ratios[i] < 1.0;
    hist_add(&p->ratio_hist, p->ratios[i]);
  }
  p->n_dropped = p->n_ratios_all - p->n_ratios;
  p->mean_r = p->n_ratios ? sum / (double)p->n_ratios : NAN;
  p->frac_below_1 = p->n_ratios ? (double)below_one / (double)p->n_ratios : NAN;
  p->ks_goe = hr_ks_distance(p->ratios, p->n_ratios, goe_truncated_cdf, NULL);
  p->p_goe = hr_ks_pvalue(p->ks_goe, p->n_ratios);
  p->ks_poisson = hr_ks_distance(p->ratios, p->n_ratios, poisson_truncated_cdf, NULL);
}

static int raw_ratios(const double *rows, int64_t spectra, int64_t levels,
                      double *work, hr_stats_paper_t *p) {
  p->ratios = malloc((size_t)(spectra * levels > 0 ? spectra * levels : 1) *
                     sizeof *p->ratios);
  if (!p->ratios) HR_FAIL(HR_ERR_MEMORY, "out of memory for the paper's ratios");
  for (int64_t s = 0; s < spectra; s++) {
    int64_t m = kept_levels(rows + s * levels, levels, work);
    p->n_kept += m;
    ratios_of_row(work, m, p);
  }
  ratio_summary(p);
  return HR_OK;
}

/* ---- pool unfolding ---------------------------------------------------------- */

/* How many of the sorted values are < x: the notebook's strict count. */
static int64_t count_below(const double *sorted, int64_t m, double x) {
  int64_t lo = 0, hi = m;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* The kept levels of rows first .. spectra - 1, sorted. */
static int build_pool(const double *rows, int64_t spectra, int64_t levels,
                      int64_t first, double **pool, hr_stats_paper_t *p) {
  *pool = malloc((size_t)((spectra - first) * levels) * sizeof **pool);
  if (!*pool) HR_FAIL(HR_ERR_MEMORY, "out of memory for the paper's unfolding pool");
  for (int64_t s = first; s < spectra; s++)
    p->n_pool_levels += kept_levels(rows + s * levels, levels, *pool + p->n_pool_levels);
  hr_sort_doubles(*pool, p->n_pool_levels);
  return HR_OK;
}

/* Spacings of one target's unfolded kept levels, appended to p->scaled
 * (still unscaled here) and to the histogram of spacings as they are. */
static void spacings_of_target(const double *v, int64_t m, const double *pool,
                               hr_stats_paper_t *p) {
  double prev = 0.0;
  for (int64_t i = 0; i < m; i++) {
    double x = (double)count_below(pool, p->n_pool_levels, v[i]) /
               (double)p->n_pool_spectra;
    if (i > 0) {
      p->scaled[p->n_spacings++] = x - prev;
      hist_add(&p->spacing_hist, x - prev);
    }
    prev = x;
  }
}

/* Divide by the mean only for the KS test: the notebook's spacings (and
 * their histogram) are not rescaled. */
static void spacing_summary(hr_stats_paper_t *p) {
  double sum = 0.0;
  for (int64_t i = 0; i < p->n_spacings; i++) sum += p->scaled[i];
  p->mean_spacing = p->n_spacings ? sum / (double)p->n_spacings : NAN;
  p->ks_wigner = p->ks_exponential = p->p_wigner = NAN;
  if (!(p->mean_spacing > 0.0)) return;  /* no spacing, or all zero */
  for (int64_t i = 0; i < p->n_spacings; i++) p->scaled[i] /= p->mean_spacing;
  hr_spacing_law_t goe = HR_SPACING_GOE, poisson = HR_SPACING_POISSON;
  p->ks_wigner = hr_ks_distance(p->scaled, p->n_spacings, spacing_cdf, &goe);
  p->p_wigner = hr_ks_pvalue(p->ks_wigner, p->n_spacings);
  p->ks_exponential = hr_ks_distance(p->scaled, p->n_spacings, spacing_cdf, &poisson);
}

static int pool_unfolding(const double *rows, int64_t spectra, int64_t levels,
                          double *work, hr_stats_paper_t *p) {
  hist_init(&p->spacing_hist, 0.0, HR_PAPER_SPACING_MAX);
  p->mean_spacing = p->ks_wigner = p->p_wigner = p->ks_exponential = NAN;
  if (spectra < 2) return HR_OK;  /* "not enough spectra": no pool */
  p->unfolded = 1;
  p->n_targets = spectra / 3 > 0 ? spectra / 3 : 1;
  p->n_pool_spectra = spectra - p->n_targets;
  double *pool = NULL;
  HR_CHECK(build_pool(rows, spectra, levels, p->n_targets, &pool, p));
  p->scaled = malloc((size_t)(p->n_targets * levels) * sizeof *p->scaled);
  if (!p->scaled) {
    free(pool);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the paper's spacings");
  }
  for (int64_t s = 0; s < p->n_targets; s++)
    spacings_of_target(work, kept_levels(rows + s * levels, levels, work), pool, p);
  free(pool);
  spacing_summary(p);
  return HR_OK;
}

/* ---- the whole -------------------------------------------------------------- */

int hr_stats_paper_compute(const double *rows, int64_t spectra, int64_t levels,
                           hr_stats_paper_t *p) {
  memset(p, 0, sizeof *p);
  p->computed = 1;
  cutoff_fractions(rows, spectra * levels, p);
  double *work = malloc((size_t)(levels > 0 ? levels : 1) * sizeof *work);
  if (!work) HR_FAIL(HR_ERR_MEMORY, "out of memory for the paper's statistics");
  int rc = raw_ratios(rows, spectra, levels, work, p);
  if (rc == HR_OK) rc = pool_unfolding(rows, spectra, levels, work, p);
  free(work);
  if (rc != HR_OK) hr_stats_paper_free(p);
  return rc;
}

void hr_stats_paper_free(hr_stats_paper_t *p) {
  free(p->ratios);
  free(p->scaled);
  p->ratios = p->scaled = NULL;
}
