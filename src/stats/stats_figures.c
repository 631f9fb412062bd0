/* The figures of `hessrmt stats --plots DIR` (see stats.h): the
 * eigenvalue density, the degeneracy ladder, the spacing ratios and the
 * unfolded spacings against the random-matrix laws, and the long-range
 * statistics Sigma^2(L) and Delta_3(L), each drawn with the primitives of
 * plot.h into DIR/NAME.png and DIR/NAME.svg.
 *
 * Each figure says in its title what is shown and in its subtitle what
 * the data are (the file's description and the number of spectra), so a
 * figure read on its own is understood. */
#include "hessrmt/stats.h"
#include "hessrmt/stats_slq.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hessrmt/error.h"
#include "hessrmt/plot.h"
#include "stats_levels.h"

/* Data are grey bars or black markers; the laws keep one colour and line
 * style in every figure. */
static const hr_style_t law_style[3] = {
    {HR_RGB_VERMILLION, HR_LINE_DASHED, 2.5, HR_MARK_NONE, 0},   /* Poisson */
    {HR_RGB_BLUE, HR_LINE_SOLID, 2.5, HR_MARK_NONE, 0},          /* GOE */
    {HR_RGB_GREEN, HR_LINE_DASHDOT, 2.5, HR_MARK_NONE, 0}};      /* GUE */
static const char *law_label[3] = {"Poisson", "GOE", "GUE"};
static const hr_style_t data_markers = {HR_RGB_BLACK, HR_LINE_NONE, 0,
                                        HR_MARK_CIRCLE, 1.0};

enum { CURVE_POINTS = 400 };

#define TILDE_R "r\xcc\x83"     /* r with a combining tilde */
#define LAMBDA "\xce\xbb"
#define PLUS_MINUS "\xc2\xb1"
#define MIDDOT " \xc2\xb7 "
#define TILDE_MEAN "\xe2\x9f\xa8" TILDE_R "\xe2\x9f\xa9"  /* <r~> in angle brackets */

typedef struct {
  hr_plot_config_t pc;
  char title[512], subtitle[640];
} figure_setup_t;

/* 12345678 as "12,345,678": counts are read at a glance. */
static const char *grouped(int64_t v, char *buf, size_t len) {
  char digits[32];
  int n = snprintf(digits, sizeof digits, "%lld", (long long)(v < 0 ? -v : v));
  size_t used = 0;
  if (v < 0 && used + 1 < len) buf[used++] = '-';
  for (int i = 0; i < n && used + 1 < len; i++) {
    if (i > 0 && (n - i) % 3 == 0 && used + 1 < len) buf[used++] = ',';
    if (used + 1 < len) buf[used++] = digits[i];
  }
  buf[used] = '\0';
  return buf;
}

/* "spline unfolding", "poly 9 unfolding", "no unfolding passed". */
static const char *unfold_name(const hr_stats_t *st, char *buf, size_t len) {
  char name[32];
  hr_stats_unfold_label(st, name, sizeof name);
  if (st->unfold == HR_UNFOLD_AUTO || st->unfold == HR_UNFOLD_ALL)
    snprintf(buf, len, "no unfolding passed");
  else
    snprintf(buf, len, "%s unfolding", name);
  return buf;
}

/* What an unreliable spacing half draws instead of its data. */
static int unreliable(const hr_stats_t *st, hr_plot_t *p) {
  char why[96], note[128];
  hr_stats_unreliable_reason(st, why, sizeof why);
  snprintf(note, sizeof note, "unreliable: %s here", why);
  HR_CHECK(hr_plot_note(p, 0.5, 0.55, 0.5, note));
  return hr_plot_note(p, 0.5, 0.45, 0.5, "(see the summary; the ratios need no unfolding)");
}

/* What the data are, shared by every figure. */
static void common_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                         figure_setup_t *fs) {
  char what[400], ns[32], nl[32];
  hr_plot_config_default(&fs->pc);
  fs->pc.width = cfg->width;
  fs->pc.height = cfg->height;
  hr_plot_escape(st->title[0] ? st->title : st->path, what, sizeof what);
  snprintf(fs->subtitle, sizeof fs->subtitle, "%s" MIDDOT "%s spectr%s of N = %s",
           what, grouped(st->n_spectra, ns, sizeof ns),
           st->n_spectra == 1 ? "um" : "a", grouped(st->n_levels, nl, sizeof nl));
  fs->title[0] = '\0';
  fs->pc.title = fs->title;
  fs->pc.subtitle = fs->subtitle;
}

