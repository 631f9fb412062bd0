/* What every spectra-producing command shares: rank groups with one BLACS
 * grid each, the solver and block size, the memory check, the spectra file
 * (created, or reopened with --resume), the loop that deals problems to
 * groups and writes each finished row, progress lines, and the final
 * provenance, commit and summary.  A command supplies the order of its
 * matrices, how many spectra it makes, and a function that produces one
 * spectrum. */
#ifndef HESSRMT_SPECTRA_RUN_H
#define HESSRMT_SPECTRA_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "hessrmt/context.h"
#include "hessrmt/grid.h"
#include "hessrmt/spectra_file.h"
#include "hessrmt/stats.h"

/* What the run layer takes from the command line; the front end fills it
 * (hr_options_run_settings) before hr_run_layout. */
typedef struct hr_run_settings {
  const char *command;          /* "hessian", for messages */
  const char *output;           /* -o FILE */
  int64_t groups;               /* --groups (0: the command's choice) */
  int grid_rows, grid_cols;     /* --grid (0 x 0: as square as possible) */
  hr_solver_t solver;           /* --solver as given (may be auto) */
  hr_precision_t precision;
  int64_t nblk;                 /* 0: the solver's default */
  int64_t eigenvectors;         /* --eigenvectors K (0: none) */
  int64_t max_mem;              /* bytes per rank (0: what the node has) */
  int quiet, resume;
} hr_run_settings_t;

typedef struct hr_run {
  hr_run_settings_t set;      /* filled by the command before hr_run_layout */
  hr_groups_t groups;
  hr_grid_t grid;             /* my group's grid */
  char grid_desc[256];        /* "2x2", or each group's shape: "1x2,1x1" */
  hr_solver_t solver;         /* the solver that runs */
  const char *solver_note;    /* why it differs from --solver, or NULL */
  char note_buf[256];         /* a note composed at run time */
  int64_t n;                  /* spectrum length (matrix order) */
  int64_t nblk;               /* one block size for all groups */
  int64_t count;              /* number of spectra */
  int groups_auto;            /* the command's choice for --groups auto
                                 (0: one group) */
  int64_t mem_limit;          /* bytes per rank */
  int64_t mem_need;           /* the estimate checked against it */
  /* Worst self-checks over the rows this run computed. */
  double worst_trace_error, worst_asymmetry;
  int file_open;
  hr_spectra_file_t file;
  unsigned char *done;        /* rows finished (count) */
  /* Per-row data beside the eigenvalues, set by the command before
   * hr_run_open; the problem function fills `extra` (extras.count rows of
   * extras.cols, one after another) on its group's rank 0. */
  hr_spectra_extras_t extras;
  double *extra;
  /* --eigenvectors K (0: none): a problem that solves with vectors
   * (hr_run_check_and_solve_vectors) leaves those of the K smallest and K
   * largest eigenvalues in `vectors`, n x 2K column-major on every rank of
   * the group (the K smallest ascending, then the K largest ascending),
   * each signed so that its first component of largest magnitude (within a
 * relative 1e-6) is positive; it puts A V
   * into `applied` (same shape) by its own operator and calls
   * hr_run_vector_extras.  The run layer adds the extras hessian_evecs
   * and checks/evec_residual at indices evec_extra and evec_extra + 1. */
  int64_t evec_k;
  double *vectors, *applied;
  int evec_extra;
  /* The statistics at the end, set by the command (with_stats 0: none). */
  int with_stats;
  hr_stats_job_t stats;
} hr_run_t;

/* Groups, grids, solver and block size for matrices of order n.
 * Collective over ctx->world; agreed. */
int hr_run_layout(hr_ctx_t *ctx, int64_t n, hr_run_t *run);

/* Zero a run (its settings too) so hr_run_free is safe before
 * hr_run_layout has run. */
void hr_run_init(hr_run_t *run);

/* A command's estimate of the bytes per rank its plan needs with the
 * run's current solver, with a breakdown for messages. */
typedef int64_t (*hr_need_fn)(const hr_ctx_t *ctx, const hr_run_t *run,
                              const void *user, char *breakdown, size_t len);

/* The memory limit (run->mem_limit) and the plan's estimate, the largest
 * over ranks, into *need.  With --solver auto, ELPA 2-stage is traded for
 * the lean pdsyev when only that fits (run->solver and solver_note say
 * so).  Collective. */
int hr_run_plan_memory(hr_ctx_t *ctx, hr_run_t *run, hr_need_fn fn,
                       const void *user, int64_t *need, char *breakdown,
                       size_t len);

/* Stop, on every rank, if any rank's estimate `need` exceeds the limit
 * (--max-mem, or the node's memory over its ranks).  Collective. */
