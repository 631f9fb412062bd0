/* hessrmt relu-sim: the second seed's experiment (DESIGN.md, "Seed 2
 * notebook") with correct mathematics.  For every shape of the sweep and
 * every run: draw data, targets and weights, run gradient descent
 * recording the loss, then solve the spectra of H0, H1 and H at the final
 * weights (relu_sim.h).
 *
 * The runs of all shapes form one list of problems, dealt to the rank
 * groups of the shared layout (spectra_run.h) as other commands deal
 * theirs: problem k goes to group k mod G.  Every rank of a group repeats
 * the run's gradient descent (about 6 m N flops per iteration, little
 * beside the 8 m N^2 of each Hessian), so the weights are the same bit for
 * bit whatever the ranks; each rank then takes its slice of the samples
 * and the group assembles and solves the three Hessians on its BLACS grid.
 * Group leaders send their results to rank 0, which writes the file, the
 * summary and the figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/options.h"
#include "hessrmt/context.h"
#include "hessrmt/error.h"
#include "hessrmt/memory.h"
#include "hessrmt/output.h"
#include "hessrmt/relu_sim.h"
#include "hessrmt/spectra_run.h"

/* Runs of one job: one pointer each is kept on every rank. */
enum { MAX_RUNS = 10000000 };

/* Problem k is run k mod runs of shape k / runs. */
typedef struct {
  hr_relu_settings_t set;  /* from the command line */
  hr_relu_shape_t *shapes;
  int nshapes;
  int64_t runs;
  hr_relu_result_t *res;   /* rank 0: every shape's results */
  double **mine;           /* other group leaders: packed results, by problem */
} sim_t;

static int64_t problem_count(const sim_t *sim) {
  return sim->nshapes * sim->runs;
}

/* The shape of problem k and its run within the shape. */
static int shape_of(const sim_t *sim, int64_t k, int64_t *r) {
  *r = k % sim->runs;
  return (int)(k / sim->runs);
}

/* ---- set-up ------------------------------------------------------------------- */

/* An allocation's outcome (ok: it succeeded, or this rank made none),
 * agreed over comm. */
static int allocated(MPI_Comm comm, int ok, const char *what) {
  int rc = ok ? HR_OK : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__,
                                     __func__, "out of memory for %s", what);
  return hr_agree(comm, rc);
}

static int setup(hr_ctx_t *ctx, sim_t *sim) {
  const hr_options_t *o = ctx->opts;
  hr_options_relu_settings(o, &sim->set);
  HR_CHECK(hr_agree(ctx->world, hr_relu_sweep(&sim->set, &sim->shapes, &sim->nshapes)));
  if ((int64_t)sim->nshapes * o->runs > MAX_RUNS)
    HR_CHECK(hr_agree(ctx->world, hr_error_set(
        HR_ERR_USAGE, __FILE__, __LINE__, __func__, "%d shapes x %lld runs: "
        "more than %d runs in one job; split the sweep", sim->nshapes,
        (long long)o->runs, MAX_RUNS)));
  sim->runs = o->runs;
  sim->mine = calloc((size_t)problem_count(sim), sizeof *sim->mine);
  HR_CHECK(allocated(ctx->world, sim->mine != NULL, "the list of runs"));
  HR_CHECK(hr_output_check_writable(ctx->world, o->output));
  int rc = HR_OK;
  if (ctx->rank == 0 && o->plots[0]) rc = hr_relu_figures_prepare(o->plots);
  return hr_agree(ctx->world, rc);
}

/* Bytes of results this rank keeps until the end. */
static int64_t results_bytes(const hr_ctx_t *ctx, const hr_run_t *layout,
                             const sim_t *sim) {
  int64_t bytes = 0, iters = ctx->opts->iters;
  for (int s = 0; s < sim->nshapes; s++) {
    int64_t per_run = hr_relu_result_bytes(&sim->shapes[s], 1, iters);
    if (ctx->rank == 0) {
      bytes += per_run * sim->runs;
    } else if (layout->grid.rank == 0) {
      for (int64_t k = s * sim->runs; k < (s + 1) * sim->runs; k++)
        bytes += k % layout->groups.count == layout->groups.index ? per_run : 0;
    }
  }
  return bytes;
}

