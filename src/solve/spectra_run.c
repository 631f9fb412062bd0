/* The shared spectra-run machinery (see spectra_run.h). */
#include "hessrmt/spectra_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/memory.h"
#include "hessrmt/output.h"
#include "hessrmt/provenance.h"
#include "hessrmt/signals.h"
#include "hessrmt/stats.h"

/* ---- layout ----------------------------------------------------------------- */

/* Describe every group's grid shape (groups may differ by one rank) and
 * return the largest grid dimension over all groups.  Collective. */
static int describe_grids(const hr_ctx_t *ctx, hr_run_t *run, int nprow,
                          int npcol, int *pmax_all) {
  int mine[3] = {run->groups.index, nprow, npcol};
  int *all = malloc((size_t)ctx->size * 3 * sizeof *all);
  HR_CHECK(hr_agree(ctx->world, all ? HR_OK : HR_ERR_MEMORY));
  HR_MPI(MPI_Allgather(mine, 3, MPI_INT, all, 3, MPI_INT, ctx->world));
  char shape[32], first[32] = "";
  size_t used = 0;
  int uniform = 1;
  *pmax_all = 1;
  for (int g = 0; g < run->groups.count; g++) {
    int r = 0;
    while (all[3 * r] != g) r++;  /* the first rank of group g */
    int pr = all[3 * r + 1], pc = all[3 * r + 2];
    if (pr > *pmax_all) *pmax_all = pr;
    if (pc > *pmax_all) *pmax_all = pc;
    snprintf(shape, sizeof shape, "%dx%d", pr, pc);
    if (g == 0) snprintf(first, sizeof first, "%s", shape);
    uniform &= strcmp(shape, first) == 0;
    if (used + strlen(shape) + 2 < sizeof run->grid_desc)
      used += (size_t)snprintf(run->grid_desc + used,
                               sizeof run->grid_desc - used, "%s%s",
                               g ? "," : "", shape);
  }
  if (uniform) snprintf(run->grid_desc, sizeof run->grid_desc, "%s", first);
  free(all);
  return HR_OK;
}

void hr_run_init(hr_run_t *run) {
  memset(run, 0, sizeof *run);
  run->groups.comm = run->groups.leaders = MPI_COMM_NULL;
  run->grid.comm = MPI_COMM_NULL;
}

int hr_run_layout(hr_ctx_t *ctx, int64_t n, hr_run_t *run) {
  const hr_run_settings_t *o = &run->set;
  run->n = n;
  int groups = o->groups ? (int)o->groups
                          : run->groups_auto > 0 ? run->groups_auto : 1;
  HR_CHECK(hr_agree(ctx->world, hr_groups_split(ctx->world, groups,
                                                &run->groups)));
  /* One choice for all groups (their sizes differ by at most one). */
  int largest = (ctx->size + run->groups.count - 1) / run->groups.count;
  run->solver = hr_eigensolver_resolve(o->solver, o->precision, &ctx->caps,
                                       largest, o->eigenvectors > 0,
                                       &run->solver_note);
  int nprow = 0, npcol = 0;
  int rc = hr_grid_resolve_shape(run->groups.size, o->grid_rows, o->grid_cols,
                                 &nprow, &npcol);
  if (rc == HR_OK && n < run->groups.size)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "N = %lld is smaller than the %d ranks of a group: "
                      "every rank must own part of the matrix; use fewer "
                      "ranks or more --groups",
                      (long long)n, run->groups.size);
  HR_CHECK(hr_agree(ctx->world, rc));
  run->evec_k = o->eigenvectors;
  if (rc == HR_OK && run->evec_k && 2 * run->evec_k > n)
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--eigenvectors %lld asks for %lld vectors, but the "
                      "matrices have order %lld", (long long)run->evec_k,
                      (long long)(2 * run->evec_k), (long long)n);
  if (rc == HR_OK && run->evec_k && o->precision != HR_PRECISION_DOUBLE)
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--eigenvectors needs --precision double");
  HR_CHECK(hr_agree(ctx->world, rc));
  int pmax = 1;
  HR_CHECK(describe_grids(ctx, run, nprow, npcol, &pmax));
  run->nblk = o->nblk ? o->nblk
                      : hr_eigensolver_default_nblk(run->solver, n, 1, pmax);
  rc = hr_eigensolver_check_nblk(run->solver, n, run->nblk, nprow, npcol);
  HR_CHECK(hr_agree(ctx->world, rc));
  return hr_agree(ctx->world,
                  hr_grid_create(run->groups.comm, nprow, npcol, &run->grid));
}