int hr_run_check_memory(hr_ctx_t *ctx, hr_run_t *run, int64_t need,
                        const char *breakdown);

/* One line on stderr (rank 0, unless --quiet) describing the run. */
void hr_run_print_plan(const hr_ctx_t *ctx, const hr_run_t *run,
                       const char *what, int64_t need);

/* Create the spectra file (count rows, run->n columns, the named per-row
 * checks) with provenance, or reopen it with --resume.  Collective. */
int hr_run_open(hr_ctx_t *ctx, hr_run_t *run, int64_t count,
                const char *const *checks, int nchecks);

/* The first three per-row checks of every command: the trace of the
 * matrix solved (NaN where none is assembled), the sum of its eigenvalues
 * (filled in by the problem loop) and max |A - A^T|. */
enum { HR_RUN_CHECK_TRACE, HR_RUN_CHECK_EVSUM, HR_RUN_CHECK_ASYM };

/* Produce spectrum k: all run->n eigenvalues, ascending, into evals (at
 * least on the group's first rank, which writes the row) and the per-row
 * checks other than the eigenvalue sum.  Collective over the
 * group's grid; failures agreed within the group. */
typedef int (*hr_problem_fn)(hr_ctx_t *ctx, hr_run_t *run, int64_t k,
                             double *evals, double *checks, void *user);

/* The self-checks (trace, max |A - A^T| unless asymmetry is NULL: a
 * matrix of which only the lower triangle was formed) and then the solve
 * of an assembled matrix, each timed; the matrix is destroyed.  Collective
 * over its grid; agreed. */
int hr_run_check_and_solve(hr_ctx_t *ctx, const hr_run_t *run, hr_dmat_t *a,
                           double *evals, double *trace, double *asymmetry);

/* The same, with the eigenvectors of --eigenvectors into run->vectors
 * (double precision; one more matrix of a's layout while it runs). */
int hr_run_check_and_solve_vectors(hr_ctx_t *ctx, const hr_run_t *run,
                                   hr_dmat_t *a, double *evals, double *trace,
                                   double *asymmetry);

/* Bytes per rank the vectors of --eigenvectors add to a plan of order n:
 * the vector matrix, the solver's larger workspace and the gathered
 * vectors (0 without --eigenvectors). */
int64_t hr_run_vectors_bytes(const hr_run_t *run, int64_t n);

/* run->applied = S run->vectors for the symmetric S whose lower triangle
 * `a` holds again (regenerated after the solve).  Collective over a's grid. */
int hr_run_apply_lower(const hr_run_t *run, const hr_dmat_t *a);

/* On the group's first rank: the vectors and the residuals
 * |applied_j - lambda_j vectors_j| into the row's extras (evals: the
 * row's eigenvalues, ascending).  A residual above HR_RUN_RESIDUAL_MAX
 * max|lambda| fails the spectrum (HR_ERR_SOLVER).  Collective over the
 * group; agreed. */
#define HR_RUN_RESIDUAL_MAX 1e-8
int hr_run_vector_extras(hr_run_t *run, const double *evals);

/* The index of eigenvalue j of the 2K with vectors (j < K: j, else
 * n - 2K + j). */
int64_t hr_run_vector_index(const hr_run_t *run, int64_t j);

/* The run's block size if the solver accepts it for order n on the
 * group's grid (a smaller matrix than the run's: Gram, reduced), else the
 * solver's default for n. */
int64_t hr_run_nblk_for(const hr_run_t *run, int64_t n);

/* Deal the unfinished problems to the groups (k = g, g + G, ...), solve,
 * write each row as it finishes.  On failure the file is closed, keeping
 * FILE.partial only if it holds finished rows.  Collective over world. */
int hr_run_problems(hr_ctx_t *ctx, hr_run_t *run, hr_problem_fn fn,
                    void *user);

/* Layout and timing attributes, close and rename; rank 0 prints the
 * timing table unless --quiet.  Collective. */
int hr_run_finish(hr_ctx_t *ctx, hr_run_t *run);

/* Release everything; a file still open (a failure before the problem
 * loop) is closed and removed unless --resume brought rows into it.
 * Collective when a file is open. */
void hr_run_free(hr_run_t *run);

/* After hr_run_finish: rank 0 reads the finished file back and prints one
 * line per spectrum (extremes, mean spacing ratio, numerical rank, and the
 * largest error against exact if given), then the statistics of `hessrmt
 * stats` unless --no-stats.  Spectra the statistics cannot use (too few
 * levels above the cut) give a warning, not an error: the file is whole.
 * Collective. */
int hr_run_report(const hr_ctx_t *ctx, const hr_run_t *run, const double *exact);

#endif
