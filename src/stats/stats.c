/* The statistics of a spectra file (see stats.h): load, cut, ratios,
 * unfolding, long-range statistics and the verdict. */
#include "hessrmt/stats.h"
#include "hessrmt/stats_evecs.h"
#include "hessrmt/stats_slq.h"

#include <float.h>
#include <gsl/gsl_spline.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/spectra_read.h"
#include "stats_levels.h"

/* Ratios are averaged in blocks of this many consecutive values of one
 * spectrum for the standard error: neighbouring ratios share a spacing, so
 * their correlation is short-ranged, and block means of 32 are nearly
 * independent (the naive s / sqrt(n) is about 15% too small for GOE). */
enum { RATIO_BLOCK = 32 };

static const double ladder_exponents[HR_STATS_LADDER] = {
    -100, -80, -60, -40, -30, -20, -16, -14, -12, -10, -8, -6, -4, -3, -2};

void hr_stats_config_default(hr_stats_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->dataset = "hessian_evals";
  cfg->cut = -1.0;
  cfg->unfold = HR_UNFOLD_AUTO;
  cfg->poly_degree = 9;
  cfg->trim = 0.05;
}


/* ---- the spectra, their cut and the kept levels ------------------------------ */

/* Finished rows only, each checked for NaN/Inf and put in ascending order
 * (the paper's files are; a file from elsewhere may not be). */
static int select_rows(const hr_stats_config_t *cfg, hr_spectra_t *sp,
                       hr_stats_t *st, double **rows_out) {
  int64_t n = sp->cols, used = 0;
  if (n < 3)
    HR_FAIL(HR_ERR_INPUT, "'%s': dataset '%s' has %lld levels per spectrum; "
            "spacing ratios need at least 3", cfg->path, cfg->dataset, (long long)n);
  double *rows = malloc((size_t)(sp->rows ? sp->rows : 1) * (size_t)n * sizeof *rows);
  if (!rows) HR_FAIL(HR_ERR_MEMORY, "out of memory for the spectra of '%s'", cfg->path);
  for (int64_t r = 0; r < sp->rows; r++) {
    if (!sp->done[r]) continue;
    const double *v = sp->values + r * n;
    for (int64_t i = 0; i < n; i++)
      if (!isfinite(v[i])) {
        free(rows);
        HR_FAIL(HR_ERR_INPUT, "'%s': spectrum %lld, level %lld is %g: a "
                "spectra file must hold finite eigenvalues", cfg->path,
                (long long)r, (long long)i, v[i]);
      }
    memcpy(rows + used * n, v, (size_t)n * sizeof *rows);
    hr_sort_doubles(rows + used * n, n);
    used++;
  }
  if (used == 0) {
    free(rows);
    HR_FAIL(HR_ERR_INPUT, "'%s': no finished spectra in dataset '%s' (rows_done "
            "is all zero: is this the .partial file of a run that never "
            "finished a row?)", cfg->path, cfg->dataset);
  }
  st->n_spectra = used;
  st->n_levels = n;
  st->n_total = used * n;
  *rows_out = rows;
  return HR_OK;
}

static double precision_eps(const char *precision) {
  return strcmp(precision, "single") == 0 ? FLT_EPSILON : DBL_EPSILON;
}

/* The cut of one spectrum: the user's, or 100 eps N max|l|. */
static double row_cut(const hr_stats_t *st, const double *v) {
  return st->cut_auto ? hr_zero_cut(v, st->n_levels, precision_eps(st->precision))
                      : st->cut;
}