/* ---- density ------------------------------------------------------------------- */

/* The x range of the density: all levels when the outliers lie near the
 * bulk, else the bulk with a margin, so that a few far outliers (a
 * Hessian's top eigenvalues) do not squeeze the bulk into one bar;
 * outliers beyond the axis are drawn at its edge and counted. */
typedef struct {
  double lo, hi;              /* the bulk's levels */
  double min, max;            /* all kept levels */
  double xmin, xmax;          /* the axis */
  int64_t n_bulk, below, above;  /* outliers beyond the axis */
  int constant;               /* the bulk is one repeated value */
} density_view_t;

static void density_extent(const hr_stats_t *st, density_view_t *v) {
  memset(v, 0, sizeof *v);
  v->lo = v->min = INFINITY;
  v->hi = v->max = -INFINITY;
  for (int64_t i = 0; st->kept && i < st->n_kept; i++) {
    double x = st->kept[i];
    if (!isfinite(x)) continue;
    v->min = fmin(v->min, x);
    v->max = fmax(v->max, x);
    if (x < st->bulk_lo || x > st->bulk_hi) continue;
    v->lo = fmin(v->lo, x);
    v->hi = fmax(v->hi, x);
    v->n_bulk++;
  }
  if (v->n_bulk == 0) v->lo = v->min, v->hi = v->max;
}

/* One repeated level (or a bulk of one value) gets a range of +-5% around
 * it, as hr_plot_histogram would widen it. */
static void widen_constant(density_view_t *v) {
  if (v->hi > v->lo) return;
  v->constant = 1;
  double half = fabs(v->lo) > 0 ? 0.05 * fabs(v->lo) : 0.5;
  v->lo -= half;
  v->hi += half;
}

static void density_view(const hr_stats_t *st, density_view_t *v) {
  density_extent(st, v);
  if (!(v->max >= v->min)) {  /* no finite level */
    v->xmin = NAN, v->xmax = NAN;
    return;
  }
  widen_constant(v);
  double span = v->hi - v->lo;
  int near = v->max - v->min <= 5.0 * span;
  double lo = fmin(v->lo, v->min), hi = fmax(v->hi, v->max);
  v->xmin = near ? lo - 0.03 * span : v->lo - (v->min < v->lo ? 0.25 : 0.03) * span;
  v->xmax = near ? hi + 0.03 * span : v->hi + (v->max > v->hi ? 0.25 : 0.03) * span;
  for (int64_t i = 0; i < st->n_kept; i++) {
    v->below += st->kept[i] < v->xmin;
    v->above += st->kept[i] > v->xmax;
  }
}

static void density_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                          figure_setup_t *fs) {
  density_view_t v;
  char nk[32];
  density_view(st, &v);
  fs->pc.xmin = v.xmin;
  fs->pc.xmax = v.xmax;
  fs->pc.log_y = cfg->log_density;
  fs->pc.xlabel = "eigenvalue " LAMBDA;
  fs->pc.ylabel = cfg->log_density ? "density (log scale)" : "density";
  fs->pc.headroom = 0.1;
  int n = snprintf(fs->title, sizeof fs->title, "Eigenvalue density: %s kept "
                   "levels", grouped(st->n_kept, nk, sizeof nk));
  if (isfinite(st->cut) && n > 0 && (size_t)n < sizeof fs->title)
    snprintf(fs->title + n, sizeof fs->title - (size_t)n, " (|" LAMBDA "| > %.3g)",
             st->cut);
}

/* The outliers, as a rug with a count; those beyond the axis get a note
 * at its edge saying how far they go. */
