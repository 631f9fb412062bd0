/* The hessian command's state and its four ways to a spectrum:
 *   dense    assemble H (or H0, H1) in the block-cyclic layout from
 *            per-rank partial column panels, then solve all N eigenvalues
 *            (hessian_dense.c: the first linear layer's block by its
 *            Kronecker structure -- all of H for logistic regression --
 *            the other columns by Hessian-vector products of unit
 *            directions);
 *   gram     the nonzero eigenvalues of H0 = G^T G from the small Gram
 *            matrix G G^T, the rest exactly zero (hessian_gram.c);
 *   lowrank  the range of a batch Hessian captured from products with
 *            random probes, checked on fresh probes, then the projected
 *            matrix solved (hessian_lowrank.c);
 *   reduced  a batch Hessian of a model whose first parameter layer is
 *            linear, in the exact subspace the batch's inputs span: the
 *            dense path on a smaller model, the rest exactly zero
 *            (hessian_reduced.c).
 * Every path must give the same spectrum to rounding. */
#ifndef HESSRMT_HESSIAN_H
#define HESSRMT_HESSIAN_H

#include <stdint.h>

#include "hessrmt/context.h"
#include "hessrmt/dataset.h"
#include "hessrmt/model.h"
#include "hessrmt/spectra_run.h"

/* Names in the order of the enum (the front end's --method choices). */
#define HR_METHOD_NAMES "auto|dense|gram|lowrank|reduced"
typedef enum {
  HR_METHOD_AUTO, HR_METHOD_DENSE, HR_METHOD_GRAM, HR_METHOD_LOWRANK,
  HR_METHOD_REDUCED, HR_N_METHODS
} hr_method_t;

/* Per-row checks of a Hessian spectrum, in /checks. */
enum {
  HR_CHECK_TRACE = HR_RUN_CHECK_TRACE,  /* trace of the matrix solved */
  HR_CHECK_EVSUM = HR_RUN_CHECK_EVSUM,  /* its eigenvalue sum (run layer) */
  HR_CHECK_ASYM = HR_RUN_CHECK_ASYM,    /* max |H - H^T| (NaN where only one
                                           triangle is formed) */
  HR_CHECK_RANK,    /* numerical rank (gram and lowrank: as found) */
  HR_CHECK_LOSS,    /* mean per-sample loss over the rows */
  HR_CHECK_ROWS,    /* rows in this spectrum */
  HR_CHECK_HV,      /* assembled H v against the R-operator's, relative
                       (dense and reduced) */
  HR_N_CHECKS
};

/* What hr_hessian_prepare takes from the command line; the front end
 * fills it (hr_options_hessian_setup). */
typedef struct hr_hessian_setup {
  hr_dataset_spec_t spec;       /* --data, --labels, ..., the synthetic shape */
  const char *targets;          /* --targets, or "" */
  const char *targets_dset;
  const char *model, *weights;  /* --model, --weights (each may be "") */
  int bias;
  hr_activation_t activation;
  hr_loss_t loss;
  int64_t classes;              /* --classes (0: from the model or data) */
  uint64_t init_seed;
  int scale_pixels, standardize, dry_run;
} hr_hessian_setup_t;

/* A principal sub-matrix: parameters [first, first + count). */
enum { HR_HESSIAN_MAX_BLOCKS = 6 };
typedef struct {
  int64_t first, count;
  char desc[128];              /* "block of layer 1", "block of tensors 2:3" */
} hr_hessian_block_t;