static void degeneracy_ladder(const double *rows, hr_stats_t *st) {
  int64_t total = st->n_total;
  double *mag = malloc((size_t)total * sizeof *mag);
  for (int i = 0; i < HR_STATS_LADDER; i++) {
    st->ladder_cut[i] = pow(10.0, ladder_exponents[i]);
    st->ladder_fraction[i] = NAN;
  }
  if (!mag) return;
  for (int64_t i = 0; i < total; i++) mag[i] = fabs(rows[i]);
  hr_sort_doubles(mag, total);
  int64_t below = 0;
  for (int i = 0; i < HR_STATS_LADDER; i++) {
    while (below < total && mag[below] <= st->ladder_cut[i]) below++;
    st->ladder_fraction[i] = (double)below / (double)total;
  }
  free(mag);
}

static int keep_levels(const char *path, const double *rows, hr_stats_t *st,
                       hr_levels_t *k) {
  int64_t S = st->n_spectra, n = st->n_levels;
  k->spectra = S;
  k->start = calloc((size_t)S + 1, sizeof *k->start);
  k->level = malloc((size_t)st->n_total * sizeof *k->level);
  if (!k->start || !k->level) HR_FAIL(HR_ERR_MEMORY, "out of memory for the kept levels");
  double largest_cut = 0.0;
  for (int64_t s = 0; s < S; s++) {
    const double *v = rows + s * n;
    double cut = row_cut(st, v);
    largest_cut = fmax(largest_cut, cut);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++) {
      if (fabs(v[i]) > cut) k->level[k->start[s] + m++] = v[i];
      st->exact_zeros += v[i] == 0.0;
    }
    if (m < 3)
      HR_FAIL(HR_ERR_INPUT, "'%s': spectrum %lld has %lld level%s with |l| > "
              "%.3g (the cut): spacing ratios need at least 3; lower the cut "
              "with --cut", path, (long long)s, (long long)m, m == 1 ? "" : "s", cut);
    k->start[s + 1] = k->start[s] + m;
  }
  k->count = k->start[S];
  st->n_kept = k->count;
  if (st->cut_auto) st->cut = largest_cut;
  return HR_OK;
}

/* The pooled kept levels, sorted, and Tukey's outer fences (3 IQR beyond
 * the quartiles): a Hessian's few large outliers sit far outside them. */
static int pool_kept(const hr_levels_t *k, hr_stats_t *st) {
  st->kept = malloc((size_t)k->count * sizeof *st->kept);
  if (!st->kept) HR_FAIL(HR_ERR_MEMORY, "out of memory for the kept levels");
  memcpy(st->kept, k->level, (size_t)k->count * sizeof *st->kept);
  hr_sort_doubles(st->kept, k->count);
  double q1 = st->kept[k->count / 4], q3 = st->kept[(3 * k->count) / 4];
  st->bulk_lo = q1 - 3.0 * (q3 - q1);
  st->bulk_hi = q3 + 3.0 * (q3 - q1);
  for (int64_t i = 0; i < k->count; i++)
    st->n_outliers += st->kept[i] < st->bulk_lo || st->kept[i] > st->bulk_hi;
  return HR_OK;
}

/* ---- means with honest standard errors -------------------------------------- */

/* Accumulates block means: values arrive spectrum by spectrum; a block
 * never spans two spectra. */
typedef struct {
  double sum, block_sum, sum_w2dev;  /* totals; the open block */
  int64_t count, block_count;
  double *bsum;                      /* block sums and sizes for the variance */
  int64_t *bsize;
  int64_t nblocks;
} block_mean_t;

static void block_close(block_mean_t *b) {
  if (b->block_count == 0) return;
  b->bsum[b->nblocks] = b->block_sum;
  b->bsize[b->nblocks++] = b->block_count;
  b->block_sum = 0.0;
  b->block_count = 0;
}

static void block_add(block_mean_t *b, const double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    b->sum += v[i];
    b->block_sum += v[i];
    b->count++;
    if (++b->block_count == RATIO_BLOCK) block_close(b);
  }
  block_close(b);  /* the spectrum's last, shorter block */
}

/* Mean and its standard error from the block means (the ratio estimator's
 * variance: sum w_b^2 (m_b - m)^2 / W^2 with a n / (n - 1) correction). */
