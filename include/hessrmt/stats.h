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
 *   verdict   the law whose ratio distribution is nearest (KS distance),
 *             and whether the mean r~ is within 3 standard errors of its
 *             large-N value: the ratios need no unfolding, so the verdict
 *             never rests on one;
 *   unfold    each spectrum's bulk unfolded (unfold.h) by the method asked
 *             for, or with auto by the first of pool (6 or more spectra),
 *             spline, poly 3, 6, 9, 12, kde, pool (2 to 5 spectra) that is
 *             monotone and flat; the central part, scaled to mean spacing 1,
 *             gives spacings (KS against the surmises, Brody q), Sigma^2(L)
 *             and Delta_3(L) -- or, when the unfolding fails those checks,
 *             "unreliable" and no numbers. */
#ifndef HESSRMT_STATS_H
#define HESSRMT_STATS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "hessrmt/rmt.h"
#include "hessrmt/unfold.h"

/* all: the auto choice for the main statistics, and every unfolding side
 * by side (hr_stats_unfolding_t). */
#define HR_UNFOLD_CHOICES "auto|pool|poly|kde|spline|all"
typedef enum {
  HR_UNFOLD_AUTO, HR_UNFOLD_POOL, HR_UNFOLD_POLY, HR_UNFOLD_KDE,
  HR_UNFOLD_SPLINE, HR_UNFOLD_ALL
} hr_unfold_t;

/* What to compute.  hr_stats_config_default fills the defaults of the
 * command-line options. */
typedef struct {
  const char *path;      /* the spectra file */
  const char *dataset;   /* "hessian_evals" */
  double cut;            /* |l| <= cut is zero; < 0 = auto */
  int unfold;            /* hr_unfold_t; auto = the first that passes its checks */
  int poly_degree;       /* poly unfolding */
  double trim;           /* fraction of kept levels dropped at each end after unfolding */
  int paper_conventions; /* also compute hr_stats_paper_t (the paper's notebooks) */
} hr_stats_config_t;

void hr_stats_config_default(hr_stats_config_t *cfg);

/* The degeneracy ladder: cut-offs 1e-100 ... 1e-2. */
enum { HR_STATS_LADDER = 15 };

/* Higher-order ratios k = 2, 3 (index 0 is k = 2). */
enum { HR_STATS_ORDERS = 2 };

/* Sigma^2 and Delta_3 are evaluated at L = 0.5, 1.0, ..., 10. */
enum { HR_STATS_NL = 20 };

/* hessian --slq: how far the stochastic Lanczos quadrature estimate is
 * from the exact spectrum of the same rows (stats_slq.c).  Both are
 * measures on the real line: the exact one puts 1/N on each eigenvalue,
 * the estimate its Gauss weights (over K probes, summing to 1) on the
 * Lanczos nodes.  Distances: Wasserstein-1 (the area between the two
 * cumulative distributions), relative to the exact spectrum's range, and
 * Kolmogorov-Smirnov (their largest gap). */
typedef struct {
  int present;
  int64_t spectra, steps, probes;
  double w1_mean, w1_max, ks_mean, ks_max;
  /* the first spectrum, for the figure: exact levels, nodes, weights */
  int64_t n_exact, n_nodes;
  double *exact, *nodes, *weights;
  double sigma;  /* the figure's broadening: PyHessian's
                    sqrt(1e-5 max(1, range)) */
} hr_stats_slq_t;

/* --eigenvectors: what random-matrix theory predicts for eigenvectors
 * (stats_evecs.c).  A GOE eigenvector is uniform on the unit sphere: its
 * components' squares N v_i^2 follow the Porter-Thomas law (chi-squared
 * with one degree of freedom for large N; exactly N Beta(1/2, (N-1)/2)),
 * and its inverse participation ratio sum v_i^4 has mean 3/(N+2).  Each end's K vectors, pooled over the
 * spectra, are tested against both; the vectors' residuals and
 * orthogonality are the file's own checks, and (hessian) their overlaps
 * with the gradient and the class-mean gradients are averaged per vector. */
enum { HR_EVEC_ENDS = 2,    /* 0: the K smallest, 1: the K largest */
       HR_EVEC_SHOWN = 64 };
