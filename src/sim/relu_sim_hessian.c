/* The three spectra of one ReLU-simulation run, solved on the group's grid
 * like any other Hessian (see relu_sim.h): each rank of the group takes
 * its slice of the samples, the dense path of hessian_dense.c assembles
 * H0, H1 or H in the block-cyclic layout and the eigensolver module
 * solves it.  Only the notebook's rescaled H = H0 + c H1 (--rescale-h1)
 * needs panels of its own. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/assemble.h"
#include "hessrmt/blockcyclic.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/memory.h"
#include "hessrmt/relu_sim.h"

/* Samples per Hessian-vector product pass, as in hessian_dense.c. */
enum { CHUNK = 128 };

/* The Hessian state of this rank's slice of the run's samples. */
static void slice_hessian(const hr_run_t *layout, const hr_relu_run_t *run,
                          hr_hessian_t *h) {
  const hr_relu_shape_t *s = &run->shape;
  int64_t first, count;
  hr_row_slice(s->m, layout->grid.rank, layout->grid.size, &first, &count);
  memset(h, 0, sizeof *h);
  h->rows = h->batch = s->m;
  h->dim = s->n0;
  h->classes = s->n2;
  h->model = run->model;
  h->theta = run->theta;
  h->method = HR_METHOD_DENSE;
  h->all = 1;
  h->count = 1;
  h->loaded = 1;
  h->data.rows = s->m;
  h->data.dim = s->n0;
  h->data.first = first;
  h->data.count = count;
  h->data.x = run->x + first * s->n0;
  h->data.labels = run->labels + first;
  h->targets = run->y + first * s->n2;
  h->scale = 1.0 / (double)s->m;
}

/* ---- H0 + c H1 -------------------------------------------------------------- */

typedef struct {
  const hr_hessian_t *h;
  double c;
  int64_t width, chunk;
  hr_model_work_t *work;
  double *E, *HV0, *HV1;  /* N x width each */
} mixed_t;

static int mixed_panel(void *vctx, int64_t col0, int64_t ncols,
                       double *panel) {
  mixed_t *p = vctx;
  const hr_hessian_t *h = p->h;
  int64_t N = h->model.nparams;
  memset(p->E, 0, (size_t)(N * ncols) * sizeof *p->E);
  memset(p->HV0, 0, (size_t)(N * ncols) * sizeof *p->HV0);
  memset(p->HV1, 0, (size_t)(N * ncols) * sizeof *p->HV1);
  for (int64_t t = 0; t < ncols; t++) p->E[t * N + col0 + t] = 1.0;
  for (int64_t i = 0; i < h->data.count; i += p->chunk) {
    int64_t c = h->data.count - i < p->chunk ? h->data.count - i : p->chunk;
    hr_samples_t s = hr_hessian_samples(h, i, c);
    hr_model_hvp(&h->model, h->theta, &s, HR_PART_GN, p->E, ncols, p->work,
               p->HV0);
    hr_model_hvp(&h->model, h->theta, &s, HR_PART_RESIDUAL, p->E, ncols,
               p->work, p->HV1);
  }
  for (int64_t i = 0; i < N * ncols; i++)
    panel[i] = h->scale * (p->HV0[i] + p->c * p->HV1[i]);
  return HR_OK;
}

static int mixed_setup(mixed_t *p) {
  int64_t N = p->h->model.nparams;
  p->chunk = p->h->data.count < CHUNK ? p->h->data.count : CHUNK;
  if (p->chunk < 1) p->chunk = 1;
  HR_CALLOC(p->E, N * p->width);
  HR_CALLOC(p->HV0, N * p->width);
  HR_CALLOC(p->HV1, N * p->width);
  return hr_model_work_create(&p->h->model, p->chunk, p->width, &p->work);
}

static void mixed_free(mixed_t *p) {
  free(p->E); free(p->HV0); free(p->HV1);
  hr_model_work_free(p->work);
}

static int solve_mixed(hr_ctx_t *ctx, hr_run_t *layout, const hr_hessian_t *h,
                       double c, double *evals, double *trace, double *asym) {
  mixed_t p;
  memset(&p, 0, sizeof p);
  p.h = h;
  p.c = c;
  p.width = layout->nblk * layout->grid.npcol;
  hr_dmat_t H;
  int rc = hr_dmat_create(&layout->grid, h->model.nparams, h->model.nparams,
                          layout->nblk, layout->set.precision,
                          &H);
  if (rc == HR_OK) rc = mixed_setup(&p);
  rc = hr_agree(layout->grid.comm, rc);
  hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (rc == HR_OK) rc = hr_assemble_panels(&H, mixed_panel, &p);
  hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  mixed_free(&p);
  if (rc == HR_OK)
    rc = hr_run_check_and_solve(ctx, layout, &H, evals, trace, asym);
  hr_dmat_free(&H);
  return rc;
}