static void block_result(const block_mean_t *b, double *mean, double *err) {
  *mean = b->count ? b->sum / (double)b->count : NAN;
  *err = NAN;
  if (b->nblocks < 2) return;
  double acc = 0.0;
  for (int64_t i = 0; i < b->nblocks; i++) {
    double dev = b->bsum[i] - *mean * (double)b->bsize[i];
    acc += dev * dev;
  }
  double nb = (double)b->nblocks;
  *err = sqrt(acc * nb / (nb - 1.0)) / (double)b->count;
}

static int block_init(block_mean_t *b, int64_t max_values, int64_t spectra) {
  memset(b, 0, sizeof *b);
  int64_t most = max_values / RATIO_BLOCK + spectra + 1;
  b->bsum = malloc((size_t)most * sizeof *b->bsum);
  b->bsize = malloc((size_t)most * sizeof *b->bsize);
  if (!b->bsum || !b->bsize) {
    free(b->bsum);
    free(b->bsize);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the block means");
  }
  return HR_OK;
}

static void block_free(block_mean_t *b) {
  free(b->bsum);
  free(b->bsize);
}

/* ---- spacing ratios -------------------------------------------------------- */

/* A law's ratio CDF, tabulated once and interpolated: the exact CDF is a
 * quadrature per call, too slow for millions of ratios.  A cubic spline
 * on 2049 nodes of a smooth function is accurate to ~1e-14. */
typedef struct {
  gsl_interp_accel *acc;
  gsl_spline *spline;
} cdf_table_t;

enum { CDF_NODES = 2049 };

static int cdf_table_init(cdf_table_t *t, hr_law_t law) {
  double x[CDF_NODES], y[CDF_NODES];
  for (int i = 0; i < CDF_NODES; i++) {
    x[i] = (double)i / (CDF_NODES - 1);
    y[i] = hr_ratio_cdf(law, x[i]);
  }
  t->acc = gsl_interp_accel_alloc();
  t->spline = gsl_spline_alloc(gsl_interp_cspline, CDF_NODES);
  if (!t->acc || !t->spline) HR_FAIL(HR_ERR_MEMORY, "out of memory for a CDF table");
  gsl_spline_init(t->spline, x, y, CDF_NODES);
  return HR_OK;
}

static void cdf_table_free(cdf_table_t *t) {
  if (t->spline) gsl_spline_free(t->spline);
  if (t->acc) gsl_interp_accel_free(t->acc);
}

static double cdf_table_eval(double x, void *vt) {
  cdf_table_t *t = vt;
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  return gsl_spline_eval(t->spline, x, t->acc);
}

static int ratio_ks(hr_stats_t *st) {
  for (int law = 0; law < HR_LAW_COUNT; law++) {
    cdf_table_t t = {NULL, NULL};
    int rc = cdf_table_init(&t, (hr_law_t)law);
    if (rc == HR_OK) {
      st->ks_ratio[law] = hr_ks_distance(st->ratios, st->n_ratios, cdf_table_eval, &t);
      st->p_ratio[law] = hr_ks_pvalue(st->ks_ratio[law], st->n_ratios);
    }
    cdf_table_free(&t);
    HR_CHECK(rc);
  }
  return HR_OK;
}

static int nearest_neighbour_ratios(const hr_levels_t *k, hr_stats_t *st) {
  st->ratios = malloc((size_t)k->count * sizeof *st->ratios);
  if (!st->ratios) HR_FAIL(HR_ERR_MEMORY, "out of memory for the spacing ratios");
  block_mean_t b;
  HR_CHECK(block_init(&b, k->count, st->n_spectra));
  for (int64_t s = 0; s < st->n_spectra; s++) {
    int64_t n;
    const double *v = hr_levels_row(k, s, &n);
    int64_t m = hr_spacing_ratios(v, n, st->ratios + st->n_ratios);
    block_add(&b, st->ratios + st->n_ratios, m);
    st->n_ratios += m;
    st->n_ratios_degenerate += (n >= 3 ? n - 2 : 0) - m;
  }
  block_result(&b, &st->mean_r_tilde, &st->mean_r_tilde_err);
  block_free(&b);
  if (st->n_ratios == 0)
    HR_FAIL(HR_ERR_INPUT, "'%s': every spacing ratio touches a zero spacing "
            "(the kept levels are exactly degenerate, e.g. in pairs): no "
            "spacing ratio exists", st->path);
  return ratio_ks(st);
}

