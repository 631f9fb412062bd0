/* The dense path: assemble a whole Hessian (or a part of it) in the 2D
 * block-cyclic layout from per-rank partial column panels -- the first
 * layer's block by its Kronecker structure, the rest by unit-direction
 * Hessian-vector products -- check it against independent products, and
 * solve for all its eigenvalues (see hessian.h).  The reduced path hands
 * it the Hessian of a smaller model. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/assemble.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/progress.h"
#include "hessrmt/random.h"

typedef struct {
  const hr_hessian_problem_t *pb;
  int64_t width;          /* panel width nb * npcol */
  /* the first layer's block (Kronecker route) */
  int kron;               /* the model's first parameter layer is linear */
  int64_t D, Dx, h, N1;   /* its inputs, with the constant; outputs; size */
  double *M;              /* the local rows' curvatures in its outputs,
                             S x h x h */
  double *ws;             /* S weights of one (c, c') pair */
  double *yw;             /* S x KRON_RUN: weighted rows of x~ */
  /* the other columns: Hessian-vector products of unit directions */
  hr_model_work_t *work;
  int64_t chunk;
  double *E, *HV;         /* N x width each */
  hr_progress_t progress; /* columns done, for a long assembly */
} panel_ctx_t;

/* ---- the first layer's block: the Kronecker route ---------------------------
 * The first linear layer (h outputs, inputs x~ = [x; 1]) sees a sample only
 * through z = W~ x~, so its block of H is sum_s M_s (x) x~_s x~_s^T with M_s
 * the loss's curvature in z (model.h, hr_model_first_curvature): block
 * (c, c') is X~^T diag(M_s[c][c']) X~.  For logistic regression M_s =
 * diag(p) - p p^T (cross-entropy) or I (squared error) and this is all of
 * H (DESIGN.md, "Softmax cross-entropy logistic regression").  Only rows at
 * or below a panel's first column are formed -- the lower triangle, which
 * is all the solvers read: about n N1^2 flops for the block, against
 * ~8 n N N1 for its unit-direction products.  The other columns are such
 * products, whole; their rows in the first block (the upper-right corner)
 * are mirrored into the lower-left one afterwards. */
/* Columns per GEMM: yw is S x KRON_RUN (no copy of the rows is made). */
enum { KRON_RUN = 64 };

static int kron_setup(panel_ctx_t *p) {
  const hr_hessian_problem_t *pb = p->pb;
  const hr_layer_t *L = &pb->model->layer[hr_model_first_linear(pb->model)];
  int64_t S = pb->count;
  p->D = L->in.c;
  p->Dx = p->D + (L->nbias ? 1 : 0);
  p->h = L->out.c;
  p->N1 = p->h * p->Dx;
  int64_t h = p->h;
  p->M = malloc((size_t)(S * h * h + 1) * sizeof *p->M);
  p->ws = malloc((size_t)(S + 1) * sizeof *p->ws);
  p->yw = malloc((size_t)(S * KRON_RUN + 1) * sizeof *p->yw);
  if (!p->M || !p->ws || !p->yw)
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the first layer's panels");
  int64_t chunk = S < 256 ? (S ? S : 1) : 256;
  hr_model_work_t *w;
  HR_CHECK(hr_model_work_create(pb->model, chunk, h, &w));
  for (int64_t i = 0; i < S; i += chunk) {
    int64_t c = S - i < chunk ? S - i : chunk;
    hr_samples_t part = hr_problem_samples(pb, i, c);
    hr_model_first_curvature(pb->model, pb->theta, &part, pb->part, w,
                             p->M + i * h * h);
  }
  hr_model_work_free(w);
  return HR_OK;
}

/* Columns J of the first layer (PyTorch order: W row-major, then b) as
 * (c', j'): weight W[c'][j'], or bias b[c'] as j' = D (the constant). */
static int64_t column_run(const panel_ctx_t *p, int64_t J, int64_t left,
                          int64_t *cp, int64_t *jp) {
  int64_t D = p->D, h = p->h;
  if (left > KRON_RUN) left = KRON_RUN;
  if (J < h * D) {
    *cp = J / D;
    *jp = J % D;
    return D - *jp < left ? D - *jp : left;
  }
  *cp = J - h * D;
  *jp = D;
  return 1;
}

/* The first block's rows at or below col0 of columns [col0, col0 + ncols)
 * (all inside the block) into the panel (leading dimension N). */