static int density_outliers(const hr_stats_t *st, const density_view_t *v,
                            hr_plot_t *p) {
  size_t most = st->n_outliers > 0 ? (size_t)st->n_outliers : 1;
  double *out = malloc(most * sizeof *out);
  if (!out) HR_FAIL(HR_ERR_MEMORY, "out of memory for the outliers");
  int64_t m = 0;
  for (int64_t i = 0; i < st->n_kept && m < st->n_outliers; i++)
    if (st->kept[i] < st->bulk_lo || st->kept[i] > st->bulk_hi) out[m++] = st->kept[i];
  char label[160], n[32];
  snprintf(label, sizeof label, "%s outlier%s beyond the 3 IQR fences",
           grouped(m, n, sizeof n), m == 1 ? "" : "s");
  /* a few outliers stand out as triangles; many would merge into a wall */
  hr_style_t rug = {HR_RGB_VERMILLION, HR_LINE_NONE, 0,
                    m <= 40 ? HR_MARK_TRIANGLE : HR_MARK_BAR, m <= 40 ? 1.1 : 1.3};
  int rc = m > 0 ? hr_plot_rug(p, out, m, &rug, label) : HR_OK;
  free(out);
  HR_CHECK(rc);
  /* the counts go in the legend, whose rows never overlap (two notes at
   * the frame's bottom corners ran into each other when both were long) */
  if (v->below > 0) {
    snprintf(label, sizeof label, "\xe2\x97\x80 %s beyond the axis on the left, "
             "down to %.4g (drawn at its edge)", grouped(v->below, n, sizeof n), v->min);
    HR_CHECK(hr_plot_legend_text(p, label));
  }
  if (v->above > 0) {
    snprintf(label, sizeof label, "%s beyond the axis on the right, up to %.4g "
             "(drawn at its edge) \xe2\x96\xb6", grouped(v->above, n, sizeof n), v->max);
    HR_CHECK(hr_plot_legend_text(p, label));
  }
  return HR_OK;
}

static int density_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                          hr_plot_t *p) {
  (void)cfg;
  density_view_t v;
  density_view(st, &v);
  if (v.n_bulk == 0 && st->n_outliers == 0)
    return hr_plot_note(p, 0.5, 0.5, 0.5, "no finite levels above the cut");
  /* Rice's rule, 2 n^(1/3) bins; an odd count puts a repeated level in
   * the middle bin */
  int bins = (int)fmin(fmax(2.0 * cbrt((double)v.n_bulk), 10.0), 120.0) | 1;
  char label[200], n[32];
  if (v.constant)
    snprintf(label, sizeof label, "bulk: %s levels, all at %.6g",
             grouped(v.n_bulk, n, sizeof n), 0.5 * (v.lo + v.hi));
  else
    snprintf(label, sizeof label, "bulk: %s levels in [%.4g, %.4g]",
             grouped(v.n_bulk, n, sizeof n), v.lo, v.hi);
  HR_CHECK(hr_plot_histogram(p, st->kept, st->n_kept, v.lo, v.hi, bins, 1,
                             HR_RGB_SKY, label));
  return density_outliers(st, &v, p);
}

/* ---- degeneracy ladder ------------------------------------------------------- */

static void degeneracy_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                             figure_setup_t *fs) {
  (void)cfg;
  char cut[32], all[32];
  int64_t below = st->n_total - st->n_kept;
  fs->pc.log_x = 1;
  fs->pc.xlabel = "cut-off on |" LAMBDA "|";
  fs->pc.ylabel = "fraction of all levels with |" LAMBDA "| " "\xe2\x89\xa4" " cut-off";
  fs->pc.ymin = 0.0;
  fs->pc.headroom = 0.25;
  snprintf(fs->title, sizeof fs->title, "Degeneracy: %s of %s levels (%.2f%%) are "
           "numerical zeros", grouped(below, cut, sizeof cut),
           grouped(st->n_total, all, sizeof all),
           st->n_total > 0 ? 100.0 * (double)below / (double)st->n_total : 0.0);
}

static int degeneracy_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                             hr_plot_t *p) {
  (void)cfg;
  hr_style_t ladder = {HR_RGB_BLUE, HR_LINE_SOLID, 2.0, HR_MARK_CIRCLE, 1.0};
  hr_style_t cut = {HR_RGB_VERMILLION, HR_LINE_DASHED, 2.5, HR_MARK_NONE, 0};
  char label[200], n[32];
  HR_CHECK(hr_plot_series(p, st->ladder_cut, st->ladder_fraction, HR_STATS_LADDER,
                          &ladder, "fraction |" LAMBDA "| \xe2\x89\xa4 cut-off"));
  snprintf(label, sizeof label, "cut used: %.3g (%s)", st->cut,
           st->cut_auto ? "auto: 100 \xce\xb5 N max|" LAMBDA "|" : "--cut");
  if (st->cut > 0 && isfinite(st->cut)) HR_CHECK(hr_plot_vline(p, st->cut, &cut, label));
  snprintf(label, sizeof label, "exactly zero: %s levels",
           grouped(st->exact_zeros, n, sizeof n));
  HR_CHECK(hr_plot_legend_text(p, label));
  if (isfinite(st->file_rank_mean)) {
    snprintf(label, sizeof label, "mean numerical rank (file): %.1f", st->file_rank_mean);
    HR_CHECK(hr_plot_legend_text(p, label));
  }
  return HR_OK;
}