/* ---- the three spectra --------------------------------------------------- */

static int solve_part(hr_ctx_t *ctx, hr_run_t *layout, hr_hessian_t *h,
                      hr_part_t part, hr_relu_spectra_t *out, int k) {
  double checks[HR_N_CHECKS];
  for (int i = 0; i < HR_N_CHECKS; i++) checks[i] = NAN;
  h->part = part;
  HR_CHECK(hr_hessian_dense(ctx, layout, h, out->evals[k], checks));
  out->trace[k] = checks[HR_CHECK_TRACE];
  out->asymmetry[k] = checks[HR_CHECK_ASYM];
  return HR_OK;
}

int hr_relu_spectra(hr_ctx_t *ctx, hr_run_t *layout, const hr_relu_run_t *run,
                    double h1_scale, hr_relu_spectra_t *out) {
  hr_hessian_t h;
  slice_hessian(layout, run, &h);
  HR_CHECK(solve_part(ctx, layout, &h, HR_PART_GN, out, HR_RELU_H0));
  HR_CHECK(solve_part(ctx, layout, &h, HR_PART_RESIDUAL, out, HR_RELU_H1));
  if (h1_scale == 1.0)
    return solve_part(ctx, layout, &h, HR_PART_FULL, out, HR_RELU_H);
  /* The spectrum of c H1 is c times that of H1 (c > 0), ascending still. */
  for (int64_t i = 0; i < run->model.nparams; i++)
    out->evals[HR_RELU_H1][i] *= h1_scale;
  out->trace[HR_RELU_H1] *= h1_scale;
  out->asymmetry[HR_RELU_H1] *= h1_scale;
  return solve_mixed(ctx, layout, &h, h1_scale, out->evals[HR_RELU_H],
                     &out->trace[HR_RELU_H], &out->asymmetry[HR_RELU_H]);
}

/* ---- memory ------------------------------------------------------------------ */

int64_t hr_relu_memory(const hr_run_t *layout,
                       const hr_relu_shape_t *s, int64_t iters,
                       char *breakdown, size_t len) {
  hr_precision_t prec = layout->set.precision;
  hr_model_t model;
  char spec[128];
  snprintf(spec, sizeof spec, "mlp:%lld-%lld-%lld", (long long)s->n0,
           (long long)s->n1, (long long)s->n2);
  if (hr_model_init(&model, spec, 0, 0, 0, HR_ACT_RELU, HR_LOSS_MSE) != HR_OK)
    return HR_MEMORY_BASELINE;  /* not reached: the sweep checked the shape */
  int64_t N = model.nparams, width = layout->nblk * layout->grid.npcol;
  /* Every rank of the group holds the whole run for gradient descent. */
  int64_t run = (s->m * (s->n0 + s->n2 + 1) + 2 * N + iters + 1) * 8 +
                hr_model_work_bytes(&model, s->m, 1) + N * 8;
  int64_t matrix = hr_dmat_local_bytes(N, N, layout->nblk, prec, &layout->grid);
  int64_t solver = hr_eigensolver_workspace_bytes(layout->solver, N,
                                                  layout->nblk, prec,
                                                  &layout->grid);
  /* the panels of the rescaled H need three N x width buffers */
  int64_t build = hr_assemble_workspace_bytes(N, layout->nblk,
                                              layout->grid.npcol) +
                  3 * N * width * 8 + hr_model_work_bytes(&model, CHUNK, width);
  /* the checks transpose one row strip at a time: no copy of the matrix */
  int64_t phase = build > solver ? build : solver;
  char a[32], b[32], c[32], d[32];
  snprintf(breakdown, len, "run data and gradient descent %s, matrix of order "
           "%lld %s, then the largest of the solver's workspace %s and the "
           "assembly's %s",
           hr_format_bytes((double)run, a, sizeof a), (long long)N,
           hr_format_bytes((double)matrix, b, sizeof b),
           hr_format_bytes((double)solver, c, sizeof c),
           hr_format_bytes((double)build, d, sizeof d));
  return HR_MEMORY_BASELINE + run + 3 * N * 8 + matrix + phase;
}