static int plan(hr_ctx_t *ctx, hr_run_t *layout, const sim_t *sim) {
  const hr_options_t *o = ctx->opts;
  int64_t nmin = INT64_MAX, nmax = 0;
  for (int s = 0; s < sim->nshapes; s++) {
    int64_t n = hr_relu_params(&sim->shapes[s]);
    nmin = n < nmin ? n : nmin;
    nmax = n > nmax ? n : nmax;
  }
  /* The smallest order decides the block size and the rank check: what
   * holds for it holds for every larger matrix. */
  HR_CHECK(hr_run_layout(ctx, nmin, layout));
  char breakdown[512] = "", largest[512], what[256];
  int64_t need = 0;
  for (int s = 0; s < sim->nshapes; s++) {
    int64_t n = hr_relu_memory(layout, &sim->shapes[s], o->iters,
                               largest, sizeof largest);
    if (n > need) { need = n; memcpy(breakdown, largest, sizeof breakdown); }
  }
  need += results_bytes(ctx, layout, sim);
  HR_CHECK(hr_run_check_memory(ctx, layout, need, breakdown));
  snprintf(what, sizeof what, "%d shape%s x %lld run%s, N = %lld..%lld, %lld "
           "iterations each, then H0, H1 and H", sim->nshapes,
           sim->nshapes == 1 ? "" : "s", (long long)o->runs,
           o->runs == 1 ? "" : "s", (long long)nmin, (long long)nmax,
           (long long)o->iters);
  hr_run_print_plan(ctx, layout, what, need);
  return HR_OK;
}

/* ---- one problem ------------------------------------------------------------- */

static void report_progress(const hr_ctx_t *ctx, const hr_run_t *layout,
                            const hr_relu_run_t *run, int64_t r,
                            double seconds) {
  if (ctx->opts->quiet || layout->grid.rank != 0) return;
  char name[128];
  fprintf(stderr, "hessrmt relu-sim: group %d: %s run_%lld (%lld of %lld) "
          "done in %.2f s: loss %.6g -> %.6g\n", layout->groups.index,
          hr_relu_shape_name(&run->shape, name, sizeof name), (long long)r,
          (long long)r + 1, (long long)ctx->opts->runs, seconds, run->losses[0],
          run->losses[run->iters]);
}

static int descend(hr_ctx_t *ctx, const hr_run_t *layout, hr_relu_run_t *run,
                   int64_t r) {
  const hr_options_t *o = ctx->opts;
  hr_timer_start(&ctx->timer, HR_PHASE_GENERATE);
  hr_relu_generate(run, (uint64_t)o->seed, o->sigma, r);
  int rc = hr_relu_descend(run, o->step);
  hr_timer_stop(&ctx->timer, HR_PHASE_GENERATE);
  return hr_agree(layout->grid.comm, rc);
}

static int spectra(hr_ctx_t *ctx, hr_run_t *layout, const hr_relu_run_t *run,
                   double *packed) {
  int64_t N = run->model.nparams;
  hr_relu_spectra_t sp;
  memset(&sp, 0, sizeof sp);
  double *evals = malloc((size_t)(HR_RELU_PARTS * N) * sizeof *evals);
  HR_CHECK(allocated(layout->grid.comm, evals != NULL, "the eigenvalues"));
  for (int p = 0; p < HR_RELU_PARTS; p++) sp.evals[p] = evals + p * N;
  double c = ctx->opts->rescale_h1 ? hr_relu_h1_scale(run) : 1.0;
  int rc = hr_relu_spectra(ctx, layout, run, c, &sp);
  if (rc == HR_OK && packed) hr_relu_pack(run, &sp, c, packed);
  free(evals);
  return rc;
}

/* Run r of shape s on this group; the leader packs the results. */
static int solve_problem(hr_ctx_t *ctx, hr_run_t *layout, const sim_t *sim,
                         int64_t k, double *packed) {
  int64_t r;
  int s = shape_of(sim, k, &r);
  double t0 = MPI_Wtime();
  hr_relu_run_t run;
  int rc = hr_relu_run_create(&sim->shapes[s], ctx->opts->iters, &run);
  rc = hr_agree(layout->grid.comm, rc);
  if (rc == HR_OK) rc = descend(ctx, layout, &run, r);
  if (rc == HR_OK) rc = spectra(ctx, layout, &run, packed);
  if (rc == HR_OK) report_progress(ctx, layout, &run, r, MPI_Wtime() - t0);
  hr_relu_run_free(&run);
  return rc;
}

