/* hessrmt ensemble: spectra of random-matrix ensembles and of the analytic
 * tridiagonal matrix, generated in the distributed layout, dealt to rank
 * groups, solved, and written row by row into a spectra file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/context.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/error.h"
#include "hessrmt/grid.h"
#include "hessrmt/memory.h"
#include "hessrmt/provenance.h"
#include "hessrmt/rmt.h"
#include "hessrmt/spectra_file.h"
#include "hessrmt/spectra_read.h"

/* Per-row self-checks stored under /checks. */
static const char *const check_names[] = {"trace", "eigenvalue_sum",
                                          "asymmetry"};
enum { CHECK_TRACE, CHECK_EVSUM, CHECK_ASYM, N_CHECKS };

typedef struct {
  hr_ensemble_t ens;
  hr_groups_t groups;
  hr_grid_t grid;
  char grid_desc[256];      /* "2x2", or one shape per group: "1x2,1x1" */
  hr_solver_t solver;       /* the one that runs (see hr_eigensolver_resolve) */
  const char *solver_note;  /* why it differs from --solver, or NULL */
  int64_t nblk;
  int64_t mem_need, mem_limit;
} plan_t;

static void plan_init(plan_t *p) {
  memset(p, 0, sizeof *p);
  p->groups.comm = p->groups.leaders = MPI_COMM_NULL;
  p->grid.comm = MPI_COMM_NULL;
}

static void plan_free(plan_t *p) {
  hr_grid_free(&p->grid);
  hr_groups_free(&p->groups);
}

/* Describe every group's grid shape (groups may differ by one rank) and
 * return the largest grid dimension over all groups.  Collective. */
static int describe_grids(const hr_ctx_t *ctx, plan_t *p, int nprow, int npcol,
                          int *pmax_all) {
  int mine[3] = {p->groups.index, nprow, npcol};
  int *all = malloc((size_t)ctx->size * 3 * sizeof *all);
  HR_CHECK(hr_agree(ctx->world, all ? HR_OK : HR_ERR_MEMORY));
  HR_MPI(MPI_Allgather(mine, 3, MPI_INT, all, 3, MPI_INT, ctx->world));
  char shape[32], first[32] = "";
  size_t used = 0;
  int uniform = 1;
  *pmax_all = 1;
  for (int g = 0; g < p->groups.count; g++) {
    int r = 0;
    while (all[3 * r] != g) r++;  /* the first rank of group g */
    int pr = all[3 * r + 1], pc = all[3 * r + 2];
    if (pr > *pmax_all) *pmax_all = pr;
    if (pc > *pmax_all) *pmax_all = pc;
    snprintf(shape, sizeof shape, "%dx%d", pr, pc);
    if (g == 0) snprintf(first, sizeof first, "%s", shape);
    uniform &= strcmp(shape, first) == 0;
    if (used + strlen(shape) + 2 < sizeof p->grid_desc)
      used += (size_t)snprintf(p->grid_desc + used, sizeof p->grid_desc - used,
                               "%s%s", g ? "," : "", shape);
  }
  if (uniform) snprintf(p->grid_desc, sizeof p->grid_desc, "%s", first);
  free(all);
  return HR_OK;
}

/* Groups, grid shapes and one block size for all groups; every check is
 * agreed on world. */
static int make_layout(const hr_ctx_t *ctx, plan_t *p) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(hr_agree(ctx->world, hr_groups_split(ctx->world, (int)o->groups,
                                                &p->groups)));
  p->solver = hr_eigensolver_resolve((hr_solver_t)o->solver,
                                     (hr_precision_t)o->precision, &ctx->caps,
                                     &p->solver_note);
  int nprow = 0, npcol = 0;
  int rc = hr_grid_resolve_shape(p->groups.size, o->grid_rows, o->grid_cols,
                                 &nprow, &npcol);
  if (rc == HR_OK && o->n < p->groups.size)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "N = %lld is smaller than the %d ranks of a group: "
                      "every rank must own part of the matrix; use fewer "
                      "ranks or more --groups",
                      (long long)o->n, p->groups.size);
  HR_CHECK(hr_agree(ctx->world, rc));
  int pmax = 1;
  HR_CHECK(describe_grids(ctx, p, nprow, npcol, &pmax));
  p->nblk = o->nblk ? o->nblk
                    : hr_eigensolver_default_nblk(p->solver, o->n, 1, pmax);
  rc = hr_eigensolver_check_nblk(p->solver, o->n, p->nblk, nprow, npcol);
  HR_CHECK(hr_agree(ctx->world, rc));
  HR_CHECK(hr_agree(ctx->world, hr_grid_create(p->groups.comm, nprow, npcol,
                                               &p->grid)));
  return HR_OK;
}