static void kron_columns(panel_ctx_t *p, int64_t col0, int64_t ncols,
                         double *panel) {
  const hr_hessian_problem_t *pb = p->pb;
  int64_t N = pb->model->nparams, S = pb->count, D = p->D, Dx = p->Dx, h = p->h;
  for (int64_t t = 0; t < ncols;) {
    int64_t cp, jp, run = column_run(p, col0 + t, ncols - t, &cp, &jp);
    for (int64_t c = 0; c < h; c++) {
      int nonzero = 0;
      for (int64_t s = 0; s < S; s++) {
        p->ws[s] = pb->scale * p->M[(s * h + c) * h + cp];
        nonzero |= p->ws[s] != 0.0;
      }
      if (!nonzero) continue;  /* squared error off the diagonal; H1 = 0 */
      /* weighted columns of x~ (the bias's is the constant 1) */
      for (int64_t s = 0; s < S; s++)
        for (int64_t u = 0; u < run; u++)
          p->yw[s * run + u] =
              p->ws[s] * (jp == D ? 1.0 : pb->x[s * D + jp + u]);
      /* weight rows (c, j), j >= j0: those at or below row col0 */
      int64_t j0 = col0 > c * D ? col0 - c * D : 0;
      if (j0 < D)
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, (int)(D - j0),
                    (int)run, (int)S, 1.0, pb->x + j0, (int)D, p->yw,
                    (int)run, 0.0, panel + t * N + c * D + j0, (int)N);
      if (Dx > D)
        for (int64_t u = 0; u < run; u++) {
          double sum = 0;
          for (int64_t s = 0; s < S; s++) sum += p->yw[s * run + u];
          panel[(t + u) * N + h * D + c] = sum;
        }
    }
    t += run;
  }
}

/* ---- unit-direction Hessian-vector products -------------------------------- */

static int hvp_setup(panel_ctx_t *p) {
  const hr_hessian_problem_t *pb = p->pb;
  int64_t N = pb->model->nparams;
  p->chunk = pb->count < 128 ? pb->count : 128;
  if (p->chunk < 1) p->chunk = 1;
  p->E = calloc((size_t)(N * p->width), sizeof *p->E);
  p->HV = malloc((size_t)(N * p->width) * sizeof *p->HV);
  if (!p->E || !p->HV)
    HR_FAIL(HR_ERR_MEMORY, "out of memory for %lld Hessian-vector products",
            (long long)p->width);
  return hr_model_work_create(pb->model, p->chunk, p->width, &p->work);
}

/* Whole columns [col0, col0 + ncols) into the panel. */
static void hvp_columns(panel_ctx_t *p, int64_t col0, int64_t ncols,
                        double *panel) {
  const hr_hessian_problem_t *pb = p->pb;
  int64_t N = pb->model->nparams;
  memset(p->E, 0, (size_t)(N * ncols) * sizeof *p->E);
  memset(p->HV, 0, (size_t)(N * ncols) * sizeof *p->HV);
  for (int64_t t = 0; t < ncols; t++) p->E[t * N + col0 + t] = 1.0;
  hr_problem_hvp(pb, p->work, p->chunk, p->E, ncols, p->HV);
  for (int64_t i = 0; i < N * ncols; i++) panel[i] = pb->scale * p->HV[i];
}

static int panel(void *vctx, int64_t col0, int64_t ncols, double *out) {
  panel_ctx_t *p = vctx;
  int64_t N = p->pb->model->nparams;
  int64_t split = p->kron ? p->N1 : 0;  /* first column of the products */
  memset(out, 0, (size_t)(N * ncols) * sizeof *out);
  if (col0 < split)
    kron_columns(p, col0, (split - col0 < ncols ? split - col0 : ncols), out);
  int64_t first = col0 > split ? col0 : split;
  if (first < col0 + ncols)
    hvp_columns(p, first, col0 + ncols - first, out + (first - col0) * N);
  hr_progress_step(&p->progress, col0 + ncols);
  return HR_OK;
}

static void panel_free(panel_ctx_t *p) {
  free(p->M); free(p->ws); free(p->yw);
  free(p->E); free(p->HV);
  hr_model_work_free(p->work);
}

/* ---- assemble, check, solve ------------------------------------------------- */

static int assemble(hr_ctx_t *ctx, const hr_hessian_problem_t *pb,
                    int verbose, hr_dmat_t *H, int *kron) {
  panel_ctx_t p;
  memset(&p, 0, sizeof p);
  p.pb = pb;
  hr_progress_begin(&p.progress, verbose, "assembling H, columns", H->n);
  p.width = H->nb * H->grid->npcol;
  p.kron = hr_model_first_linear(pb->model) >= 0;
  hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
  int rc = p.kron ? kron_setup(&p) : HR_OK;
  if (rc == HR_OK && (!p.kron || p.N1 < pb->model->nparams)) rc = hvp_setup(&p);
  rc = hr_agree(H->grid->comm, rc);
  if (rc == HR_OK) rc = hr_assemble_panels(H, panel, &p);
  if (rc == HR_OK && p.kron && p.N1 < pb->model->nparams)
    rc = hr_agree(H->grid->comm, hr_dmat_mirror_corner(H, p.N1));
  hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  panel_free(&p);
  *kron = p.kron;
  return rc;
}

