/* hessrmt ensemble: spectra of random-matrix ensembles and of the analytic
 * tridiagonal matrix, generated in the distributed layout, dealt to rank
 * groups, solved, and written row by row into a spectra file. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>

#include "hessrmt/options.h"
#include "hessrmt/context.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/error.h"
#include "hessrmt/lapack.h"
#include "hessrmt/memory.h"
#include "hessrmt/spectra_run.h"

/* Per-row self-checks stored under /checks. */
static const char *const check_names[] = {"trace", "eigenvalue_sum",
                                          "asymmetry"};
enum { CHECK_TRACE = HR_RUN_CHECK_TRACE, CHECK_ASYM = HR_RUN_CHECK_ASYM,
       N_CHECKS = 3 };

static int64_t memory_need(const hr_ctx_t *ctx, const hr_run_t *run,
                           const void *user, char *breakdown, size_t len) {
  return hr_ensemble_memory(user, run->solver, run->nblk,
                            (hr_precision_t)ctx->opts->precision, &run->grid,
                            breakdown, len);
}

/* The flops of one member's solve, for --dry-run. */
static void print_flops(const hr_ctx_t *ctx, const hr_ensemble_t *e) {
  if (ctx->rank != 0 || ctx->opts->quiet) return;
  double n = (double)e->n;
  if (e->kind == HR_KIND_BETA)
    fprintf(stderr, "hessrmt ensemble: per member ~%.3g GFLOP (dsterf on the "
            "tridiagonal model, O(N^2)); %lld members\n", 30.0 * n * n / 1e9,
            (long long)ctx->opts->count);
  else
    fprintf(stderr, "hessrmt ensemble: per member ~%.3g GFLOP to solve "
            "((4/3) N^3); %lld members\n", 4.0 / 3.0 * n * n * n / 1e9,
            (long long)ctx->opts->count);
}

/* Kind beta: the tridiagonal model, solved by LAPACK's dsterf (O(N^2))
 * on the group's first rank, which alone writes the row; no distributed
 * matrix is needed. */
static int solve_beta_member(hr_ctx_t *ctx, hr_run_t *run, int64_t k,
                             double *evals, double *checks,
                             const hr_ensemble_t *e) {
  if (run->grid.rank != 0) return hr_agree(run->grid.comm, HR_OK);
  double *offd = malloc((size_t)(e->n > 1 ? e->n - 1 : 1) * sizeof *offd);
  int rc = offd ? HR_OK : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__,
                                       __func__, "out of memory for the "
                                       "tridiagonal model");
  hr_timer_start(&ctx->timer, HR_PHASE_GENERATE);
  if (rc == HR_OK) hr_ensemble_beta_tridiagonal(e, (uint64_t)k, evals, offd);
  hr_timer_stop(&ctx->timer, HR_PHASE_GENERATE);
  double trace = 0;
  for (int64_t i = 0; rc == HR_OK && i < e->n; i++) trace += evals[i];
  checks[CHECK_TRACE] = trace;
  checks[CHECK_ASYM] = NAN;  /* symmetric by construction: nothing to check */
  hr_timer_start(&ctx->timer, HR_PHASE_SOLVE);
  int n = (int)e->n, info = 0;
  if (rc == HR_OK) dsterf_(&n, evals, offd, &info);
  hr_timer_stop(&ctx->timer, HR_PHASE_SOLVE);
  if (rc == HR_OK && info != 0)
    rc = hr_error_set(HR_ERR_SOLVER, __FILE__, __LINE__, __func__,
                      "dsterf failed on member %lld (info %d)", (long long)k,
                      info);
  free(offd);
  return hr_agree(run->grid.comm, rc);
}

/* Generate, check and solve member k on this group's grid. */
static int solve_member(hr_ctx_t *ctx, hr_run_t *run, int64_t k, double *evals,
                        double *checks, void *user) {
  const hr_ensemble_t *e = user;
  if (e->kind == HR_KIND_BETA)
    return solve_beta_member(ctx, run, k, evals, checks, e);
  hr_dmat_t a;
  hr_timer_start(&ctx->timer, HR_PHASE_GENERATE);
  int rc = hr_dmat_create(&run->grid, e->n, e->n, run->nblk,
                          (hr_precision_t)ctx->opts->precision, &a);
  HR_CHECK(hr_agree(run->grid.comm, rc));
  rc = hr_ensemble_generate(e, (uint64_t)k, &a);
  hr_timer_stop(&ctx->timer, HR_PHASE_GENERATE);

  rc = hr_agree(run->grid.comm, rc);  /* before the collective checks */
  if (rc == HR_OK && !run->evec_k)
    rc = hr_run_check_and_solve(ctx, run, &a, evals, &checks[CHECK_TRACE],
                                &checks[CHECK_ASYM]);
  if (rc == HR_OK && run->evec_k) {
    rc = hr_run_check_and_solve_vectors(ctx, run, &a, evals,
                                        &checks[CHECK_TRACE], &checks[CHECK_ASYM]);
    /* The residuals against the member itself, generated again from its
     * stream (the solve destroyed it). */
    hr_timer_start(&ctx->timer, HR_PHASE_CHECK);
    if (rc == HR_OK) rc = hr_agree(run->grid.comm, hr_ensemble_generate(e, (uint64_t)k, &a));
    if (rc == HR_OK) rc = hr_run_apply_lower(run, &a);
    hr_timer_stop(&ctx->timer, HR_PHASE_CHECK);
    if (rc == HR_OK) rc = hr_run_vector_extras(run, evals);
  }
  hr_dmat_free(&a);
  return rc;
}