/* Mean r~^(k) and each law's expectation: the surmise of Tekur's
 * effective index for the Gaussian ensembles; for Poisson levels the two
 * k-th order spacings are independent Gamma(k) variables. */
static int higher_order(const hr_levels_t *k, int64_t spectra, int order,
                        hr_stats_order_t *o) {
  memset(o, 0, sizeof *o);
  o->k = order;
  double *buf = malloc((size_t)k->count * sizeof *buf);
  block_mean_t b;
  if (!buf || block_init(&b, k->count, spectra) != HR_OK) {
    free(buf);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for higher-order ratios");
  }
  for (int64_t s = 0; s < spectra; s++) {
    int64_t n;
    const double *v = hr_levels_row(k, s, &n);
    int64_t m = hr_higher_order_ratios(v, n, order, buf);
    block_add(&b, buf, m);
    o->count += m;
  }
  block_result(&b, &o->mean, &o->err);
  block_free(&b);
  free(buf);
  static const double beta[HR_LAW_COUNT] = {0, 1, 2, 4};
  double best = INFINITY;
  o->nearest = HR_LAW_COUNT;  /* none, until a mean exists */
  for (int law = 0; law < HR_LAW_COUNT; law++) {
    o->expected[law] = law == HR_LAW_POISSON
        ? hr_ratio_mean_poisson_order(order)
        : hr_ratio_mean_index(hr_ratio_effective_index(beta[law], order));
    if (fabs(o->mean - o->expected[law]) < best) {
      best = fabs(o->mean - o->expected[law]);
      o->nearest = (hr_law_t)law;
    }
  }
  return HR_OK;
}

/* ---- the verdict ------------------------------------------------------------- */

static const char *law_label(hr_law_t law) {
  static const char *labels[HR_LAW_COUNT] = {"Poisson", "GOE", "GUE", "GSE"};
  return labels[law];
}

/* Levels more regular than GSE's or more bunched than Poisson's are
 * outside every law: say which side, from the mean r~ and its standard
 * error z against the nearest law (GSE or Poisson). */
static double z_from(const hr_stats_t *st, hr_law_t law) {
  return (st->mean_r_tilde - hr_ratio_mean_reference(law)) / st->mean_r_tilde_err;
}

static void rigidity(hr_stats_t *st) {
  st->rigidity[0] = '\0';
  double r = st->mean_r_tilde;
  if (z_from(st, HR_LAW_GSE) > 3.0)  /* NaN compares false */
    snprintf(st->rigidity, sizeof st->rigidity, "%s",
             r >= 0.9 ? "near a picket fence" : "more rigid than GSE");
  else if (z_from(st, HR_LAW_POISSON) < -3.0)
    snprintf(st->rigidity, sizeof st->rigidity, "more clustered than Poisson");
}

/* The law with the smallest ratio KS distance, and whether the mean r~
 * agrees with its large-N value within 3 standard errors. */