/* ---- spacing ratios ------------------------------------------------------------ */

static double ratio_law(double x, void *law) {
  return hr_ratio_density(*(const hr_law_t *)law, x);
}

static void ratios_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                         figure_setup_t *fs) {
  (void)cfg;
  fs->pc.xmin = 0.0;
  fs->pc.xmax = 1.0;
  fs->pc.xlabel = "spacing ratio " TILDE_R " = min(r, 1/r),  r = s#dn#u / s#dn-1#u";
  fs->pc.ylabel = "probability density";
  fs->pc.headroom = 0.15;
  if (st->n_ratios > 0)
    snprintf(fs->title, sizeof fs->title, "Spacing ratios: " TILDE_MEAN " = %.4f "
             PLUS_MINUS " %.4f", st->mean_r_tilde, st->mean_r_tilde_err);
  else
    snprintf(fs->title, sizeof fs->title, "Spacing ratios: none");
}

static int ratios_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                         hr_plot_t *p) {
  (void)cfg;
  static const hr_law_t laws[3] = {HR_LAW_POISSON, HR_LAW_GOE, HR_LAW_GUE};
  char label[200], n[32];
  snprintf(label, sizeof label, "data: %s ratios", grouped(st->n_ratios, n, sizeof n));
  HR_CHECK(hr_plot_histogram(p, st->ratios, st->n_ratios, 0.0, 1.0, 40, 1,
                             HR_RGB_GREY, label));
  if (st->n_ratios == 0)
    return hr_plot_note(p, 0.5, 0.5, 0.5, "no spacing ratios: every spacing is zero");
  for (int k = 0; k < 3; k++) {
    hr_law_t law = laws[k];
    snprintf(label, sizeof label, "%s%s: KS distance %.4f; " TILDE_MEAN " = %.4f%s",
             law_label[k], k ? " surmise" : "", st->ks_ratio[law],
             hr_ratio_mean_reference(law), k ? " at large N" : "");
    HR_CHECK(hr_plot_function(p, ratio_law, &law, 0.0, 1.0, CURVE_POINTS,
                              &law_style[k], label));
  }
  return HR_OK;
}

/* ---- unfolded spacings --------------------------------------------------------- */

static double spacing_law(double s, void *law) {
  return hr_spacing_density(*(const hr_spacing_law_t *)law, s);
}

static void spacings_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                           figure_setup_t *fs) {
  (void)cfg;
  fs->pc.xmin = 0.0;
  fs->pc.xmax = 4.0;
  fs->pc.xlabel = "unfolded nearest-neighbour spacing s (mean 1)";
  fs->pc.ylabel = "probability density P(s)";
  fs->pc.headroom = 0.15;
  char how[64];
  unfold_name(st, how, sizeof how);
  if (!st->spacing_reliable)
    snprintf(fs->title, sizeof fs->title, "Unfolded spacings (%s): unreliable", how);
  else if (st->n_spacings > 0 && isfinite(st->brody_q))
    snprintf(fs->title, sizeof fs->title, "Unfolded spacings (%s): "
             "Brody q = %.3f", how, st->brody_q);
  else
    snprintf(fs->title, sizeof fs->title, "Unfolded spacings (%s): none", how);
}

