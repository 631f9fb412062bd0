/* The dense path: assemble the whole Hessian (or a part of it) in the 2D
 * block-cyclic layout from per-rank partial column panels, check it, and
 * solve for all N eigenvalues (see hessian.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/assemble.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"

typedef struct {
  const hr_hessian_t *h;
  int64_t width;          /* panel width nb * npcol */
  /* logistic (Kronecker route) */
  double *xt;             /* local rows of x~ = [x, 1], S x Dx */
  double *prob;           /* their softmax probabilities, S x C */
  double *yw;             /* S x min(Dx, width) */
  /* MLPs (Hessian-vector products of unit directions) */
  hr_model_work_t *work;
  int64_t chunk;
  double *E, *HV;         /* N x width each */
} panel_ctx_t;

static int is_logistic(const hr_hessian_t *h) { return hr_model_is_logistic(&h->model); }

/* ---- logistic regression: the Kronecker route ------------------------------ */

/* Block (c, c') of the logistic Hessian is X~^T diag(w_cc') X~ with
 * w_cc'(s) = p_c (delta_cc' - p_c') for cross-entropy and delta_cc' for
 * squared error (DESIGN.md, "Softmax cross-entropy logistic regression"):
 * about 2 n N^2 flops for all of H against ~8 n N^2 for unit-direction
 * Hessian-vector products. */
static double logistic_weight(const panel_ctx_t *p, int64_t s, int64_t c,
                              int64_t cp) {
  if (p->h->model.loss == HR_LOSS_MSE) return c == cp ? 1.0 : 0.0;
  int64_t C = p->h->classes;
  double pc = p->prob[s * C + c];
  return pc * ((c == cp ? 1.0 : 0.0) - p->prob[s * C + cp]);
}

static int logistic_setup(panel_ctx_t *p) {
  const hr_hessian_t *h = p->h;
  int64_t S = h->data.count, D = h->dim, C = h->classes, Dx = D + h->model.bias;
  int64_t ywc = Dx < p->width ? Dx : p->width;
  p->xt = malloc((size_t)(S * Dx) * sizeof *p->xt);
  p->prob = malloc((size_t)(S * C) * sizeof *p->prob);
  p->yw = malloc((size_t)(S * ywc + 1) * sizeof *p->yw);
  if (!p->xt || !p->prob || !p->yw)
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the logistic panels");
  for (int64_t s = 0; s < S; s++) {
    memcpy(p->xt + s * Dx, h->data.x + s * D, (size_t)D * sizeof *p->xt);
    if (h->model.bias) p->xt[s * Dx + D] = 1.0;
  }
  hr_model_work_t *w;
  HR_CHECK(hr_model_work_create(&h->model, S ? S : 1, 1, &w));
  hr_samples_t all = hr_hessian_samples(h, 0, S);
  hr_model_probabilities(&h->model, h->theta, &all, w, p->prob);
  hr_model_work_free(w);
  return HR_OK;
}

/* Columns J of theta (PyTorch order: W row-major, then b) as (c', j'):
 * weight W[c'][j'], or bias b[c'] as j' = D (the constant feature). */
static int64_t column_run(const panel_ctx_t *p, int64_t J, int64_t left,
                          int64_t *cp, int64_t *jp) {
  int64_t D = p->h->dim, C = p->h->classes;
  if (J < C * D) {
    *cp = J / D;
    *jp = J % D;
    return D - *jp < left ? D - *jp : left;
  }
  *cp = J - C * D;
  *jp = D;
  return 1;
}