static int64_t need_everywhere(hr_ctx_t *ctx, const hr_run_t *run,
                               hr_need_fn fn, const void *user,
                               char *breakdown, size_t len) {
  int64_t need = fn(ctx, run, user, breakdown, len);
  int64_t vectors = hr_run_vectors_bytes(run, run->n);
  if (vectors) {
    char b[32];
    size_t used = strlen(breakdown);
    snprintf(breakdown + used, len > used ? len - used : 0,
             "; --eigenvectors: %s more (the vector matrix, workspace)",
             hr_format_bytes((double)vectors, b, sizeof b));
    need += vectors;
  }
  MPI_Allreduce(MPI_IN_PLACE, &need, 1, MPI_INT64_T, MPI_MAX, ctx->world);
  return need;
}

int hr_run_plan_memory(hr_ctx_t *ctx, hr_run_t *run, hr_need_fn fn,
                       const void *user, int64_t *need, char *breakdown,
                       size_t len) {
  HR_CHECK(hr_memory_limit(ctx->world, run->set.max_mem, &run->mem_limit));
  *need = need_everywhere(ctx, run, fn, user, breakdown, len);
  /* With eigenvectors there is no lean solve: pdsyev's vectors take its
   * QR iteration, 11x ELPA's time. */
  if (run->set.solver != HR_SOLVER_AUTO || run->solver != HR_SOLVER_ELPA2 ||
      *need <= run->mem_limit || run->evec_k)
    return HR_OK;
  /* ELPA's eigenvalues-only solve still allocates an eigenvector matrix;
   * pdsyev (pdsytrd, then dsterf) needs only O(N nb) beside the matrix. */
  run->solver = HR_SOLVER_PDSYEV;
  char lean_breakdown[512];
  int64_t lean = need_everywhere(ctx, run, fn, user, lean_breakdown,
                                 sizeof lean_breakdown);
  if (lean >= *need) {
    run->solver = HR_SOLVER_ELPA2;
    return HR_OK;
  }
  char a[32], b[32];
  snprintf(run->note_buf, sizeof run->note_buf, "--solver auto: ELPA 2-stage "
           "would need ~%s per rank, over the %s limit; solving with the lean "
           "pdsyev instead", hr_format_bytes((double)*need, a, sizeof a),
           hr_format_bytes((double)run->mem_limit, b, sizeof b));
  run->solver_note = run->note_buf;
  *need = lean;
  snprintf(breakdown, len, "%s", lean_breakdown);
  return HR_OK;
}

int hr_run_check_memory(hr_ctx_t *ctx, hr_run_t *run, int64_t need,
                        const char *breakdown) {
  HR_CHECK(hr_memory_limit(ctx->world, run->set.max_mem, &run->mem_limit));
  run->mem_need = need;
  MPI_Allreduce(MPI_IN_PLACE, &run->mem_need, 1, MPI_INT64_T, MPI_MAX, ctx->world);
  return hr_memory_check(ctx->world, need, run->mem_limit, breakdown);
}