static int spacings_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                           hr_plot_t *p) {
  (void)cfg;
  static const hr_spacing_law_t laws[3] = {HR_SPACING_POISSON, HR_SPACING_GOE,
                                           HR_SPACING_GUE};
  static const char *forms[3] = {"e#u-s#d", "Wigner surmise", "surmise"};
  char label[200], n[32];
  if (!st->spacing_reliable) return unreliable(st, p);
  snprintf(label, sizeof label, "data: %s spacings",
           grouped(st->n_spacings, n, sizeof n));
  if (st->n_spacings > 0)
    snprintf(label + strlen(label), sizeof label - strlen(label),
             " (unfolded mean %.4f, scaled to 1)", st->mean_spacing);
  HR_CHECK(hr_plot_histogram(p, st->spacings, st->n_spacings, 0.0, 4.0, 40, 1,
                             HR_RGB_GREY, label));
  if (st->n_spacings == 0)
    return hr_plot_note(p, 0.5, 0.5, 0.5, "no spacings: too few unfolded levels");
  for (int k = 0; k < 3; k++) {
    hr_spacing_law_t law = laws[k];
    snprintf(label, sizeof label, "%s (%s), KS distance %.4f", law_label[k], forms[k],
             st->ks_spacing[law]);
    HR_CHECK(hr_plot_function(p, spacing_law, &law, 0.0, 4.0, CURVE_POINTS,
                              &law_style[k], label));
  }
  snprintf(label, sizeof label, "Brody fit: q = %.3f (0 Poisson, 1 GOE)", st->brody_q);
  HR_CHECK(hr_plot_legend_text(p, label));
  return HR_OK;
}

/* ---- Sigma^2(L) and Delta_3(L) --------------------------------------------------- */

/* The L axis: the stored grid, or 0.5 ... 10 if it is unusable. */
static void l_range(const hr_stats_t *st, double *lo, double *hi) {
  *lo = st->L[0];
  *hi = st->L[HR_STATS_NL - 1];
  if (!(isfinite(*lo) && isfinite(*hi) && *hi > *lo && *lo >= 0)) *lo = 0.5, *hi = 10.0;
}

static double finite_max(const double *v, int n) {
  double m = -INFINITY;
  for (int i = 0; i < n; i++)
    if (isfinite(v[i])) m = fmax(m, v[i]);
  return m;
}

static double poisson_sigma2(double L, void *ctx) { (void)ctx; return L; }
static double goe_sigma2(double L, void *ctx) {
  (void)ctx;
  return hr_number_variance_goe(L);
}
static double poisson_delta3(double L, void *ctx) { (void)ctx; return L / 15.0; }

/* Delta_3 >= 0: a value below (quadrature noise at tiny L) is not drawn. */
static double goe_delta3(double L, void *ctx) {
  (void)ctx;
  double v = hr_spectral_rigidity_goe(L);
  return v > 0 ? v : NAN;
}

typedef struct {
  const char *symbol;            /* "Σ²(L)" or "Δ₃(L)" */
  const char *name;              /* for the title */
  const char *poisson, *goe;     /* legend labels */
  const double *data;
  double (*poisson_f)(double, void *), (*goe_f)(double, void *);
} long_range_t;

static long_range_t long_range(const hr_stats_t *st, int rigidity) {
  long_range_t sigma = {"\xce\xa3\xc2\xb2(L)", "Number variance", "Poisson: L",
                        "GOE (exact, Mehta)", st->sigma2, poisson_sigma2, goe_sigma2};
  long_range_t delta = {"\xce\x94\xe2\x82\x83(L)", "Spectral rigidity", "Poisson: L/15",
                        "GOE (exact, Pandey's integral of \xce\xa3\xc2\xb2)",
                        st->delta3, poisson_delta3, goe_delta3};
  return rigidity ? delta : sigma;
}

/* The y range follows the data and the GOE curve: the Poisson line, far
 * above both for correlated levels, may leave the frame. */
static void long_range_setup(const hr_stats_t *st, figure_setup_t *fs, int rigidity) {
  long_range_t lr = long_range(st, rigidity);
  double lo, hi;
  l_range(st, &lo, &hi);
  fs->pc.xmin = 0.0;
  fs->pc.xmax = hi * 1.02;
  fs->pc.ymin = 0.0;
  fs->pc.xlabel = "L (interval length in mean level spacings)";
  fs->pc.ylabel = lr.symbol;
  fs->pc.headroom = 0.1;
  double top = 1.4 * fmax(finite_max(lr.data, HR_STATS_NL), lr.goe_f(hi, NULL));
  if (isfinite(top) && top > 0 && top < lr.poisson_f(hi, NULL)) fs->pc.ymax = top;
  char how[64];
  snprintf(fs->title, sizeof fs->title, "%s %s of the unfolded levels (%s)%s",
           lr.name, lr.symbol, unfold_name(st, how, sizeof how),
           st->spacing_reliable ? "" : ": unreliable");
}