typedef struct {
  int present;
  int64_t k, n, spectra;
  double residual_max;      /* max |A v - lambda v| / max |lambda| */
  double orthogonality_max; /* max |V^T V - I| */
  double ipr_goe;           /* 3 / (N + 2) */
  struct {
    double ipr_mean, ipr_sem, ipr_ratio;  /* mean IPR, its error, / GOE */
    int64_t components;     /* pooled N v_i^2 tested */
    double pt_ks, pt_p, pt_critical;      /* KS against Porter-Thomas; its
                                             1% level */
    const char *verdict;    /* "Porter-Thomas (GOE-like)", "localised", ... */
  } end[HR_EVEC_ENDS];
  /* per vector, mean over the spectra: eigenvalue, IPR, and the overlaps
   * with the gradient and the class-mean span (NaN if absent); the
   * HR_EVEC_SHOWN / 2 nearest each end of the spectrum when 2K is more */
  int shown;
  int64_t index[HR_EVEC_SHOWN];  /* the eigenvalue's index in the spectrum */
  double eigenvalue[HR_EVEC_SHOWN], ipr[HR_EVEC_SHOWN],
      overlap_gradient[HR_EVEC_SHOWN], overlap_classes[HR_EVEC_SHOWN];
} hr_stats_evecs_t;

/* One unfolding tried on the data (stats_unfold.c): pool, poly of degree
 * 3, 6, 9 or 12, kde or spline.  It passes when it leaves at least
 * HR_STATS_MIN_SPACINGS spacings (fewer cannot tell one law from
 * another), is monotone (no unfolded spacing < 0) and is flat: the density of unfolded levels in each
 * tenth of the unfolded range, pooled over the spectra, is within
 * flat_tol of 1, where flat_tol = 0.05 plus four standard deviations of
 * a tenth's count under the law the ratios found (Poisson: the count;
 * otherwise the GOE's number variance).  `--unfold auto` keeps the first
 * that passes; `--unfold all` computes every one in full. */
enum { HR_STATS_UNFOLDINGS = 7, HR_STATS_MIN_SPACINGS = 50 };
typedef struct {
  char name[16];          /* "pool", "poly 3", "kde", "spline" */
  int ok;                 /* 0: it could not be done; why in note */
  char note[160];
  int enough, monotone, flat, passed;  /* enough: >= HR_STATS_MIN_SPACINGS */
  double flat_dev;        /* largest |density - 1| over the tenths */
  double flat_tol;        /* what flat allows */
  double flat_density;    /* the density in that tenth (1 + or - flat_dev) */
  int flat_worst;         /* the tenth (0..9) of flat_dev */
  double mean_spacing;    /* before scaling to 1: how well it unfolded */
  int64_t n_spacings, n_backward;
  /* computed for --unfold all (NaN for an auto candidate not kept) */
  double ks_spacing[3];   /* by hr_spacing_law_t */
  double brody_q;
  double sigma2, delta3;  /* at L = 10 (HR_STATS_NL - 1); NaN if not monotone */
  hr_spacing_law_t nearest;  /* the spacing law with the smallest KS */
  int flagged;            /* its nearest law is not the ratio verdict's */
} hr_stats_unfolding_t;

typedef struct {
  int k;
  int64_t count;
  double mean, err;                 /* mean r~^(k) and its standard error */
  double expected[HR_LAW_COUNT];    /* each law's mean of r~^(k) */
  hr_law_t nearest;                 /* law whose expected mean is nearest;
                                       HR_LAW_COUNT when there is no ratio */
} hr_stats_order_t;

/* --paper-conventions: the statistics exactly as the notebooks of the
 * paper "Applicability of random matrix theory in deep learning" computed
 * them, beside (never instead of) hessrmt's own, so that its figures can
 * be compared like with like (stats_paper.c):
 *   levels    |l| > 1e-10 (a fixed absolute threshold, not --cut);
 *   ratios    raw r_i = s_(i+1) / s_i of each spectrum's kept levels (not
 *             min(r, 1/r)), pooled, kept if r < 10 (s_i = 0 gives no r);
 *             KS against the GOE surmise of r, (27/8)(r + r^2) /
 *             (1 + r + r^2)^(5/2), truncated to [0, 10) and renormalised;
 *   unfolding rows 0 .. max(1, floor(S/3)) - 1 are targets, the kept levels
 *             of all other rows the pool; a target level l unfolds to
 *             #{pool < l} / (pool spectra); spacings of consecutive unfolded
 *             levels, pooled, NOT rescaled (the notebook did not); KS of
 *             spacing / mean against the Wigner surmise;
 *   cut-offs  fraction of all levels with |l| < c for c = 1e-100, 1e-90,
 *             ..., 1e-10 (every 10 decades), 1e-9, 1e-8, ..., 1e-4. */