void hr_run_print_plan(const hr_ctx_t *ctx, const hr_run_t *run,
                       const char *what, int64_t need) {
  if (ctx->rank != 0 || run->set.quiet) return;
  char a[32], b[32], blas[128] = "unknown";
  if (ctx->blas) hr_blas_core_describe(ctx->blas, blas, sizeof blas);
  fprintf(stderr,
          "hessrmt %s: %s | %d rank%s in %d group%s, grid %s, nblk %lld | "
          "%s (%s) | memory ~%s of %s per rank | BLAS core %s\n",
          run->set.command, what, ctx->size, ctx->size == 1 ? "" : "s",
          run->groups.count, run->groups.count == 1 ? "" : "s",
          run->grid_desc, (long long)run->nblk,
          hr_solver_name(run->solver),
          hr_precision_name(run->set.precision),
          hr_format_bytes((double)need, a, sizeof a),
          hr_format_bytes((double)run->mem_limit, b, sizeof b), blas);
  if (run->solver_note) fprintf(stderr, "hessrmt: note: %s\n", run->solver_note);
}

int64_t hr_run_nblk_for(const hr_run_t *run, int64_t n) {
  if (hr_eigensolver_check_nblk(run->solver, n, run->nblk, run->grid.nprow,
                                run->grid.npcol) == HR_OK)
    return run->nblk;
  hr_error_clear();
  return hr_eigensolver_default_nblk(run->solver, n, run->grid.nprow,
                                     run->grid.npcol);
}

/* ---- the file ------------------------------------------------------------ */

int hr_run_open(hr_ctx_t *ctx, hr_run_t *run, int64_t count,
                const char *const *checks, int nchecks) {
  const hr_run_settings_t *o = &run->set;
  hr_precision_t prec = o->precision;
  if (run->with_stats)
    HR_CHECK(hr_stats_check_outputs(ctx->world, run->stats.json, run->stats.plots));
  run->count = count;
  run->done = calloc((size_t)(count > 0 ? count : 1), 1);
  int rc = HR_OK;
  if (run->evec_k) {
    int64_t k2 = 2 * run->evec_k;
    run->evec_extra = hr_spectra_extras_add(&run->extras, "hessian_evecs", k2,
                                            run->n);
    if (run->evec_extra < 0 ||
        hr_spectra_extras_add(&run->extras, "checks/evec_residual", 1, k2) < 0)
      rc = HR_ERR_INTERNAL;
    run->vectors = malloc((size_t)(run->n * k2) * sizeof *run->vectors);
    run->applied = calloc((size_t)(run->n * k2), sizeof *run->applied);
    if (rc == HR_OK && (!run->vectors || !run->applied))
      rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__, "out of "
                        "memory for %lld eigenvectors", (long long)k2);
  }
  int64_t per_row = hr_spectra_extras_offset(&run->extras, run->extras.count);
  if (per_row) run->extra = malloc((size_t)per_row * sizeof *run->extra);
  if (rc == HR_OK && (!run->done || (per_row && !run->extra)))
    rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                      "out of memory for the run's rows");
  HR_CHECK(hr_agree(ctx->world, rc));
  int resume = o->resume != 0;
  if (resume) {
    /* A run killed before its file existed, or before its structure
     * reached the disk, finished nothing: start again rather than refuse
     * (a requeued job can always pass --resume). */
    char partial[4096];
    HR_CHECK(hr_agree(ctx->world, hr_output_partial_path(o->output, partial,
                                                         sizeof partial)));
    int usable = 0, had_partial = hr_output_exists(ctx->world, partial);
    if (had_partial)
      HR_CHECK(hr_spectra_partial_usable(ctx->world, partial, &usable));
    else if (hr_output_exists(ctx->world, o->output))
      HR_CHECK(hr_agree(ctx->world, hr_error_set(
          HR_ERR_INPUT, __FILE__, __LINE__, __func__, "--resume: '%s' is "
          "already complete and there is no '%s' to continue; run without "
          "--resume to compute it again", o->output, partial)));
    if (!usable) {
      if (ctx->rank == 0)
        fprintf(stderr, "hessrmt: note: --resume: %s '%s'; starting from the "
                "beginning\n", had_partial ? "nothing was recorded in"
                                            : "there is no", partial);
      resume = 0;
    }
  }
  if (resume) {
    const char *identity = ctx->provenance->identity;
    HR_CHECK(hr_spectra_open_resume(ctx->world, o->output, count, run->n, prec,
                                    checks, nchecks, &run->extras, identity,
                                    &run->file));
    run->file_open = 1;
    HR_CHECK(hr_spectra_read_done(&run->file, run->done));
    if (ctx->rank == 0) {
      int64_t kept = 0;
      for (int64_t k = 0; k < count; k++) kept += run->done[k];
      printf("resuming '%s': %lld of %lld spectra are finished and kept\n",
             run->file.partial, (long long)kept, (long long)count);
      fflush(stdout);
    }
    return HR_OK;
  }
  HR_CHECK(hr_spectra_create(ctx->world, o->output, count, run->n, prec,
                             checks, nchecks, &run->extras, &run->file));
  run->file_open = 1;
  HR_CHECK(hr_provenance_write(&run->file, ctx->provenance, ctx->size, ctx->blas));
  /* Structure and provenance on disk before any row: a killed run then
   * leaves a readable file whose rows_done says what was finished. */
  return hr_spectra_flush(&run->file);
}

