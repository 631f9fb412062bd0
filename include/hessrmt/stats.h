/* The statistics of a spectra file: what `hessrmt stats` computes, prints,
 * writes as JSON and draws (DESIGN.md, "Random matrix statistics").
 *
 * The pipeline, all serial (rank 0, or no MPI at all):
 *   load      every finished row of the dataset, checked for NaN/Inf and order;
 *   cut       levels with |l| <= cut are numerical zeros and leave the
 *             analysis (auto: 100 eps N max|l| per spectrum, eps of the
 *             file's precision); the degeneracy ladder says how many
 *             levels sit below each cut-off of a logarithmic ladder;
 *   ratios    r~ of each spectrum's kept levels, pooled: mean with an
 *             honest standard error (block means: neighbouring ratios
 *             share a spacing and are correlated), KS against each law,
 *             and higher orders k = 2, 3;
 *   unfold    pool, poly or kde (unfold.h); the unfolded levels of the
 *             central part (--trim dropped at each end), scaled to mean
 *             spacing 1, give spacings (KS against the surmises, Brody q),
 *             Sigma^2(L) and Delta_3(L);
 *   verdict   the law whose ratio distribution is nearest (KS distance),
 *             and whether the mean r~ is within 3 standard errors of its
 *             large-N value. */
#ifndef HESSRMT_STATS_H
#define HESSRMT_STATS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "hessrmt/rmt.h"
#include "hessrmt/unfold.h"

#define HR_UNFOLD_CHOICES "auto|pool|poly|kde"
typedef enum { HR_UNFOLD_AUTO, HR_UNFOLD_POOL, HR_UNFOLD_POLY, HR_UNFOLD_KDE } hr_unfold_t;

/* What to compute.  hr_stats_config_default fills the defaults of the
 * command-line options. */
typedef struct {
  const char *path;      /* the spectra file */
  const char *dataset;   /* "hessian_evals" */
  double cut;            /* |l| <= cut is zero; < 0 = auto */
  int unfold;            /* hr_unfold_t; auto = pool with >= 6 spectra, else poly */
  int poly_degree;       /* poly unfolding */
  double trim;           /* fraction of kept levels dropped at each end after unfolding */
} hr_stats_config_t;

void hr_stats_config_default(hr_stats_config_t *cfg);

/* The degeneracy ladder: cut-offs 1e-100 ... 1e-2. */
enum { HR_STATS_LADDER = 15 };

/* Higher-order ratios k = 2, 3 (index 0 is k = 2). */
enum { HR_STATS_ORDERS = 2 };

/* Sigma^2 and Delta_3 are evaluated at L = 0.5, 1.0, ..., 10. */
enum { HR_STATS_NL = 20 };

typedef struct {
  int k;
  int64_t count;
  double mean, err;                 /* mean r~^(k) and its standard error */
  double expected[HR_LAW_COUNT];    /* each law's mean of r~^(k) */
  hr_law_t nearest;                 /* law whose expected mean is nearest;
                                       HR_LAW_COUNT when there is no ratio */
} hr_stats_order_t;

typedef struct {
  /* what was read */
  char path[1024], dataset[128];
  char precision[16];     /* "double", "single" (file's /options), else
                             "float32 data" or "double" by the stored type;
                             only "single" makes the auto cut use float eps */
  char title[256];        /* what the data are, for figure titles */
  int64_t n_spectra;      /* finished rows analysed */
  int64_t n_levels;       /* levels per spectrum */
  int64_t n_total;        /* n_spectra * n_levels */

  /* the cut and the degeneracy ladder */
  int cut_auto;
  double cut;             /* the user's cut, or the largest auto cut of any spectrum */
  int64_t n_kept;         /* levels with |l| > cut, all spectra */
  int64_t exact_zeros;    /* levels exactly 0.0: structural zeros of Gram and low-rank spectra */
  double file_rank_mean;  /* mean of the file's checks/rank (numerical rank), NaN if absent */
  double ladder_cut[HR_STATS_LADDER];
  double ladder_fraction[HR_STATS_LADDER];  /* fraction of all levels with |l| <= cut */

  /* kept levels of all spectra, pooled and sorted (density figure); the
   * bulk lies within [bulk_lo, bulk_hi] (Tukey fences at 3 IQR), the rest
   * are outliers */
  double *kept;
  double bulk_lo, bulk_hi;
  int64_t n_outliers;

  /* spacing ratios (kept levels), pooled and sorted */
  double *ratios;
  int64_t n_ratios;
  double mean_r_tilde, mean_r_tilde_err;  /* r~ = min(r, 1/r) */
  double ks_ratio[HR_LAW_COUNT], p_ratio[HR_LAW_COUNT];
  hr_stats_order_t order[HR_STATS_ORDERS];

  /* unfolded spacings of the central kept levels, each spectrum's scaled
   * to mean 1, pooled, sorted */
  int unfold;             /* the method used (never auto) */
  double *spacings;
  int64_t n_spacings;
  double mean_spacing;    /* before that scaling: how well the unfolding did */
  int64_t n_nonpositive;  /* unfolded spacings <= 0 (a fit that runs
                             backwards), left out of the spacing statistics */
  double ks_spacing[3], p_spacing[3];     /* indexed by hr_spacing_law_t */
  double brody_q;

  /* long-range statistics, averaged over spectra */
  double L[HR_STATS_NL], sigma2[HR_STATS_NL], delta3[HR_STATS_NL];

  /* the verdict */
  hr_law_t verdict;
  int verdict_consistent;  /* mean r~ within 3 standard errors of the law's large-N value */
  char verdict_text[512];
} hr_stats_t;

/* Read cfg->path and compute everything.  Errors (missing file or
 * dataset, NaN, too few levels) are returned with a message. */
int hr_stats_compute(const hr_stats_config_t *cfg, hr_stats_t *st);
void hr_stats_free(hr_stats_t *st);

/* The readable summary. */
void hr_stats_print(const hr_stats_t *st, FILE *out);

/* JSON with (at least) the keys n_spectra, n_levels, n_kept, cut,
 * mean_r_tilde, mean_r_tilde_err, ks_goe, ks_gue, ks_poisson, brody_q,
 * verdict: one object for one file, an array of them for several; written
 * to path atomically (path.partial, then renamed).  Uses only the
 * scalars of st, so the arrays may already be freed. */
int hr_stats_write_json(const hr_stats_t *st, int count, const char *path);

/* The figures (figures.c, PLplot): into directory dir, created if needed,
 * each as NAME.png (width x height pixels) and NAME.svg:
 *   density, degeneracy, ratios, spacings, number_variance, rigidity.
 * log_density puts the density on a logarithmic axis.  HR_ERR_USAGE if
 * the build has no PLplot.  Drawn with the primitives of plot.h. */
typedef struct {
  const char *dir;
  int width, height;
  int log_density;
} hr_figures_config_t;

int hr_stats_figures(const hr_stats_t *st, const hr_figures_config_t *cfg);

/* The whole of `hessrmt stats` for files paths[0..count) with the options
 * of o (--dataset, --cut, --unfold, --json, --plots, ...): summary on out,
 * JSON and figures if asked.  Serial: call it on one rank. */
struct hr_options;
int hr_stats_run(const struct hr_options *o, const char *const *paths,
                 int count, FILE *out);

/* Before a long run: fail now, not after it, if --json cannot be written
 * or the --plots directory cannot be made.  Collective over comm. */
int hr_stats_check_outputs(MPI_Comm comm, const struct hr_options *o);

#endif