/* The assembled H (lower triangle) times two random vectors against the
 * R-operator's products for the same vectors: the largest relative
 * difference.  Every entry the solver reads takes part, so an assembly
 * error anywhere shows.  Collective over H's grid. */
enum { CHECK_VECTORS = 2 };

/* The check of the block [first, first + H->n) of H (all of it: first 0,
 * H->n = N): vectors zero outside the block, their R-operator products
 * restricted to its rows.  `stream` picks the random vectors. */
static int hv_check(const hr_hessian_problem_t *pb, const hr_dmat_t *H,
                    int64_t first, uint64_t stream, double *error) {
  int64_t N = pb->model->nparams, B = H->n, k = CHECK_VECTORS;
  MPI_Comm comm = H->grid->comm;
  double *V = malloc((size_t)(N * k) * sizeof *V), *R = malloc((size_t)(N * k) * sizeof *R);
  double *v = malloc((size_t)(B * k) * sizeof *v);
  double *Y = calloc((size_t)(2 * B * k), sizeof *Y);  /* assembled, then R-op */
  hr_model_work_t *w = NULL;
  int64_t chunk = pb->count < 64 ? (pb->count ? pb->count : 1) : 64;
  int rc = V && R && v && Y ? hr_model_work_create(pb->model, chunk, k, &w)
                            : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                           "out of memory for the H v check");
  rc = hr_agree(comm, rc);
  if (rc == HR_OK) {
    /* the same vectors on every rank */
    for (int64_t d = 0; d < k; d++)
      for (int64_t i = 0; i < B; i++)
        v[d * B + i] = hr_random_normal(0xc4ec, stream, i, d, HR_STREAM_FACTOR);
    hr_dmat_symv_lower(H, v, k, Y);
    hr_problem_block_hvp(pb, w, chunk, first, B, v, k, V, R, Y + B * k);
    if (MPI_Allreduce(MPI_IN_PLACE, Y, (int)(2 * B * k), MPI_DOUBLE, MPI_SUM,
                      comm) != MPI_SUCCESS)
      rc = hr_error_set(HR_ERR_MPI, __FILE__, __LINE__, __func__,
                        "MPI_Allreduce failed in the H v check");
    *error = 0;
    for (int64_t d = 0; d < k && rc == HR_OK; d++) {
      double diff = 0, norm = 0;
      for (int64_t i = 0; i < B; i++) {
        double a = Y[d * B + i], b = Y[B * k + d * B + i];
        diff += (a - b) * (a - b);
        norm += b * b;
      }
      *error = fmax(*error, norm > 0 ? sqrt(diff / norm) : sqrt(diff));
    }
  }
  hr_model_work_free(w);
  free(V);
  free(R);
  free(v);
  free(Y);
  return rc;
}

int hr_hessian_dense_problem(hr_ctx_t *ctx, hr_run_t *run,
                             const hr_hessian_problem_t *pb, double *evals,
                             double *checks) {
  int64_t N = pb->model->nparams;
  hr_dmat_t H;
  int rc = hr_dmat_create(&run->grid, N, N, hr_run_nblk_for(run, N),
                          run->set.precision, &H);
  HR_CHECK(hr_agree(run->grid.comm, rc));
  int kron = 0;
  rc = assemble(ctx, pb, ctx->rank == 0 && !run->set.quiet, &H, &kron);
  if (rc == HR_OK) {
    hr_timer_start(&ctx->timer, HR_PHASE_CHECK);
    rc = hv_check(pb, &H, 0, 9000, &checks[HR_CHECK_HV]);
    hr_timer_stop(&ctx->timer, HR_PHASE_CHECK);
  }
  /* The Kronecker route forms one triangle of the first block: no
   * asymmetry to measure; unit-direction products alone form whole
   * columns. */
  if (rc == HR_OK)
    rc = (run->evec_k ? hr_run_check_and_solve_vectors : hr_run_check_and_solve)(
        ctx, run, &H, evals, &checks[HR_CHECK_TRACE],
        kron ? NULL : &checks[HR_CHECK_ASYM]);
  hr_dmat_free(&H);
  return rc;
}