#define HR_PAPER_CUT 1e-10
#define HR_PAPER_RATIO_MAX 10.0   /* ratios kept: r < this; histogram [0, this) */
#define HR_PAPER_SPACING_MAX 5.0  /* spacing histogram on [0, this) */
enum { HR_PAPER_BINS = 50, HR_PAPER_CUTOFFS = 16 };

typedef struct {
  double edges[HR_PAPER_BINS + 1];  /* numpy's linspace(lo, hi, bins + 1) */
  int64_t counts[HR_PAPER_BINS];    /* edges[i] <= x < edges[i+1], as numpy */
  int64_t outside;                  /* values beyond the edges */
} hr_paper_hist_t;

typedef struct {
  int computed;            /* 1 when asked for (--paper-conventions) */
  int64_t n_kept;          /* levels with |l| > HR_PAPER_CUT, all spectra */

  /* raw spacing ratios */
  int64_t n_ratios_all;    /* every r_i formed: kept levels - 2 per spectrum */
  int64_t n_ratios;        /* r < 10: the ratios used below */
  int64_t n_dropped;       /* n_ratios_all - n_ratios */
  int64_t n_zero_spacing;  /* of the dropped, those with s_i = 0 */
  double *ratios;          /* the n_ratios kept r (sorted) */
  double mean_r, frac_below_1;
  double ks_goe, p_goe, ks_poisson;  /* truncated GOE surmise; Poisson 1/(1+r)^2 */
  hr_paper_hist_t ratio_hist;

  /* pool unfolding */
  int unfolded;            /* 0: fewer than 2 spectra ("not enough spectra") */
  int64_t n_targets, n_pool_spectra, n_pool_levels;
  int64_t n_spacings;
  double mean_spacing;     /* of the spacings as they are (not rescaled) */
  double *scaled;          /* the spacings / mean_spacing (sorted), for KS and figure */
  double ks_wigner, p_wigner, ks_exponential;  /* of spacings / mean */
  hr_paper_hist_t spacing_hist;  /* of the spacings as they are */

  /* degeneracy at the notebook's cut-offs */
  double cutoff[HR_PAPER_CUTOFFS];
  double cutoff_fraction[HR_PAPER_CUTOFFS];  /* |l| < cutoff, all levels */
} hr_stats_paper_t;

/* Compute p from `rows` (spectra x levels, each row ascending). */
int hr_stats_paper_compute(const double *rows, int64_t spectra, int64_t levels,
                           hr_stats_paper_t *p);
void hr_stats_paper_free(hr_stats_paper_t *p);

/* The GOE surmise of the raw ratio truncated to [0, 10) and renormalised,
 * and Poisson's 1/(1+r)^2 likewise (the figure's curves). */
double hr_paper_ratio_density_goe(double r);
double hr_paper_ratio_density_poisson(double r);