static int check_memory(const hr_ctx_t *ctx, plan_t *p) {
  const hr_options_t *o = ctx->opts;
  hr_precision_t prec = (hr_precision_t)o->precision;
  int64_t matrix = hr_dmat_local_bytes(o->n, o->n, p->nblk, prec, &p->grid);
  int64_t solver = hr_eigensolver_workspace_bytes(p->solver, o->n, p->nblk,
                                                  prec, &p->grid);
  int64_t extra = hr_ensemble_extra_bytes(&p->ens, p->nblk, &p->grid);
  int64_t vectors = 2 * o->n * (int64_t)sizeof(double);
  /* The asymmetry check holds a transposed copy beside the matrix. */
  p->mem_need = 2 * matrix + solver + extra + vectors;
  char a[32], b[32], c[32], breakdown[256];
  snprintf(breakdown, sizeof breakdown,
           "matrix and its check copy %s, solver workspace %s, generator %s",
           hr_format_bytes(2.0 * (double)matrix, a, sizeof a),
           hr_format_bytes((double)solver, b, sizeof b),
           hr_format_bytes((double)extra, c, sizeof c));
  HR_CHECK(hr_memory_limit(ctx->world, o->max_mem, &p->mem_limit));
  return hr_memory_check(ctx->world, p->mem_need, p->mem_limit, breakdown);
}

static void print_plan(const hr_ctx_t *ctx, const plan_t *p) {
  const hr_options_t *o = ctx->opts;
  if (ctx->rank != 0 || o->quiet) return;
  char kind[32], solver[32], prec[32], need[32], limit[32];
  fprintf(stderr,
          "hessrmt ensemble: %lld x %s matrices of order %lld | %d rank%s in "
          "%d group%s, grid %s, nblk %lld | %s (%s) | memory ~%s of %s "
          "per rank\n",
          (long long)o->count, hr_choice_name(HR_KIND_CHOICES, o->kind, kind, sizeof kind),
          (long long)o->n, ctx->size, ctx->size == 1 ? "" : "s",
          p->groups.count, p->groups.count == 1 ? "" : "s", p->grid_desc,
          (long long)p->nblk,
          hr_choice_name(HR_SOLVER_CHOICES, p->solver, solver, sizeof solver),
          hr_choice_name(HR_PRECISION_CHOICES, o->precision, prec, sizeof prec),
          hr_format_bytes((double)p->mem_need, need, sizeof need),
          hr_format_bytes((double)p->mem_limit, limit, sizeof limit));
  if (p->solver_note) fprintf(stderr, "hessrmt: note: %s\n", p->solver_note);
}

static int open_output(hr_ctx_t *ctx, hr_spectra_file_t *f,
                       unsigned char *done) {
  const hr_options_t *o = ctx->opts;
  hr_precision_t prec = (hr_precision_t)o->precision;
  if (o->resume) {
    char identity[4096];
    HR_CHECK(hr_provenance_identity(o, identity, sizeof identity));
    HR_CHECK(hr_spectra_open_resume(ctx->world, o->output, o->count, o->n,
                                    prec, check_names, N_CHECKS, identity, f));
    int rc = hr_spectra_read_done(f, done);
    if (rc != HR_OK) hr_spectra_abandon(f, 1);
    return rc;
  }
  HR_CHECK(hr_spectra_create(ctx->world, o->output, o->count, o->n, prec,
                             check_names, N_CHECKS, f));
  memset(done, 0, (size_t)o->count);
  int rc = hr_provenance_write(f, ctx);
  /* Structure and provenance on disk before any row: a killed run then
   * leaves a readable file whose rows_done says what was finished. */
  if (rc == HR_OK) rc = hr_spectra_flush(f);
  if (rc != HR_OK) hr_spectra_abandon(f, 0);
  return rc;
}

static void sort_ascending(double *v, int64_t n) {
  for (int64_t i = 1; i < n; i++) {  /* solvers return sorted: one pass */
    double x = v[i];
    int64_t j = i;
    while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
    v[j] = x;
  }
}