static void verdict(hr_stats_t *st) {
  /* Ties (equal spacings are at distance 1 from every law) go to the law
   * whose mean r~ is nearest. */
  hr_law_t best = HR_LAW_POISSON;
  for (int law = 1; law < HR_LAW_COUNT; law++) {
    double d = st->ks_ratio[law], b = st->ks_ratio[best];
    if (d < b - 1e-12 ||
        (fabs(d - b) <= 1e-12 &&
         fabs(st->mean_r_tilde - hr_ratio_mean_reference((hr_law_t)law)) <
             fabs(st->mean_r_tilde - hr_ratio_mean_reference(best))))
      best = (hr_law_t)law;
  }
  double ref = hr_ratio_mean_reference(best);
  double z = fabs(st->mean_r_tilde - ref) / st->mean_r_tilde_err;
  st->verdict = best;
  st->verdict_consistent = z <= 3.0;
  char others[160] = "", judged[160];
  size_t used = 0;
  for (int law = 0; law < HR_LAW_COUNT; law++)
    if (law != (int)best && used < sizeof others)
      used += (size_t)snprintf(others + used, sizeof others - used, "%s%s %.4f",
                               used ? ", " : "", law_label((hr_law_t)law),
                               st->ks_ratio[law]);
  if (isnan(st->mean_r_tilde_err))
    snprintf(judged, sizeof judged, "mean r~ %.4f (too few ratios for a "
             "standard error)", st->mean_r_tilde);
  else if (!isfinite(z))  /* every block mean equal: equal spacings */
    snprintf(judged, sizeof judged, "mean r~ %.4f with a standard error of 0 "
             "(every block of ratios has the same mean), not its %.4f",
             st->mean_r_tilde, ref);
  else
    snprintf(judged, sizeof judged, "mean r~ %.4f +/- %.4f is %.1f standard "
             "errors from its %.4f%s", st->mean_r_tilde, st->mean_r_tilde_err, z,
             ref, st->verdict_consistent ? " (consistent)"
                                         : " (closest, but not consistent)");
  /* A distance this large (the laws are at most ~0.5 apart) means none
   * of them describes the data, e.g. a picket fence. */
  const char *fit = st->ks_ratio[best] > 0.3 ? "no law fits; nearest" : "nearest";
  rigidity(st);
  char beyond[96] = "";
  if (st->rigidity[0])
    snprintf(beyond, sizeof beyond, "%s%s: ", st->rigidity,
             strcmp(st->rigidity, "near a picket fence") == 0
                 ? " (more rigid than GSE; r~ -> 1 for equal spacings)"
             : strcmp(st->rigidity, "more rigid than GSE") == 0
                 ? " (r~ beyond GSE's, towards a picket fence's 1)"
                 : " (r~ below Poisson's: bunched or degenerate levels)");
  snprintf(st->verdict_text, sizeof st->verdict_text,
           "%s%s: %s ratio law (KS distance %.4f; %s); %s", beyond,
           law_label(best), fit, st->ks_ratio[best], others, judged);
}

/* The verdict rests on the ratios alone; say so when the spacing half
 * could not be trusted. */
static void unreliable_note(hr_stats_t *st) {
  size_t used = strlen(st->verdict_text);
  char why[96];
  hr_stats_unreliable_reason(st, why, sizeof why);
  if (!st->spacing_reliable && used < sizeof st->verdict_text)
    snprintf(st->verdict_text + used, sizeof st->verdict_text - used,
             "; spacing and long-range statistics unreliable (%s)", why);
}

/* Ratios that touch a zero spacing have no value and are left out; when
 * many are, the verdict describes only the levels that are not
 * degenerate, and says so. */
static void degenerate_note(hr_stats_t *st) {
  int64_t all = st->n_ratios + st->n_ratios_degenerate;
  double share = all ? (double)st->n_ratios_degenerate / (double)all : 0.0;
  size_t used = strlen(st->verdict_text);
  if (share > 0.1 && used < sizeof st->verdict_text)
    snprintf(st->verdict_text + used, sizeof st->verdict_text - used,
             "; %.0f%% of the ratios touch a zero spacing (degenerate levels) "
             "and are left out: the verdict describes the rest", 100.0 * share);
}

/* ---- the whole computation --------------------------------------------------- */