static int logistic_panel(void *vctx, int64_t col0, int64_t ncols,
                          double *panel) {
  panel_ctx_t *p = vctx;
  const hr_hessian_t *h = p->h;
  int64_t N = h->model.nparams, S = h->data.count, D = h->dim, C = h->classes;
  int64_t Dx = D + h->model.bias;
  memset(panel, 0, (size_t)(N * ncols) * sizeof *panel);
  if (h->part == HR_PART_RESIDUAL) return HR_OK;  /* linear model: H1 = 0 */
  for (int64_t t = 0; t < ncols;) {
    int64_t cp, jp, run = column_run(p, col0 + t, ncols - t, &cp, &jp);
    for (int64_t c = 0; c < C; c++) {
      if (h->model.loss == HR_LOSS_MSE && c != cp) continue;
      for (int64_t s = 0; s < S; s++) {
        double ws = h->scale * logistic_weight(p, s, c, cp);
        for (int64_t u = 0; u < run; u++)
          p->yw[s * run + u] = ws * p->xt[s * Dx + jp + u];
      }
      /* rows (c, j) of these columns: X^T Yw, straight into the panel */
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)D, (int)run,
                  (int)S, 1.0, p->xt, (int)Dx, p->yw, (int)run, 0.0,
                  panel + t * N + c * D, (int)N);
      if (h->model.bias)
        for (int64_t u = 0; u < run; u++) {
          double sum = 0;
          for (int64_t s = 0; s < S; s++) sum += p->yw[s * run + u];
          panel[(t + u) * N + C * D + c] = sum;
        }
    }
    t += run;
  }
  return HR_OK;
}

/* ---- MLPs: unit-direction Hessian-vector products -------------------------- */

static int mlp_setup(panel_ctx_t *p) {
  const hr_hessian_t *h = p->h;
  int64_t N = h->model.nparams;
  p->chunk = h->data.count < 128 ? h->data.count : 128;
  if (p->chunk < 1) p->chunk = 1;
  p->E = calloc((size_t)(N * p->width), sizeof *p->E);
  p->HV = malloc((size_t)(N * p->width) * sizeof *p->HV);
  if (!p->E || !p->HV)
    HR_FAIL(HR_ERR_MEMORY, "out of memory for %lld Hessian-vector products",
            (long long)p->width);
  return hr_model_work_create(&h->model, p->chunk, p->width, &p->work);
}

static int mlp_panel(void *vctx, int64_t col0, int64_t ncols, double *panel) {
  panel_ctx_t *p = vctx;
  const hr_hessian_t *h = p->h;
  int64_t N = h->model.nparams;
  memset(p->E, 0, (size_t)(N * p->width) * sizeof *p->E);
  memset(p->HV, 0, (size_t)(N * ncols) * sizeof *p->HV);
  for (int64_t t = 0; t < ncols; t++) p->E[t * N + col0 + t] = 1.0;
  for (int64_t i = 0; i < h->data.count; i += p->chunk) {
    int64_t c = h->data.count - i < p->chunk ? h->data.count - i : p->chunk;
    hr_samples_t s = hr_hessian_samples(h, i, c);
    hr_model_hvp(&h->model, h->theta, &s, h->part, p->E, ncols, p->work, p->HV);
  }
  for (int64_t i = 0; i < N * ncols; i++) panel[i] = h->scale * p->HV[i];
  return HR_OK;
}

static void panel_free(panel_ctx_t *p) {
  free(p->xt); free(p->prob); free(p->yw);
  free(p->E); free(p->HV);
  hr_model_work_free(p->work);
}

/* ---- assemble, check, solve ------------------------------------------------- */

static int assemble(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                    hr_dmat_t *H) {
  panel_ctx_t p;
  memset(&p, 0, sizeof p);
  p.h = h;
  p.width = run->nblk * run->grid.npcol;
  int rc = is_logistic(h) ? logistic_setup(&p) : mlp_setup(&p);
  rc = hr_agree(run->grid.comm, rc);
  hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (rc == HR_OK)
    rc = hr_assemble_panels(H, is_logistic(h) ? logistic_panel : mlp_panel, &p);
  hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  panel_free(&p);
  return rc;
}

int hr_hessian_dense(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                     double *evals, double *checks) {
  int64_t N = h->model.nparams;
  hr_dmat_t H;
  int rc = hr_dmat_create(&run->grid, N, N, run->nblk,
                          (hr_precision_t)ctx->opts->precision, &H);
  HR_CHECK(hr_agree(run->grid.comm, rc));
  rc = assemble(ctx, run, h, &H);
  if (rc == HR_OK)
    rc = hr_run_check_and_solve(ctx, run, &H, evals, &checks[HR_CHECK_TRACE],
                                &checks[HR_CHECK_ASYM]);
  hr_dmat_free(&H);
  return rc;
}