/* Generate, check and solve member k on this group's grid. */
static int solve_member(hr_ctx_t *ctx, plan_t *p, uint64_t k, double *evals,
                        double *checks) {
  const hr_options_t *o = ctx->opts;
  hr_dmat_t a;
  hr_timer_start(&ctx->timer, HR_PHASE_GENERATE);
  int rc = hr_dmat_create(&p->grid, o->n, o->n, p->nblk,
                          (hr_precision_t)o->precision, &a);
  HR_CHECK(hr_agree(p->grid.comm, rc));
  rc = hr_ensemble_generate(&p->ens, k, &a);
  hr_timer_stop(&ctx->timer, HR_PHASE_GENERATE);

  hr_timer_start(&ctx->timer, HR_PHASE_CHECK);
  if (rc == HR_OK) rc = hr_dmat_trace(&a, &checks[CHECK_TRACE]);
  if (rc == HR_OK) rc = hr_dmat_asymmetry(&a, &checks[CHECK_ASYM]);
  hr_timer_stop(&ctx->timer, HR_PHASE_CHECK);

  hr_timer_start(&ctx->timer, HR_PHASE_SOLVE);
  if (rc == HR_OK) rc = hr_eigensolver_solve(p->solver, &a, evals);
  hr_timer_stop(&ctx->timer, HR_PHASE_SOLVE);
  hr_dmat_free(&a);
  HR_CHECK(rc);

  sort_ascending(evals, o->n);
  double sum = 0.0;
  for (int64_t i = 0; i < o->n; i++) sum += evals[i];
  checks[CHECK_EVSUM] = sum;
  return HR_OK;
}

static void report_progress(const hr_ctx_t *ctx, const plan_t *p, uint64_t k,
                            int64_t finished, int64_t mine, double seconds) {
  if (ctx->opts->quiet || p->grid.rank != 0) return;
  fprintf(stderr, "hessrmt: group %d: matrix %llu done (%lld of %lld for "
          "this group) in %.2f s\n", p->groups.index, (unsigned long long)k,
          (long long)finished, (long long)mine, seconds);
}

/* This group's members: k = g, g + G, ... ; rows already done are skipped.
 * A failure stops this group only after its ranks agree on it. */
static int run_members(hr_ctx_t *ctx, plan_t *p, hr_spectra_file_t *f,
                       const unsigned char *done, int64_t *written) {
  const hr_options_t *o = ctx->opts;
  int64_t mine = hr_groups_problem_count(o->count, p->groups.index,
                                         p->groups.count);
  double *evals = malloc((size_t)o->n * sizeof *evals);
  int rc = evals ? HR_OK
                 : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                "out of memory for %lld eigenvalues",
                                (long long)o->n);
  rc = hr_agree(p->grid.comm, rc);
  int64_t finished = 0;
  for (int64_t k = p->groups.index; k < o->count && rc == HR_OK;
       k += p->groups.count) {
    finished++;
    if (done[k]) continue;
    double t0 = MPI_Wtime(), checks[N_CHECKS];
    rc = solve_member(ctx, p, (uint64_t)k, evals, checks);
    if (rc != HR_OK) break;
    hr_timer_start(&ctx->timer, HR_PHASE_WRITE);
    if (p->grid.rank == 0) rc = hr_spectra_write_row(f, k, evals, checks);
    rc = hr_agree(p->grid.comm, rc);
    hr_timer_stop(&ctx->timer, HR_PHASE_WRITE);
    if (rc == HR_OK && p->grid.rank == 0) ++*written;
    report_progress(ctx, p, (uint64_t)k, finished, mine, MPI_Wtime() - t0);
  }
  free(evals);
  return rc;
}