/* ---- the problems ---------------------------------------------------------- */

/* The self-checks, the refusal of non-finite entries and the exact
 * power-of-two scaling of hr_run_check_and_solve; *exponent undoes it. */
static int check_and_scale(hr_ctx_t *ctx, hr_dmat_t *a, double *trace,
                           double *asymmetry, int *exponent) {
  hr_timer_start(&ctx->timer, HR_PHASE_CHECK);
  int64_t bad = 0;
  int rc = hr_dmat_count_nonfinite(a, &bad);
  if (rc == HR_OK) rc = hr_dmat_trace(a, trace);
  if (rc == HR_OK && asymmetry) rc = hr_dmat_asymmetry(a, asymmetry);
  hr_timer_stop(&ctx->timer, HR_PHASE_CHECK);
  HR_CHECK(rc);
  /* ELPA and ScaLAPACK may diverge between ranks, and hang, on NaN or Inf;
   * the count is the same on every rank, so all stop here together. */
  if (bad > 0)
    HR_FAIL(HR_ERR_INPUT, "the %lld x %lld matrix has %lld NaN or infinite "
            "entries (overflow: are the data or weights far too large?)",
            (long long)a->n, (long long)a->n, (long long)bad);
  /* ELPA does not rescale: entries far from 1 overflow or underflow in its
   * norms (seen: a 1e275 feature made ranks disagree and hang).  Scaling by
   * a power of two near 1/max|a| is exact, as is undoing it. */
  double max_abs = 0;
  HR_CHECK(hr_dmat_max_abs(a, &max_abs));
  *exponent = 0;
  if (max_abs > 0x1p40 || (max_abs > 0 && max_abs < 0x1p-40)) {
    frexp(max_abs, exponent);
    hr_dmat_scale(a, ldexp(1.0, -*exponent));
  }
  return HR_OK;
}

int hr_run_check_and_solve(hr_ctx_t *ctx, const hr_run_t *run, hr_dmat_t *a,
                           double *evals, double *trace, double *asymmetry) {
  int exponent = 0;
  HR_CHECK(check_and_scale(ctx, a, trace, asymmetry, &exponent));
  hr_timer_start(&ctx->timer, HR_PHASE_SOLVE);
  int rc = hr_eigensolver_solve(run->solver, a, evals);
  hr_timer_stop(&ctx->timer, HR_PHASE_SOLVE);
  if (rc == HR_OK && exponent != 0)
    for (int64_t i = 0; i < a->n; i++) evals[i] = ldexp(evals[i], exponent);
  return rc;
}