typedef struct {
  /* what was read */
  char path[1024], dataset[128];
  char precision[16];     /* "double", "single" (file's /options), else
                             "float32 data" or "double" by the stored type;
                             only "single" makes the auto cut use float eps */
  char title[320];        /* what the data are, for figure titles */
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
  int64_t n_ratios_degenerate;  /* left out: a zero spacing on either side */
  double mean_r_tilde, mean_r_tilde_err;  /* r~ = min(r, 1/r) */
  double ks_ratio[HR_LAW_COUNT], p_ratio[HR_LAW_COUNT];
  hr_stats_order_t order[HR_STATS_ORDERS];

  /* Unfolding (stats_unfold.c).  Each spectrum's bulk (its kept levels
   * within its own Tukey fences, 3 IQR) is unfolded; the central part
   * (--trim dropped at each end) is scaled to mean spacing 1 and gives
   * the spacings, pooled and sorted, and Sigma^2 and Delta_3, averaged
   * over spectra.  spacing_reliable = 0 when the unfolding used is not
   * monotone and flat: then every number below is NaN (kept out of the
   * summary, the JSON and the figures) and unfold_note says why. */
  int unfold;             /* the method used (never auto or all) */
  int unfold_degree;      /* poly: its degree */
  int unfold_auto;        /* 1: chosen by --unfold auto */
  int spacing_reliable;
  char unfold_note[512];  /* what was kept and why, or why none was */
  int n_tried;            /* auto: the unfoldings tried, in order */
  hr_stats_unfolding_t tried[HR_STATS_UNFOLDINGS];
  int64_t n_unfolded;     /* levels unfolded (the bulks) */
  int64_t n_beyond_bulk;  /* kept levels outside their spectrum's fences */
  double *spacings;
  int64_t n_spacings;
  double mean_spacing;    /* before that scaling: how well the unfolding did */
  int64_t n_backward;     /* unfolded spacings < 0 (a fit that runs
                             backwards), left out of the spacing statistics;
                             spacings of exactly 0 (equal levels) stay in */
  double flat_dev, flat_tol;              /* of the unfolding used */
  double ks_spacing[3], p_spacing[3];     /* indexed by hr_spacing_law_t */
  double brody_q;

  /* long-range statistics, averaged over spectra */
  double L[HR_STATS_NL], sigma2[HR_STATS_NL], delta3[HR_STATS_NL];

  /* the verdict */
  hr_law_t verdict;
  int verdict_consistent;  /* mean r~ within 3 standard errors of the law's large-N value */
  /* Beyond the four laws: "" (within them), "more rigid than GSE", "near a
   * picket fence" (mean r~ >= 0.9; r~ = 1 for equal spacings) or "more
   * clustered than Poisson" (mean r~ significantly below 0.38629). */
  char rigidity[32];
  char verdict_text[512];

  /* --unfold all only (n_unfoldings > 0): every unfolding, the spread of
   * each statistic over those that worked, and a warning when the spacing
   * verdict depends on the unfolding (the ratios, which need none, are the
   * reference). */
  int n_unfoldings;
  hr_stats_unfolding_t unfoldings[HR_STATS_UNFOLDINGS];
  double spread_ks_goe, spread_ks_poisson, spread_brody, spread_sigma2,
      spread_delta3;
  char unfolding_warning[512];

  /* --paper-conventions only (paper.computed = 1) */
  hr_stats_paper_t paper;

  /* files made with hessian --slq (slq.present = 1) */
  hr_stats_slq_t slq;

  /* files made with --eigenvectors (evecs.present = 1) */
  hr_stats_evecs_t evecs;
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
 *   density, degeneracy, ratios, spacings, number_variance, rigidity,
 *   and with st->paper.computed paper_ratios and paper_spacings.
 * log_density puts the density on a logarithmic axis.  HR_ERR_USAGE if
 * the build has no PLplot.  Drawn with the primitives of plot.h. */
typedef struct {
  const char *dir;
  int width, height;
  int log_density;
  int strict_layout;  /* tests: labels that overlap fail the figure */
} hr_figures_config_t;

int hr_stats_figures(const hr_stats_t *st, const hr_figures_config_t *cfg);

/* A statistics run over files (stats_run.c): the analysis settings and
 * what it writes.  `hessrmt stats` runs one; so do ensemble, hessian and
 * the others at their end.  The front end fills it from the options. */
typedef struct hr_stats_job {
  hr_stats_config_t analysis;  /* .path is set for each file */
  const char *json, *plots;    /* "" = none */
  int plot_width, plot_height, log_density;
} hr_stats_job_t;

/* The statistics of files paths[0..count): summary on out, JSON and
 * figures if asked (the figures of several files go to plots/<file stem>).
 * Serial: call it on one rank. */
int hr_stats_run(const hr_stats_job_t *job, const char *const *paths,
                 int count, FILE *out);

/* Before a long run: fail now, not after it, if json ("" = none) cannot be
 * written or the plots directory cannot be made.  Collective over comm. */
int hr_stats_check_outputs(MPI_Comm comm, const char *json, const char *plots);

#endif