typedef struct {
  hr_hessian_setup_t setup;    /* filled by the command before prepare */
  hr_dataset_spec_t spec;
  int64_t rows, dim, classes;  /* whole dataset; model outputs */
  char model_spec[1024];       /* --model, or the one --weights stores */
  int model_bias;
  hr_model_t model;
  double *theta;
  hr_part_t part;
  hr_method_t method;          /* resolved: never AUTO */
  int all;                     /* one Hessian of the whole dataset */
  int64_t batch, first_row, count;
  hr_preprocess_t prep;        /* --scale-pixels / --standardize, fitted
                                  on the whole dataset */
  /* the current spectrum */
  int loaded;
  int64_t pass_bytes;          /* per rank, of the set-up pass over the whole
                                  dataset (largest label, --standardize) */
  hr_dataset_t data;           /* this rank's rows */
  const char *targets_path;    /* --targets (train's test set: --test-targets), or "" */
  double *targets;             /* this rank's targets, or NULL */
  double scale;                /* 1/rows for the mean reduction, else 1 */
  /* --block / --params: the principal sub-matrix of parameters
   * [block_first, block_first + block_count) being solved (count 0: all
   * of H), one of the run's `nblocks` blocks (the first: hessian_evals;
   * the others: blocks/1, blocks/2, ...) */
  int64_t block_first, block_count;
  char block_desc[128];        /* "block of layer 1" */
  int nblocks;
  hr_hessian_block_t blocks[HR_HESSIAN_MAX_BLOCKS];
  int block_extra;             /* blocks/1's index in run->extras */
  int slq_steps, slq_probes;   /* --slq M,K (0: none) */
  int slq_extra, overlap_extra; /* their indices in run->extras */
} hr_hessian_t;

/* Set-up shared by hessian and train (hessian_setup.c): the data spec
 * from h->setup, the dataset's shape, the number of outputs (model,
 * targets, --classes or the largest label), the standardisation fitted on
 * the whole dataset, the model and theta (--weights or --init-seed).
 * h->part is left alone.  Collective over ctx->world. */
int hr_hessian_prepare(hr_ctx_t *ctx, hr_hessian_t *h);

/* Rows [first, first + count) of the dataset split over comm: this rank
 * reads its slice into h->data (and h->targets), preprocessed.  A slice
 * already loaded is kept.  Collective over comm; agreed. */
int hr_hessian_load(hr_ctx_t *ctx, MPI_Comm comm, hr_hessian_t *h,
                    int64_t first, int64_t count);

/* Make block i of h->blocks the one solved (h->block_*). */
void hr_hessian_select_block(hr_hessian_t *h, int i);

/* Labels index the outputs for ce and one-hot mse.  Collective; agreed. */
int hr_hessian_check_labels(const hr_hessian_t *h, MPI_Comm comm);

/* This rank's loaded samples [first, first + count). */
hr_samples_t hr_hessian_samples(const hr_hessian_t *h, int64_t first,
                                int64_t count);

/* The spectrum of a rank-deficient H from its `found` nonzero-range
 * eigenvalues: the other n - found are exactly zero; all n sorted
 * ascending in place (evals holds n). */
void hr_hessian_add_zeros(double *evals, int64_t found, int64_t n);

/* One Hessian to form: a model, its parameters and this rank's samples
 * (x: count x dim).  The dense path works on one; the reduced path builds
 * its own from a smaller model. */
typedef struct {
  const hr_model_t *model;
  const double *theta;
  const double *x;
  int64_t count, dim;
  const int32_t *labels;
  const double *targets;    /* count x outputs, or NULL */
  hr_part_t part;
  double scale;             /* reduction: 1/rows or 1 */
} hr_hessian_problem_t;

/* The problem of h's loaded rows. */
hr_hessian_problem_t hr_hessian_problem(const hr_hessian_t *h);

/* Its samples [first, first + count). */
hr_samples_t hr_problem_samples(const hr_hessian_problem_t *p, int64_t first,
                                int64_t count);

/* HV += this rank's sum of (part of) H V for k directions (N x k), in
 * chunks of `chunk` samples (w sized for them and k directions); unscaled
 * and not reduced over ranks. */
void hr_problem_hvp(const hr_hessian_problem_t *p, hr_model_work_t *w,
                    int64_t chunk, const double *V, int64_t k, double *HV);

/* The same for k directions V (B x k) of the block [first, first + B):
 * HV (B x k) = scale times this rank's part of H's block times V, through
 * whole-length products (E, R: N x k scratch).  Not reduced over ranks. */