/* The leader's packed results of problem k: kept for the gather, or, on
 * rank 0, unpacked at once. */
static int keep_result(const hr_ctx_t *ctx, sim_t *sim, int64_t k,
                       double *packed) {
  if (ctx->rank != 0) {
    sim->mine[k] = packed;
    return HR_OK;
  }
  int64_t r;
  int s = shape_of(sim, k, &r);
  hr_relu_unpack(packed, r, &sim->res[s]);
  free(packed);
  return HR_OK;
}

static int group_loop(hr_ctx_t *ctx, hr_run_t *layout, sim_t *sim) {
  int rc = HR_OK, leader = layout->grid.rank == 0;
  for (int64_t k = layout->groups.index; k < problem_count(sim) && rc == HR_OK;
       k += layout->groups.count) {
    int64_t r;
    const hr_relu_result_t *shape = &sim->res[shape_of(sim, k, &r)];
    double *packed = NULL;
    if (leader) packed = malloc((size_t)hr_relu_pack_size(shape) * sizeof *packed);
    rc = allocated(layout->grid.comm, !leader || packed, "a run's results");
    if (rc == HR_OK) rc = solve_problem(ctx, layout, sim, k, packed);
    if (rc == HR_OK && leader) rc = keep_result(ctx, sim, k, packed);
    else free(packed);
  }
  return rc;
}

/* ---- results to rank 0 ---------------------------------------------------------- */

/* Leaders send in problem order and rank 0 receives in problem order, so
 * no send waits on a receive that comes after it. */
static int gather(const hr_ctx_t *ctx, const hr_run_t *layout, sim_t *sim) {
  MPI_Comm leaders = layout->groups.leaders;
  if (leaders == MPI_COMM_NULL) return HR_OK;
  int me = layout->groups.index, G = layout->groups.count;
  /* Rank 0's buffer for the largest result, allocated and agreed on
   * before any leader sends: a failure later would leave senders waiting. */
  int64_t largest = 0;
  for (int s = 0; s < sim->nshapes; s++)
    if (hr_relu_pack_size(&sim->res[s]) > largest) largest = hr_relu_pack_size(&sim->res[s]);
  double *buf = ctx->rank == 0 ? malloc((size_t)largest * sizeof *buf) : NULL;
  int rc = ctx->rank == 0 && !buf
               ? hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                              "out of memory receiving results")
               : HR_OK;
  HR_CHECK(hr_agree(leaders, rc));
  for (int64_t k = 0; k < problem_count(sim); k++) {
    int g = (int)(k % G);
    if (g == 0) continue;  /* rank 0's own group: unpacked already */
    int64_t r;
    hr_relu_result_t *res = &sim->res[shape_of(sim, k, &r)];
    /* below 2^31: iters <= 10^9 (the option's limit), N <= 10^6 */
    int count = (int)hr_relu_pack_size(res);
    if (g == me) HR_MPI(MPI_Send(sim->mine[k], count, MPI_DOUBLE, 0, 0, leaders));
    if (ctx->rank != 0) continue;
    HR_MPI(MPI_Recv(buf, count, MPI_DOUBLE, g, 0, leaders, MPI_STATUS_IGNORE));
    hr_relu_unpack(buf, r, res);
  }
  free(buf);
  return HR_OK;
}

/* ---- the end: file, summary, figures -------------------------------------------- */

static int write_file(hr_ctx_t *ctx, const hr_run_t *layout, const sim_t *sim,
                      const hr_timing_summary_t *times) {
  char partial[4200];
  HR_CHECK(hr_output_partial_path(ctx->opts->output, partial, sizeof partial));
  int64_t peak = hr_memory_peak_bytes();
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, &peak, 1, MPI_INT64_T, MPI_MAX, ctx->world));
  hr_relu_file_info_t info = {ctx, layout, times, peak, layout->mem_need};
  int rc = ctx->rank == 0 ? hr_relu_write_file(partial, sim->res, sim->nshapes,
                                               &info)
                          : HR_OK;
  rc = hr_agree(ctx->world, rc);
  if (rc != HR_OK) {
    hr_output_discard(ctx->world, partial);
    return rc;
  }
  return hr_output_commit(ctx->world, partial, ctx->opts->output);
}