/* ---- a diagonal block: its own columns only --------------------------------
 * The principal sub-matrix of parameters [first, first + order) is formed
 * from the unit-direction products of its own columns, each restricted to
 * the block's rows: order products instead of N. */
typedef struct {
  const hr_hessian_problem_t *pb;
  int64_t first, order, chunk;
  hr_model_work_t *work;
  double *E, *HV;         /* N x width each */
  /* a block inside the first linear layer: its Kronecker route (the
   * lower triangle only), into HV as whole-length columns */
  int kron;
  panel_ctx_t kp;
} block_ctx_t;

static int block_panel(void *vctx, int64_t col0, int64_t ncols, double *out) {
  block_ctx_t *b = vctx;
  int64_t N = b->pb->model->nparams;
  memset(b->HV, 0, (size_t)(N * ncols) * sizeof *b->HV);
  if (b->kron) {
    kron_columns(&b->kp, b->first + col0, ncols, b->HV);
  } else {
    memset(b->E, 0, (size_t)(N * ncols) * sizeof *b->E);
    for (int64_t t = 0; t < ncols; t++) b->E[t * N + b->first + col0 + t] = 1.0;
    hr_problem_hvp(b->pb, b->work, b->chunk, b->E, ncols, b->HV);
  }
  double scale = b->kron ? 1.0 : b->pb->scale;  /* the Kronecker route's is in */
  for (int64_t t = 0; t < ncols; t++)
    for (int64_t i = 0; i < b->order; i++)
      out[t * b->order + i] = scale * b->HV[t * N + b->first + i];
  return HR_OK;
}

/* Whether the block lies inside the first linear layer's parameters,
 * where that layer's Kronecker structure forms it (n N1^2 flops for the
 * whole layer instead of 8 n N N1). */
static int block_in_first_layer(const hr_hessian_problem_t *pb, int64_t first,
                                int64_t order) {
  int f = hr_model_first_linear(pb->model);
  if (f < 0) return 0;
  const hr_layer_t *L = &pb->model->layer[f];
  int64_t N1 = L->out.c * (L->in.c + (L->nbias ? 1 : 0));
  return L->offset_w == 0 && first + order <= N1;
}

int hr_hessian_dense_block(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                           double *evals, double *checks) {
  hr_hessian_problem_t pb = hr_hessian_problem(h);
  int64_t B = h->block_count, N = pb.model->nparams;
  hr_dmat_t H;
  int rc = hr_dmat_create(&run->grid, B, B, hr_run_nblk_for(run, B),
                          run->set.precision, &H);
  HR_CHECK(hr_agree(run->grid.comm, rc));
  block_ctx_t b;
  memset(&b, 0, sizeof b);
  b.pb = &pb;
  b.first = h->block_first;
  b.order = B;
  b.kron = block_in_first_layer(&pb, b.first, B);
  b.kp.pb = &pb;
  int64_t width = H.nb * H.grid->npcol;
  b.chunk = pb.count < 128 ? (pb.count ? pb.count : 1) : 128;
  b.E = b.kron ? NULL : malloc((size_t)(N * width) * sizeof *b.E);
  b.HV = malloc((size_t)(N * width) * sizeof *b.HV);
  rc = (b.E || b.kron) && b.HV
           ? (b.kron ? kron_setup(&b.kp)
                     : hr_model_work_create(pb.model, b.chunk, width, &b.work))
           : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                          "out of memory for %lld Hessian-vector products",
                          (long long)width);
  rc = hr_agree(run->grid.comm, rc);
  if (rc == HR_OK) {
    hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
    rc = hr_assemble_panels(&H, block_panel, &b);
    hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  }
  if (rc == HR_OK) {
    hr_timer_start(&ctx->timer, HR_PHASE_CHECK);
    rc = hv_check(&pb, &H, h->block_first, 9001, &checks[HR_CHECK_HV]);
    hr_timer_stop(&ctx->timer, HR_PHASE_CHECK);
  }
  /* The Kronecker route forms the lower triangle only: no asymmetry. */
  if (rc == HR_OK)
    rc = (run->evec_k ? hr_run_check_and_solve_vectors : hr_run_check_and_solve)(
        ctx, run, &H, evals, &checks[HR_CHECK_TRACE],
        b.kron ? NULL : &checks[HR_CHECK_ASYM]);
  panel_free(&b.kp);
  hr_model_work_free(b.work);
  free(b.E);
  free(b.HV);
  hr_dmat_free(&H);
  return rc;
}

int hr_hessian_dense(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                     double *evals, double *checks) {
  hr_hessian_problem_t pb = hr_hessian_problem(h);
  return hr_hessian_dense_problem(ctx, run, &pb, evals, checks);
}