int64_t hr_run_vector_index(const hr_run_t *run, int64_t j) {
  return j < run->evec_k ? j : run->n - 2 * run->evec_k + j;
}

/* An eigenvector's sign is arbitrary; fixing it makes files comparable
 * across solvers, grids and rank counts: the first component within a
 * relative 1e-6 of the largest magnitude is made positive (a tolerance,
 * because symmetric vectors have equal largest components that rounding
 * would otherwise pick between). */
static void fix_signs(double *V, int64_t n, int64_t k) {
  for (int64_t d = 0; d < k; d++) {
    double *v = V + d * n, big = 0;
    for (int64_t i = 0; i < n; i++) big = fmax(big, fabs(v[i]));
    int64_t at = 0;
    while (at < n - 1 && fabs(v[at]) < big * (1 - 1e-6)) at++;
    if (v[at] < 0)
      for (int64_t i = 0; i < n; i++) v[i] = -v[i];
  }
}

int hr_run_check_and_solve_vectors(hr_ctx_t *ctx, const hr_run_t *run,
                                   hr_dmat_t *a, double *evals, double *trace,
                                   double *asymmetry) {
  int exponent = 0;
  HR_CHECK(check_and_scale(ctx, a, trace, asymmetry, &exponent));
  hr_dmat_t z;
  int rc = hr_dmat_create(a->grid, a->n, a->n, a->nb, HR_PRECISION_DOUBLE, &z);
  HR_CHECK(hr_agree(a->grid->comm, rc));
  hr_timer_start(&ctx->timer, HR_PHASE_SOLVE);
  rc = hr_eigensolver_solve_vectors(run->solver, a, evals, &z);
  hr_timer_stop(&ctx->timer, HR_PHASE_SOLVE);
  int64_t k2 = 2 * run->evec_k, cols[2 * 4096];
  if (rc == HR_OK && exponent != 0)
    for (int64_t i = 0; i < a->n; i++) evals[i] = ldexp(evals[i], exponent);
  /* the columns in runs of at most 4096 */
  for (int64_t d0 = 0; d0 < k2 && rc == HR_OK; d0 += 2 * 4096) {
    int64_t len = k2 - d0 < 2 * 4096 ? k2 - d0 : 2 * 4096;
    for (int64_t d = 0; d < len; d++) cols[d] = hr_run_vector_index(run, d0 + d);
    rc = hr_dmat_gather_columns(&z, cols, len, run->vectors + d0 * a->n);
  }
  hr_dmat_free(&z);
  if (rc == HR_OK) fix_signs(run->vectors, a->n, k2);
  return rc;
}

int64_t hr_run_vectors_bytes(const hr_run_t *run, int64_t n) {
  if (!run->evec_k) return 0;
  int64_t z = hr_dmat_local_bytes(n, n, run->nblk, HR_PRECISION_DOUBLE, &run->grid);
  int64_t more = hr_eigensolver_vectors_workspace_bytes(run->solver, n, run->nblk,
                                                        &run->grid) -
                 hr_eigensolver_workspace_bytes(run->solver, n, run->nblk,
                                                HR_PRECISION_DOUBLE, &run->grid);
  /* vectors, their products, and the row's copy in the extras */
  return z + (more > 0 ? more : 0) + 3 * n * 2 * run->evec_k * 8;
}

int hr_run_apply_lower(const hr_run_t *run, const hr_dmat_t *a) {
  int64_t m = run->n * 2 * run->evec_k;
  memset(run->applied, 0, (size_t)m * sizeof *run->applied);
  hr_dmat_symv_lower(a, run->vectors, 2 * run->evec_k, run->applied);
  return hr_comm_sum_doubles(a->grid->comm, run->applied, m);
}