static int report(const hr_ctx_t *ctx, const sim_t *sim) {
  const hr_options_t *o = ctx->opts;
  int rc = HR_OK;
  for (int s = 0; s < sim->nshapes && rc == HR_OK; s++) {
    hr_relu_print_summary(&sim->res[s], stdout);
    if (!o->plots[0]) continue;
    char dir[4096], name[128];
    hr_relu_shape_name(&sim->shapes[s], name, sizeof name);
    if (sim->nshapes == 1) snprintf(dir, sizeof dir, "%s", o->plots);
    else snprintf(dir, sizeof dir, "%s/%s", o->plots, name);
    rc = hr_relu_figures(&sim->res[s], dir, (int)o->plot_width,
                         (int)o->plot_height);
    if (rc == HR_OK)
      printf("  figures     %s/{losses,spectrum_H0,spectrum_H1,spectrum_H}"
             ".{png,svg}\n", dir);
  }
  printf("results in %s\n", o->output);
  fflush(stdout);
  return rc;
}

static int finish(hr_ctx_t *ctx, const hr_run_t *layout, const sim_t *sim) {
  hr_timer_stop(&ctx->timer, HR_PHASE_TOTAL);
  hr_timing_summary_t times;
  HR_CHECK(hr_timer_summarize(&ctx->timer, ctx->world, &times));
  hr_timer_start(&ctx->timer, HR_PHASE_WRITE);
  int rc = write_file(ctx, layout, sim, &times);
  hr_timer_stop(&ctx->timer, HR_PHASE_WRITE);
  HR_CHECK(rc);
  if (ctx->rank == 0) rc = report(ctx, sim);
  HR_CHECK(hr_agree(ctx->world, rc));
  if (ctx->rank == 0 && !ctx->opts->quiet) hr_timer_print(&times, ctx->size, stdout);
  return HR_OK;
}

/* ---- the command ------------------------------------------------------------------- */

/* Every rank holds the per-shape descriptions (pack sizes); only rank 0
 * allocates their arrays. */
static int alloc_results(hr_ctx_t *ctx, sim_t *sim) {
  sim->res = calloc((size_t)sim->nshapes, sizeof *sim->res);
  HR_CHECK(allocated(ctx->world, sim->res != NULL, "the results"));
  int rc = HR_OK;
  for (int s = 0; s < sim->nshapes && rc == HR_OK; s++) {
    hr_relu_result_t *res = &sim->res[s];
    if (ctx->rank == 0) {
      rc = hr_relu_result_create(&sim->shapes[s], &sim->set, res);
    } else {
      res->shape = sim->shapes[s];
      res->N = hr_relu_params(&sim->shapes[s]);
      res->runs = ctx->opts->runs;
      res->iters = ctx->opts->iters;
    }
  }
  return hr_agree(ctx->world, rc);
}

static int run_sim(hr_ctx_t *ctx, hr_run_t *layout, sim_t *sim) {
  HR_CHECK(setup(ctx, sim));
  HR_CHECK(plan(ctx, layout, sim));
  HR_CHECK(alloc_results(ctx, sim));
  HR_CHECK(hr_agree(ctx->world, group_loop(ctx, layout, sim)));
  HR_CHECK(hr_agree(ctx->world, gather(ctx, layout, sim)));
  return finish(ctx, layout, sim);
}

static void sim_free(sim_t *sim) {
  for (int64_t k = 0; sim->mine && k < problem_count(sim); k++)
    free(sim->mine[k]);
  for (int s = 0; sim->res && s < sim->nshapes; s++)
    hr_relu_result_free(&sim->res[s]);
  free(sim->mine); free(sim->res); free(sim->shapes);
}

int hr_cmd_relu_sim(hr_ctx_t *ctx) {
  sim_t sim;
  memset(&sim, 0, sizeof sim);
  hr_run_t layout;
  hr_run_init(&layout);
  hr_options_run_settings(ctx->opts, &layout.set);
  hr_timer_start(&ctx->timer, HR_PHASE_TOTAL);
  int rc = run_sim(ctx, &layout, &sim);
  hr_run_free(&layout);
  sim_free(&sim);
  return rc;
}