/* The gp-loss options shape only that kind: given with another one they
 * would be silently ignored, so they are refused.  An option is noticed by
 * a value other than its default (options.c). */
static int check_gp_options(const hr_options_t *o) {
  if (o->kind == HR_KIND_GP_LOSS) return HR_OK;
  const struct { const char *name; int given; } gp[] = {
    {"--gp-a", o->gp_a != 1.0}, {"--gp-b", o->gp_b != 1.0},
    {"--degenerate", o->degenerate != 0.0}, {"--outliers", o->outliers != 0},
    {"--outlier-scale", o->outlier_scale != 10.0}};
  char kind[32];
  for (size_t i = 0; i < sizeof gp / sizeof gp[0]; i++)
    if (gp[i].given)
      HR_FAIL(HR_ERR_USAGE, "%s applies only with --kind gp-loss, not --kind "
              "%s (see 'hessrmt ensemble --help')", gp[i].name,
              hr_choice_name(HR_KIND_NAMES, o->kind, kind, sizeof kind));
  return HR_OK;
}

/* gp-loss's parameters in the plan, where they are easy to misread. */
static void print_gp_model(const hr_ctx_t *ctx, const hr_ensemble_t *e) {
  if (ctx->rank != 0 || ctx->opts->quiet || e->kind != HR_KIND_GP_LOSS) return;
  fprintf(stderr, "hessrmt ensemble: gp-loss: off-diagonal variance b = %g, "
          "diagonal covariance a 11^T + 2b I with a = %g; %lld zero rows and "
          "columns, %lld outliers of +%.4g on the diagonal\n", e->gp_b, e->gp_a,
          (long long)hr_ensemble_degenerate_rows(e), (long long)e->outliers,
          e->outliers ? hr_ensemble_outlier_shift(e) : 0.0);
}

static int summarize(const hr_ctx_t *ctx, const hr_run_t *run,
                     const hr_ensemble_t *e) {
  double *exact = malloc((size_t)e->n * sizeof *exact);
  int have = exact && hr_ensemble_exact_eigenvalues(e, exact);
  int rc = hr_run_report(ctx, run, have ? exact : NULL);
  free(exact);
  return rc;
}

static int run_ensemble(hr_ctx_t *ctx, hr_run_t *run, const hr_ensemble_t *e) {
  const hr_options_t *o = ctx->opts;
  /* the same on every rank: agreed, so rank 0 alone reports it */
  int rc = check_gp_options(o);
  if (rc == HR_OK) rc = hr_ensemble_check(e);
  if (rc == HR_OK && o->eigenvectors && e->kind == HR_KIND_BETA)
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--eigenvectors: --kind beta is solved as a tridiagonal "
                      "matrix, eigenvalues only; use --kind goe or another "
                      "dense kind");
  HR_CHECK(hr_agree(ctx->world, rc));
  HR_CHECK(hr_run_layout(ctx, e->n, run));
  char breakdown[512], what[128], kind[32];
  int64_t need = 0;
  HR_CHECK(hr_run_plan_memory(ctx, run, memory_need, e, &need, breakdown,
                              sizeof breakdown));
  snprintf(what, sizeof what, "%lld %s matrices of order %lld",
           (long long)o->count,
           hr_choice_name(HR_KIND_NAMES, o->kind, kind, sizeof kind),
           (long long)e->n);
  if (o->dry_run) {
    hr_run_print_plan(ctx, run, what, need);
    if (ctx->rank == 0 && !o->quiet)
      fprintf(stderr, "hessrmt ensemble: memory: %s\n", breakdown);
    print_gp_model(ctx, e);
    print_flops(ctx, e);
    return HR_OK;
  }
  HR_CHECK(hr_run_check_memory(ctx, run, need, breakdown));
  hr_run_print_plan(ctx, run, what, need);
  print_gp_model(ctx, e);
  HR_CHECK(hr_run_open(ctx, run, o->count, check_names, N_CHECKS));
  HR_CHECK(hr_run_problems(ctx, run, solve_member, (void *)e));
  HR_CHECK(hr_run_finish(ctx, run));
  return summarize(ctx, run, e);
}

int hr_cmd_ensemble(hr_ctx_t *ctx) {
  const hr_options_t *o = ctx->opts;
  hr_ensemble_t e = {(hr_kind_t)o->kind, o->n, (uint64_t)o->seed,
                     o->wishart_ratio, o->beta, o->gp_a, o->gp_b,
                     o->degenerate, o->outliers, o->outlier_scale};
  hr_run_t run;
  hr_run_init(&run);
  hr_options_run_settings(ctx->opts, &run.set);
  run.with_stats = !o->no_stats;
  hr_options_stats_job(o, &run.stats);
  hr_timer_start(&ctx->timer, HR_PHASE_TOTAL);
  int rc = run_ensemble(ctx, &run, &e);
  hr_run_free(&run);
  return rc;
}