/* Rank 0 reads the finished file back and summarises each spectrum. */
static int print_summary(const hr_ctx_t *ctx, const plan_t *p) {
  const hr_options_t *o = ctx->opts;
  hr_spectra_t s;
  HR_CHECK(hr_spectra_load(o->output, "hessian_evals", &s));
  double *exact = malloc((size_t)s.cols * sizeof *exact);
  int have_exact = exact && hr_ensemble_exact_eigenvalues(&p->ens, exact);
  printf("wrote %s: hessian_evals %lld x %lld\n", o->output,
         (long long)s.rows, (long long)s.cols);
  printf("%6s %14s %14s %10s %9s%s\n", "row", "min eigval", "max eigval",
         "mean r~", "+/-", have_exact ? "   max |err|/max|exact|" : "");
  double pooled_sum = 0.0, pooled_w = 0.0;
  for (int64_t r = 0; r < s.rows; r++) {
    const double *v = s.values + r * s.cols;
    double mean, se;
    int64_t used;
    hr_spacing_ratio_mean(v, s.cols, &mean, &se, &used);
    if (used > 0) { pooled_sum += mean * (double)used; pooled_w += (double)used; }
    if (r >= 10 && r != s.rows - 1) continue;
    printf("%6lld %14.6g %14.6g %10.5f %9.5f", (long long)r, v[0],
           v[s.cols - 1], mean, se);
    if (have_exact) {
      double err = 0.0, scale = fabs(exact[s.cols - 1]);
      for (int64_t i = 0; i < s.cols; i++) err = fmax(err, fabs(v[i] - exact[i]));
      printf("   %.3e", err / scale);
    }
    printf("\n");
    if (r == 9 && s.rows > 11) printf("%6s\n", "...");
  }
  if (pooled_w > 0)
    printf("mean r~ over all spectra: %.5f (reference: Poisson 0.38629, GOE "
           "0.5307, GUE 0.5996)\n", pooled_sum / pooled_w);
  free(exact);
  hr_spectra_free(&s);
  return HR_OK;
}

/* Layout and timing attributes, then close and rename.  On failure the
 * partial file (all rows done) is kept. */
static int commit_file(hr_ctx_t *ctx, const plan_t *p, hr_spectra_file_t *f,
                       hr_timing_summary_t *times) {
  hr_timer_stop(&ctx->timer, HR_PHASE_TOTAL);
  HR_CHECK(hr_timer_summarize(&ctx->timer, ctx->world, times));
  int rc = hr_spectra_attr_string(f, NULL, "grid", p->grid_desc);
  char solver[32];
  hr_choice_name(HR_SOLVER_CHOICES, p->solver, solver, sizeof solver);
  if (rc == HR_OK) rc = hr_spectra_attr_string(f, NULL, "solver_used", solver);
  if (rc == HR_OK) rc = hr_spectra_attr_int(f, "nblk", p->nblk);
  if (rc == HR_OK) rc = hr_spectra_attr_int(f, "groups", p->groups.count);
  if (rc == HR_OK) rc = hr_spectra_attr_int(f, "n", ctx->opts->n);
  HR_CHECK(hr_agree(ctx->world, rc));
  HR_CHECK(hr_provenance_write_timings(f, times));
  return hr_spectra_commit(f);
}

static int finish(hr_ctx_t *ctx, const plan_t *p, hr_spectra_file_t *f) {
  hr_timing_summary_t times;
  int rc = commit_file(ctx, p, f, &times);
  if (rc != HR_OK) {
    hr_spectra_abandon(f, 1);
    return rc;
  }
  if (ctx->rank == 0) {
    rc = print_summary(ctx, p);
    if (!ctx->opts->quiet) hr_timer_print(&times, ctx->size, stdout);
  }
  return hr_agree(ctx->world, rc);
}

static int run(hr_ctx_t *ctx, plan_t *p) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(make_layout(ctx, p));
  HR_CHECK(check_memory(ctx, p));
  print_plan(ctx, p);

  unsigned char *done = calloc((size_t)o->count, 1);
  HR_CHECK(hr_agree(ctx->world, done ? HR_OK : HR_ERR_MEMORY));
  hr_spectra_file_t f;
  int rc = open_output(ctx, &f, done);
  if (rc != HR_OK) { free(done); return rc; }

  int64_t written = 0, kept = 0;
  rc = hr_agree(ctx->world, run_members(ctx, p, &f, done, &written));
  for (int64_t k = 0; k < o->count; k++) kept += done[k];
  free(done);
  if (rc != HR_OK) {
    /* Finished rows stay in FILE.partial for --resume; a file without any
     * is removed, so a failed run leaves nothing behind. */
    MPI_Allreduce(MPI_IN_PLACE, &written, 1, MPI_INT64_T, MPI_SUM, ctx->world);
    hr_spectra_abandon(&f, written + kept > 0);
    return rc;
  }
  rc = finish(ctx, p, &f);
  return rc;
}

int hr_cmd_ensemble(hr_ctx_t *ctx) {
  const hr_options_t *o = ctx->opts;
  plan_t p;
  plan_init(&p);
  p.ens = (hr_ensemble_t){(hr_kind_t)o->kind, o->n, (uint64_t)o->seed,
                          o->wishart_ratio};
  hr_timer_start(&ctx->timer, HR_PHASE_TOTAL);
  int rc = run(ctx, &p);
  plan_free(&p);
  return rc;
}