static void describe(const hr_spectra_t *sp, hr_stats_t *st) {
  const char *base = strrchr(st->path, '/');
  base = base ? base + 1 : st->path;
  if (strcmp(sp->command, "hessian") == 0)
    snprintf(st->title, sizeof st->title, "%.100s: Hessian of %.127s (%.16s, %.16s)", base,
             sp->model, sp->part[0] ? sp->part : "full", sp->method);
  else if (strcmp(sp->command, "ensemble") == 0)
    snprintf(st->title, sizeof st->title, "%.200s: %s ensemble", base, sp->kind);
  else
    snprintf(st->title, sizeof st->title, "%.100s: %.100s", base, st->dataset);
  /* Without provenance a float32 dataset may hold a double solve stored
   * short (near-zero levels keep their absolute accuracy) or a float32
   * solve; the auto cut assumes the former, and the summary says so. */
  snprintf(st->precision, sizeof st->precision, "%s",
           sp->precision[0] ? sp->precision
                            : sp->stored_single ? "float32 data" : "double");
  st->file_rank_mean = NAN;
  if (sp->rank) {
    double sum = 0.0;
    int64_t used = 0;
    for (int64_t r = 0; r < sp->rows; r++)
      if (sp->done[r]) { sum += sp->rank[r]; used++; }
    if (used) st->file_rank_mean = sum / (double)used;
  }
}

static int compute(const hr_stats_config_t *cfg, hr_spectra_t *sp, hr_stats_t *st) {
  double *rows = NULL;
  hr_levels_t k = {0, 0, NULL, NULL};
  describe(sp, st);
  int rc = hr_stats_slq(sp, &st->slq);
  if (rc == HR_OK) rc = hr_stats_evecs(cfg->path, sp, &st->evecs);
  if (rc == HR_OK) rc = select_rows(cfg, sp, st, &rows);
  if (rc == HR_OK) {
    degeneracy_ladder(rows, st);
    rc = keep_levels(cfg->path, rows, st, &k);
  }
  /* The paper's conventions start from the uncut rows, with their own
   * threshold, so they run before the rows go. */
  if (rc == HR_OK && cfg->paper_conventions)
    rc = hr_stats_paper_compute(rows, st->n_spectra, st->n_levels, &st->paper);
  free(rows);
  if (rc == HR_OK) rc = pool_kept(&k, st);
  if (rc == HR_OK) rc = nearest_neighbour_ratios(&k, st);
  for (int i = 0; rc == HR_OK && i < HR_STATS_ORDERS; i++)
    rc = higher_order(&k, st->n_spectra, i + 2, &st->order[i]);
  if (rc == HR_OK) verdict(st);
  if (rc == HR_OK) degenerate_note(st);
  if (rc == HR_OK) rc = hr_stats_unfold(cfg, &k, st);
  if (rc == HR_OK) unreliable_note(st);
  if (rc == HR_OK && cfg->unfold == HR_UNFOLD_ALL) hr_stats_unfold_all(cfg, &k, st);
  hr_levels_free(&k);
  return rc;
}

int hr_stats_compute(const hr_stats_config_t *cfg, hr_stats_t *st) {
  memset(st, 0, sizeof *st);
  snprintf(st->path, sizeof st->path, "%s", cfg->path);
  snprintf(st->dataset, sizeof st->dataset, "%s", cfg->dataset);
  st->cut_auto = cfg->cut < 0.0;
  st->cut = cfg->cut;
  hr_spectra_t sp;
  HR_CHECK(hr_spectra_load(cfg->path, cfg->dataset, &sp));
  int rc = compute(cfg, &sp, st);
  hr_spectra_free(&sp);
  if (rc != HR_OK) hr_stats_free(st);
  return rc;
}

void hr_stats_free(hr_stats_t *st) {
  free(st->kept);
  free(st->ratios);
  free(st->spacings);
  st->kept = st->ratios = st->spacings = NULL;
  hr_stats_paper_free(&st->paper);
  hr_stats_slq_free(&st->slq);
}