static int long_range_layers(const hr_stats_t *st, hr_plot_t *p, int rigidity) {
  long_range_t lr = long_range(st, rigidity);
  double lo, hi;
  l_range(st, &lo, &hi);
  if (!st->spacing_reliable) return unreliable(st, p);
  if (!isfinite(finite_max(lr.data, HR_STATS_NL)))
    return hr_plot_note(p, 0.5, 0.5, 0.5, "no data: too few unfolded levels");
  HR_CHECK(hr_plot_function(p, lr.poisson_f, NULL, lo, hi, CURVE_POINTS,
                            &law_style[0], lr.poisson));
  HR_CHECK(hr_plot_function(p, lr.goe_f, NULL, lo, hi, CURVE_POINTS,
                            &law_style[1], lr.goe));
  return hr_plot_series(p, st->L, lr.data, HR_STATS_NL, &data_markers,
                        "data (mean over spectra)");
}

static void sigma2_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                         figure_setup_t *fs) {
  (void)cfg;
  long_range_setup(st, fs, 0);
}

static int sigma2_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                         hr_plot_t *p) {
  (void)cfg;
  return long_range_layers(st, p, 0);
}

static void delta3_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                         figure_setup_t *fs) {
  (void)cfg;
  long_range_setup(st, fs, 1);
}

static int delta3_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                         hr_plot_t *p) {
  (void)cfg;
  return long_range_layers(st, p, 1);
}

/* ---- --paper-conventions ---------------------------------------------------------- */

/* The two histograms the paper's notebooks drew, from the statistics as
 * they computed them (stats_paper.c), with the same laws as hessrmt's own
 * figures in the same colours, so the pairs can be set side by side. */

static double paper_ratio_law(double r, void *goe) {
  return *(const int *)goe ? hr_paper_ratio_density_goe(r)
                           : hr_paper_ratio_density_poisson(r);
}

static void paper_ratios_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                               figure_setup_t *fs) {
  (void)cfg;
  const hr_stats_paper_t *p = &st->paper;
  fs->pc.xmin = 0.0;
  fs->pc.xmax = HR_PAPER_RATIO_MAX;
  fs->pc.xlabel = "raw spacing ratio r = s#di+1#u / s#di#u  (kept: r < 10)";
  fs->pc.ylabel = "probability density";
  fs->pc.headroom = 0.15;
  snprintf(fs->title, sizeof fs->title, "Raw spacing ratios (the paper's "
           "conventions): mean r = %.4f", p->mean_r);
}

static int paper_ratios_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                               hr_plot_t *p) {
  (void)cfg;
  const hr_stats_paper_t *pp = &st->paper;
  char label[200], n[32], d[32];
  snprintf(label, sizeof label, "data: %s ratios (%s dropped: r >= 10 or s#di#u = 0)",
           grouped(pp->n_ratios, n, sizeof n), grouped(pp->n_dropped, d, sizeof d));
  HR_CHECK(hr_plot_histogram(p, pp->ratios, pp->n_ratios, 0.0, HR_PAPER_RATIO_MAX,
                             HR_PAPER_BINS, 1, HR_RGB_GREY, label));
  if (pp->n_ratios == 0)
    return hr_plot_note(p, 0.5, 0.5, 0.5, "no ratio below 10");
  int goe = 0;
  snprintf(label, sizeof label, "Poisson 1/(1+r)#u2#d on [0, 10), KS distance %.4f",
           pp->ks_poisson);
  HR_CHECK(hr_plot_function(p, paper_ratio_law, &goe, 0.0, HR_PAPER_RATIO_MAX,
                            CURVE_POINTS, &law_style[0], label));
  goe = 1;
  snprintf(label, sizeof label, "GOE surmise of r on [0, 10), KS distance %.4f",
           pp->ks_goe);
  HR_CHECK(hr_plot_function(p, paper_ratio_law, &goe, 0.0, HR_PAPER_RATIO_MAX,
                            CURVE_POINTS, &law_style[1], label));
  snprintf(label, sizeof label, "levels |" LAMBDA "| > 1e-10; fraction r < 1: %.4f "
           "(GOE 1/2)", pp->frac_below_1);
  return hr_plot_legend_text(p, label);
}