void hr_problem_block_hvp(const hr_hessian_problem_t *p, hr_model_work_t *w,
                          int64_t chunk, int64_t first, int64_t B,
                          const double *V, int64_t k, double *E, double *R,
                          double *HV);

/* Rows of `width` doubles, `local` of them on this rank, gathered in rank
 * order on every rank of comm (`total` in all).  Collective; agreed. */
int hr_hessian_gather_rows(MPI_Comm comm, const double *mine, int64_t local,
                           int64_t width, double *all, int64_t total);

/* Estimated bytes per rank, with a breakdown for messages. */
int64_t hr_hessian_memory(const hr_ctx_t *ctx, const hr_run_t *run,
                          const hr_hessian_t *h, char *breakdown, size_t len);

/* The spectrum of the loaded rows into evals (run->n values, ascending)
 * and checks.  Collective over run->grid.comm; agreed. */
int hr_hessian_dense(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                     double *evals, double *checks);
/* The block [h->block_first, + h->block_count) of H: its eigenvalues
 * (run->n = block_count of them) and checks, assembled from the block's
 * columns only (unit-direction products, rows restricted to the block). */
int hr_hessian_dense_block(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                           double *evals, double *checks);

/* Stochastic Lanczos quadrature of the loaded rows' H (hessian_slq.c), as
 * PyHessian and Ghorbani et al. estimate a Hessian's density: for each of
 * `probes` Rademacher vectors (drawn from spectrum k's stream, the same on
 * every rank), `steps` Lanczos steps of Hessian-vector products over the
 * group's rows, fully reorthogonalised; the tridiagonal matrix's
 * eigenvalues are the nodes and the squared first components of its
 * eigenvectors their weights (each probe's sum to 1).  nodes and weights
 * hold probes * steps values; a probe whose Krylov space closes early
 * pads its row with NaN nodes and zero weights.  Collective over
 * run->grid.comm; agreed. */
int hr_hessian_slq(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h, int64_t k,
                   int steps, int probes, double *nodes, double *weights);

/* --eigenvectors (hessian_evecs.c), after a dense or block solve that
 * left run->vectors (the block [first, first + run->n) of H; first 0 for
 * all of it): run->applied = H V by the R-operator over the group's rows,
 * not the assembled matrix, so the residuals check assembly and solve
 * together.  Collective over run->grid.comm; agreed. */
int hr_hessian_apply_vectors(const hr_hessian_problem_t *pb, hr_run_t *run,
                             int64_t first);

/* For each of the 2K vectors v: its squared overlap (v . g)^2 / |g|^2
 * with the gradient g of the loss over the group's rows, and |P v|^2, P
 * the projection onto the span of the class-mean gradients (the
 * directions Papyan finds the outliers in; NaN with --targets or without
 * classes), both restricted to the block.  Collective; agreed. */
int hr_hessian_vector_overlaps(const hr_hessian_problem_t *pb, hr_run_t *run,
                               int64_t first, int64_t classes,
                               double *gradient, double *class_means);

/* The same for any problem: its model's nparams eigenvalues. */
int hr_hessian_dense_problem(hr_ctx_t *ctx, hr_run_t *run,
                             const hr_hessian_problem_t *p, double *evals,
                             double *checks);
/* Gram matrices up to this order are solved whole by the group's first
 * rank with LAPACK; larger ones are distributed and go to --solver. */
enum { HR_GRAM_SERIAL_MAX = 2048 };
int hr_hessian_gram(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                    int64_t rows, double *evals, double *checks);
int hr_hessian_lowrank(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                       int64_t k, double *evals, double *checks);
/* Order of the reduced problem for batches of `rows` rows (an upper
 * bound: the span found may be smaller); N if the model does not reduce. */
int64_t hr_hessian_reduced_order(const hr_hessian_t *h, int64_t rows);
int hr_hessian_reduced(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                       int64_t rows, double *evals, double *checks);

int hr_cmd_hessian(hr_ctx_t *ctx);

#endif