int hr_run_vector_extras(hr_run_t *run, const double *evals) {
  if (!run->evec_k) return HR_OK;
  int rc = HR_OK;
  if (run->grid.rank == 0) {
    int64_t n = run->n, k2 = 2 * run->evec_k;
    const hr_spectra_extras_t *x = &run->extras;
    double *out = run->extra + hr_spectra_extras_offset(x, run->evec_extra);
    double *res = run->extra + hr_spectra_extras_offset(x, run->evec_extra + 1);
    memcpy(out, run->vectors, (size_t)(n * k2) * sizeof *out);
    double scale = fmax(fabs(evals[0]), fabs(evals[n - 1])), worst = 0;
    for (int64_t d = 0; d < k2; d++) {
      double lambda = evals[hr_run_vector_index(run, d)], sum = 0;
      for (int64_t i = 0; i < n; i++) {
        double r = run->applied[d * n + i] - lambda * run->vectors[d * n + i];
        sum += r * r;
      }
      res[d] = sqrt(sum);
      worst = fmax(worst, res[d]);
    }
    /* A solver's vectors are checked, not trusted: ELPA's AVX2 kernels in
     * Debian's build return vectors this catches (residual ~ max |l|). */
    if (!(worst <= HR_RUN_RESIDUAL_MAX * scale) && scale > 0)
      rc = hr_error_set(HR_ERR_SOLVER, __FILE__, __LINE__, __func__,
                        "%s returned eigenvectors that fail their check: |A v "
                        "- l v| = %.3g max|l| (at most %.0e allowed); if "
                        "ELPA_DEFAULT_real_kernel is set, unset it, or use "
                        "another --solver", hr_solver_name(run->solver),
                        worst / scale, HR_RUN_RESIDUAL_MAX);
  }
  return hr_agree(run->grid.comm, rc);
}

/* Progress of group 0, reported by rank 0: groups get equal shares of
 * the problems round-robin, so group 0's pace times its remaining share is
 * the job's ETA (exact with one group).  A bar on a terminal, one plain
 * line per spectrum in a batch log. */
typedef struct {
  double start;          /* wall time of the first problem */
  int64_t solved;        /* solved in this run (not skipped by --resume) */
  double solving;        /* seconds spent on them */
  int open_line;         /* a terminal bar without its newline yet */
} progress_t;

static void format_duration(double s, char *buf, size_t len) {
  s = round(s);  /* else 119.6 s would print as 1m60s */
  if (s < 90) snprintf(buf, len, "%.0fs", s);
  else if (s < 5400) snprintf(buf, len, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
  else snprintf(buf, len, "%.0fh%02.0fm", floor(s / 3600), fmod(s / 60, 60));
}

static void report_progress(const hr_ctx_t *ctx, const hr_run_t *run,
                            progress_t *p, int64_t finished, int64_t mine,
                            double seconds) {
  p->solved++;
  p->solving += seconds;
  if (run->set.quiet || ctx->rank != 0) return;
  double mean = p->solving / (double)p->solved;
  char eta[32], elapsed[32];
  format_duration(mean * (double)(mine - finished), eta, sizeof eta);
  format_duration(MPI_Wtime() - p->start, elapsed, sizeof elapsed);
  char where[64] = "";
  if (run->groups.count > 1)
    snprintf(where, sizeof where, " of group 0 (1 of %d groups)", run->groups.count);
  if (isatty(fileno(stderr))) {
    enum { WIDTH = 24 };
    char bar[WIDTH + 1];
    int full = (int)((double)WIDTH * (double)finished / (double)(mine ? mine : 1));
    for (int i = 0; i < WIDTH; i++) bar[i] = i < full ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\rhessrmt: [%s] %lld/%lld spectra%s, %.2f s each, elapsed "
            "%s, ETA %s   %s", bar, (long long)finished, (long long)mine, where,
            mean, elapsed, eta, finished == mine ? "\n" : "");
    p->open_line = finished != mine;
  } else {
    fprintf(stderr, "hessrmt: %lld/%lld spectra%s done; last %.2f s, mean %.2f s; "
            "elapsed %s, ETA %s\n", (long long)finished, (long long)mine, where,
            seconds, mean, elapsed, eta);
  }
  fflush(stderr);
}