static void paper_spacings_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                                 figure_setup_t *fs) {
  (void)cfg;
  const hr_stats_paper_t *p = &st->paper;
  fs->pc.xmin = 0.0;
  fs->pc.xmax = HR_PAPER_SPACING_MAX;
  fs->pc.xlabel = "spacing / mean spacing  (the notebook's spacings are not rescaled)";
  fs->pc.ylabel = "probability density P(s)";
  fs->pc.headroom = 0.15;
  if (p->unfolded)
    snprintf(fs->title, sizeof fs->title, "Pool-unfolded spacings (paper's "
             "conventions): %lld spectr%s, pool %lld", (long long)p->n_targets,
             p->n_targets == 1 ? "um" : "a", (long long)p->n_pool_spectra);
  else
    snprintf(fs->title, sizeof fs->title, "Pool-unfolded spacings (the paper's "
             "conventions): none");
}

static int paper_spacings_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                                 hr_plot_t *p) {
  (void)cfg;
  const hr_stats_paper_t *pp = &st->paper;
  if (!pp->unfolded)
    return hr_plot_note(p, 0.5, 0.5, 0.5, "not enough spectra: the pool unfolding "
                        "needs at least 2");
  char label[200], n[32];
  snprintf(label, sizeof label, "data: %s spacings / their mean %.4f",
           grouped(pp->n_spacings, n, sizeof n), pp->mean_spacing);
  int64_t count = isfinite(pp->ks_wigner) ? pp->n_spacings : 0;  /* else not scaled */
  HR_CHECK(hr_plot_histogram(p, pp->scaled, count, 0.0, HR_PAPER_SPACING_MAX,
                             HR_PAPER_BINS, 1, HR_RGB_GREY, label));
  if (count == 0) return hr_plot_note(p, 0.5, 0.5, 0.5, "no spacing above 0");
  hr_spacing_law_t poisson = HR_SPACING_POISSON, goe = HR_SPACING_GOE;
  snprintf(label, sizeof label, "Poisson (e#u-s#d), KS distance %.4f", pp->ks_exponential);
  HR_CHECK(hr_plot_function(p, spacing_law, &poisson, 0.0, HR_PAPER_SPACING_MAX,
                            CURVE_POINTS, &law_style[0], label));
  snprintf(label, sizeof label, "GOE (Wigner surmise), KS distance %.4f", pp->ks_wigner);
  return hr_plot_function(p, spacing_law, &goe, 0.0, HR_PAPER_SPACING_MAX,
                          CURVE_POINTS, &law_style[1], label);
}

/* ---- hessian --slq: the Lanczos density against the exact one --------------- */

static double slq_curve(double x, void *q) { return hr_stats_slq_density(q, x); }

static void slq_setup(const hr_stats_t *st, const hr_figures_config_t *cfg,
                      figure_setup_t *fs) {
  const hr_stats_slq_t *q = &st->slq;
  double lo = q->exact[0], hi = q->exact[q->n_exact - 1], pad = 0.02 * (hi - lo);
  fs->pc.xmin = lo - pad - 3 * q->sigma;
  fs->pc.xmax = hi + pad + 3 * q->sigma;
  fs->pc.log_y = 0;  /* a Gaussian's tails would take a log axis to 1e-300 */
  fs->pc.xlabel = "eigenvalue " LAMBDA;
  fs->pc.ylabel = "density";
  fs->pc.headroom = 0.15;
  (void)cfg;
  snprintf(fs->title, sizeof fs->title, "SLQ (%lld steps x %lld probes) vs exact: "
           "W1 %.3g of the range, KS %.3f",
           (long long)q->steps, (long long)q->probes, q->w1_mean, q->ks_mean);
}

static int slq_layers(const hr_stats_t *st, const hr_figures_config_t *cfg,
                      hr_plot_t *p) {
  (void)cfg;
  const hr_stats_slq_t *q = &st->slq;
  char label[200];
  snprintf(label, sizeof label, "exact: all %lld levels of the first spectrum",
           (long long)q->n_exact);
  int bins = (int)fmin(fmax(2.0 * cbrt((double)q->n_exact), 10.0), 120.0);
  HR_CHECK(hr_plot_histogram(p, q->exact, q->n_exact, q->exact[0],
                             q->exact[q->n_exact - 1], bins, 1, HR_RGB_SKY, label));
  static const hr_style_t curve = {HR_RGB_VERMILLION, HR_LINE_SOLID, 2.5,
                                   HR_MARK_NONE, 0};
  snprintf(label, sizeof label, "SLQ, Gaussians of %s = %.3g (as PyHessian)",
           "sigma", q->sigma);
  return hr_plot_function(p, slq_curve, (void *)q, q->exact[0] - 3 * q->sigma,
                          q->exact[q->n_exact - 1] + 3 * q->sigma,
                          4 * CURVE_POINTS, &curve, label);
}

/* ---- the figures ------------------------------------------------------------------ */

typedef struct {
  const char *name;
  void (*setup)(const hr_stats_t *, const hr_figures_config_t *, figure_setup_t *);
  int (*layers)(const hr_stats_t *, const hr_figures_config_t *, hr_plot_t *);
  int paper;  /* 1: only with --paper-conventions; 2: only with SLQ data */
} figure_t;

static const figure_t figures[] = {
    {"density", density_setup, density_layers, 0},
    {"degeneracy", degeneracy_setup, degeneracy_layers, 0},
    {"ratios", ratios_setup, ratios_layers, 0},
    {"spacings", spacings_setup, spacings_layers, 0},
    {"number_variance", sigma2_setup, sigma2_layers, 0},
    {"rigidity", delta3_setup, delta3_layers, 0},
    {"paper_ratios", paper_ratios_setup, paper_ratios_layers, 1},
    {"paper_spacings", paper_spacings_setup, paper_spacings_layers, 1},
    {"slq_density", slq_setup, slq_layers, 2},
};

static int make_figure(const figure_t *f, const hr_stats_t *st,
                       const hr_figures_config_t *cfg) {
  figure_setup_t fs;
  common_setup(st, cfg, &fs);
  f->setup(st, cfg, &fs);
  char base[4096];
  if ((size_t)snprintf(base, sizeof base, "%s/%s", cfg->dir, f->name) >= sizeof base)
    HR_FAIL(HR_ERR_USAGE, "figure directory '%s' is too long", cfg->dir);
  hr_plot_t *p;
  HR_CHECK(hr_plot_create(&fs.pc, &p));
  int overlaps = 0, rc = f->layers(st, cfg, p);
  if (rc == HR_OK) rc = hr_plot_save_checked(p, base, &overlaps);
  hr_plot_free(p);
  HR_CHECK(rc);
  if (overlaps && cfg->strict_layout)
    HR_FAIL(HR_ERR_INTERNAL, "figure '%s': %d label%s found no free place and "
            "overlap", base, overlaps, overlaps == 1 ? "" : "s");
  if (overlaps)
    fprintf(stderr, "hessrmt: warning: figure '%s': %d label%s overlap\n", base,
            overlaps, overlaps == 1 ? "" : "s");
  return HR_OK;
}

/* mkdir -p: each missing component in turn. */
static int make_dir(const char *dir) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path)
    HR_FAIL(HR_ERR_USAGE, "figure directory '%s' is too long", dir);
  for (char *c = path + 1; ; c++) {
    if (*c != '/' && *c != '\0') continue;
    char keep = *c;
    *c = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      HR_FAIL(HR_ERR_IO, "cannot create figure directory '%s': %s", dir, strerror(errno));
    *c = keep;
    if (keep == '\0') break;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    HR_FAIL(HR_ERR_IO, "cannot create figure directory '%s': %s", dir,
            stat(dir, &sb) != 0 ? strerror(errno) : "a file of that name exists");
  return HR_OK;
}

int hr_stats_figures(const hr_stats_t *st, const hr_figures_config_t *cfg) {
  if (!hr_plot_available()) HR_FAIL(HR_ERR_USAGE, HR_PLOT_MISSING);
  if (!cfg->dir || !cfg->dir[0]) HR_FAIL(HR_ERR_USAGE, "no directory for the figures");
  if (cfg->width < 100 || cfg->height < 100 || cfg->width > 20000 || cfg->height > 20000)
    HR_FAIL(HR_ERR_USAGE, "figure size %d x %d pixels: each side must be within "
            "100 ... 20000", cfg->width, cfg->height);
  HR_CHECK(make_dir(cfg->dir));
  for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++)
    if (figures[i].paper == 0 || (figures[i].paper == 1 && st->paper.computed) ||
        (figures[i].paper == 2 && st->slq.present && st->slq.n_nodes > 0))
      HR_CHECK(make_figure(&figures[i], st, cfg));
  return HR_OK;
}