/* The row's writer records how far its checks are from exact. */
static void note_checks(hr_run_t *run, const double *evals,
                        const double *checks) {
  double trace = checks[HR_RUN_CHECK_TRACE], asym = checks[HR_RUN_CHECK_ASYM];
  double scale = fmax(fabs(trace), fabs(evals[run->n - 1]) + fabs(evals[0]));
  if (!isnan(trace) && scale > 0)
    run->worst_trace_error = fmax(run->worst_trace_error,
                                  fabs(trace - checks[HR_RUN_CHECK_EVSUM]) / scale);
  if (!isnan(asym)) run->worst_asymmetry = fmax(run->worst_asymmetry, asym);
}

static int solve_and_write(hr_ctx_t *ctx, hr_run_t *run, int64_t k,
                           hr_problem_fn fn, void *user, double *evals,
                           double *checks) {
  HR_CHECK(fn(ctx, run, k, evals, checks, user));
  if (run->grid.rank == 0) {
    double sum = 0.0;
    for (int64_t i = 0; i < run->n; i++) sum += evals[i];
    checks[HR_RUN_CHECK_EVSUM] = sum;
    note_checks(run, evals, checks);
  }
  hr_timer_start(&ctx->timer, HR_PHASE_WRITE);
  int rc = run->grid.rank == 0
               ? hr_spectra_write_row(&run->file, k, evals, checks, run->extra)
               : HR_OK;
  hr_timer_stop(&ctx->timer, HR_PHASE_WRITE);
  return hr_agree(run->grid.comm, rc);
}

/* This group's problems; returns how many rows it wrote in *written. */
static int group_loop(hr_ctx_t *ctx, hr_run_t *run, hr_problem_fn fn,
                      void *user, int64_t *written) {
  int64_t mine = hr_groups_problem_count(run->count, run->groups.index,
                                         run->groups.count);
  double *evals = malloc((size_t)run->n * sizeof *evals);
  double checks[HR_SPECTRA_MAX_CHECKS];
  int rc = hr_agree(run->grid.comm, evals ? HR_OK : HR_ERR_MEMORY);
  int64_t finished = 0;
  progress_t progress = {MPI_Wtime(), 0, 0.0, 0};
  for (int64_t k = run->groups.index; k < run->count && rc == HR_OK;
       k += run->groups.count) {
    finished++;
    if (run->done[k]) continue;
    /* The safe point: nothing of spectrum k exists yet. */
    int signo = hr_signal_received(run->grid.comm);
    if (signo) {
      rc = hr_error_set(HR_ERR_STOPPED, __FILE__, __LINE__, __func__, "%s",
                        hr_signal_name(signo));
      break;
    }
    double t0 = MPI_Wtime();
    for (int i = 0; i < HR_SPECTRA_MAX_CHECKS; i++) checks[i] = NAN;
    rc = solve_and_write(ctx, run, k, fn, user, evals, checks);
    if (rc == HR_OK) {
      if (run->grid.rank == 0) ++*written;
      report_progress(ctx, run, &progress, finished, mine, MPI_Wtime() - t0);
    }
  }
  /* The last rows were done before (--resume): end the bar's line. */
  if (progress.open_line) fprintf(stderr, "\n");
  free(evals);
  return rc;
}

int hr_run_problems(hr_ctx_t *ctx, hr_run_t *run, hr_problem_fn fn,
                    void *user) {
  int64_t written = 0, kept = 0;
  hr_signals_install();  /* a time limit now stops at the next spectrum */
  /* A group that fails stops; the others finish their share and meet it
   * here, so no rank waits on a group that has gone. */
  int rc = hr_agree(ctx->world, group_loop(ctx, run, fn, user, &written));
  if (rc == HR_OK) return HR_OK;
  for (int64_t k = 0; k < run->count; k++) kept += run->done[k];
  MPI_Allreduce(MPI_IN_PLACE, &written, 1, MPI_INT64_T, MPI_SUM, ctx->world);
  /* Finished rows stay in FILE.partial for --resume; a file without any
   * is removed, so a failed run leaves nothing behind. */
  hr_spectra_abandon(&run->file, written + kept > 0);
  run->file_open = 0;
  if (rc == HR_ERR_STOPPED) {
    int signo = hr_signal_received(ctx->world);
    rc = hr_error_set(HR_ERR_STOPPED, __FILE__, __LINE__, __func__,
                      "%s: %lld of %lld spectra are finished in %s.partial; "
                      "run the same command with --resume to continue",
                      hr_signal_name(signo), (long long)(written + kept),
                      (long long)run->count, run->set.output);
    return hr_agree(ctx->world, rc);
  }
  return rc;
}

/* ---- finishing ------------------------------------------------------------- */

static int write_layout(hr_ctx_t *ctx, hr_run_t *run,
                        hr_timing_summary_t *times) {
  HR_CHECK(hr_spectra_attr_string(&run->file, NULL, "grid", run->grid_desc));
  HR_CHECK(hr_spectra_attr_string(&run->file, NULL, "solver_used",
                                  hr_solver_name(run->solver)));
  HR_CHECK(hr_spectra_attr_int(&run->file, "nblk", run->nblk));
  HR_CHECK(hr_spectra_attr_int(&run->file, "groups", run->groups.count));
  HR_CHECK(hr_spectra_attr_int(&run->file, "n", run->n));
  /* Measured against estimated memory, both the largest over ranks. */
  int64_t peak = hr_memory_peak_bytes();
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, &peak, 1, MPI_INT64_T, MPI_MAX, ctx->world));
  HR_CHECK(hr_spectra_attr_int(&run->file, "peak_rss_bytes_max", peak));
  HR_CHECK(hr_spectra_attr_int(&run->file, "memory_estimate_bytes_max",
                               run->mem_need));
  /* The self-checks at a glance; per-row values are in /checks. */
  double worst[2] = {run->worst_trace_error, run->worst_asymmetry};
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, worst, 2, MPI_DOUBLE, MPI_MAX, ctx->world));
  HR_CHECK(hr_spectra_attr_double(&run->file, "check_trace_error_max", worst[0]));
  HR_CHECK(hr_spectra_attr_double(&run->file, "check_asymmetry_max", worst[1]));
  HR_CHECK(hr_provenance_write_timings(&run->file, times));
  return HR_OK;
}

int hr_run_finish(hr_ctx_t *ctx, hr_run_t *run) {
  hr_timer_stop(&ctx->timer, HR_PHASE_TOTAL);
  hr_timing_summary_t times;
  HR_CHECK(hr_timer_summarize(&ctx->timer, ctx->world, &times));
  int rc = hr_spectra_check_closing_room(&run->file);
  if (rc == HR_OK) rc = write_layout(ctx, run, &times);
  if (rc == HR_OK) rc = hr_spectra_commit(&run->file);
  if (rc != HR_OK) hr_spectra_abandon(&run->file, 1);
  run->file_open = 0;
  HR_CHECK(rc);
  if (ctx->rank == 0 && !run->set.quiet)
    hr_timer_print(&times, ctx->size, stdout);
  return HR_OK;
}

void hr_run_free(hr_run_t *run) {
  /* Still open only after a failure before any row was written in this
   * run: keep the file only if --resume brought earlier rows into it. */
  if (run->file_open) hr_spectra_abandon(&run->file, run->set.resume);
  run->file_open = 0;
  free(run->done);
  run->done = NULL;
  free(run->extra);
  free(run->vectors);
  free(run->applied);
  run->extra = run->vectors = run->applied = NULL;
  hr_grid_free(&run->grid);
  hr_groups_free(&run->groups);
}
