/* hessrmt hessian: exact Hessian spectra of a model over a dataset, or over
 * each of its consecutive mini-batches.
 *
 * Every spectrum is a problem of the shared run layer (spectra_run.h): its
 * rows are read by the ranks of the group that solves it, each rank its own
 * slice; the Hessian is either assembled in the 2D block-cyclic layout from
 * per-rank partial column panels and solved whole (dense), or, where it is
 * exact, reduced to the Gram matrix G G^T of the Gauss-Newton factor
 * (gram: DESIGN.md, "Gram shortcut").  Low-rank batch spectra live in
 * hessian_lowrank.c. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/options.h"
#include "hessrmt/assemble.h"
#include "hessrmt/blockcyclic.h"
#include "hessrmt/context.h"
#include "hessrmt/dataset.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/memory.h"
#include "hessrmt/rmt.h"
#include "hessrmt/spectra_run.h"
#include "hessrmt/weights.h"

static const char *const hr_method_names[] = {"auto", "dense", "Gram",
                                             "low-rank", "reduced"};

static const char *const check_names[] = {"trace", "eigenvalue_sum",
                                          "asymmetry", "rank", "loss", "rows",
                                          "hv_error"};

/* Spectra: one for the whole dataset, or one per batch. */
static int plan_spectra(hr_ctx_t *ctx, hr_hessian_t *h) {
  const hr_options_t *o = ctx->opts;
  h->all = o->batch_size == 0;
  if (h->all && (o->first_batch || o->max_batches))
    HR_CHECK(hr_agree(ctx->world, hr_error_set(
        HR_ERR_USAGE, __FILE__, __LINE__, __func__,
        "--first-batch and --max-batches need --batch-size: without it one "
        "Hessian of the whole dataset is computed")));
  if (h->all) {
    h->batch = h->rows;
    h->first_row = 0;
    h->count = 1;
    if (o->groups > 1)
      HR_CHECK(hr_agree(ctx->world, hr_error_set(
          HR_ERR_USAGE, __FILE__, __LINE__, __func__,
          "--groups %lld needs --batch-size: one whole-dataset Hessian is "
          "solved by all ranks together", (long long)o->groups)));
    return HR_OK;
  }
  h->batch = o->batch_size;
  /* A batch larger than the data is almost always a typo or the wrong
   * file; one short batch would silently be a whole-dataset Hessian. */
  if (h->batch > h->rows)
    HR_CHECK(hr_agree(ctx->world, hr_error_set(
        HR_ERR_USAGE, __FILE__, __LINE__, __func__,
        "--batch-size %lld is larger than the data: %s has %lld rows (give "
        "at most %lld, or no --batch-size for one Hessian of the whole "
        "dataset)", (long long)h->batch, o->data, (long long)h->rows,
        (long long)h->rows)));
  int64_t batches = (h->rows + h->batch - 1) / h->batch;
  int rc = HR_OK;
  if (o->first_batch >= batches)  /* checked before multiplying: no overflow */
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "--first-batch %lld is past the last batch: %lld rows "
                      "make %lld batches of %lld", (long long)o->first_batch,
                      (long long)h->rows, (long long)batches,
                      (long long)h->batch);
  h->first_row = rc == HR_OK ? o->first_batch * h->batch : 0;
  HR_CHECK(hr_agree(ctx->world, rc));
  h->count = (h->rows - h->first_row + h->batch - 1) / h->batch;
  if (o->max_batches && h->count > o->max_batches) h->count = o->max_batches;
  return HR_OK;
}

/* ---- the methods' costs ------------------------------------------------------
 * Flops per spectrum of each exact method that applies, to form the matrix
 * it solves and to solve it ((4/3) order^3, the reduction to tridiagonal
 * form that dominates an eigenvalues-only solve).  One Hessian-vector
 * product costs about 4 forward passes per sample (R-forward and
 * R-backward, two GEMMs a layer each): 8 n N^2 for all of an MLP's H,
 * whose forward pass is 2N flops. */
typedef struct {
  int applies;
  double form, solve, order;
} method_cost_t;

static int gram_exact(const hr_hessian_t *h) {
  return h->part == HR_PART_GN ||
         (hr_model_is_logistic(&h->model) && h->part == HR_PART_FULL);
}

/* The low-rank path's rank, guessed as factor * B * C: B (C - 1) from
 * the Gauss-Newton part, and for the residual part about B C per pair of
 * parameter layers -- the blocks d^2 f / d theta_i d theta_j of two
 * layers are what it is made of.  Measured batch-64 ranks (in units of
 * B C = 640): the paper's MLP (3 layers, 3 pairs) 2.8; a 4-layer MLP
 * (6 pairs) 6.0; LeNet (5 layers, 10 pairs) 11.4; resnet-mini (19
 * layers with parameters, BatchNorm's included) passes N/2 already at
 * B = 8, so auto gives it the dense path instead of a range finder that
 * would fall back after half of dense's work.  At least 3, the old guess,
 * which the paper's MLP bears out. */
static double lowrank_rank_factor(const hr_model_t *m) {
  double L = (double)m->nparam_layers;
  return fmax(3.0, L * (L - 1.0) / 2.0);
}

static void method_costs(const hr_hessian_t *h, method_cost_t c[HR_N_METHODS]) {
  const hr_model_t *m = &h->model;
  double N = (double)m->nparams, n = (double)h->batch;
  double M = n * (double)h->classes;
  double hvp = 4.0 * n * hr_model_forward_flops(m);
  int logistic = hr_model_is_logistic(m);
  memset(c, 0, sizeof(method_cost_t) * HR_N_METHODS);
  c[HR_METHOD_DENSE] = (method_cost_t){1, logistic ? n * N * N : hvp * N, 0, N};
  c[HR_METHOD_GRAM] = (method_cost_t){gram_exact(h) && M < N,
                                      M * M * N + M * N * (double)h->classes, 0, M};
  double reduced = (double)hr_hessian_reduced_order(h, h->batch);
  c[HR_METHOD_REDUCED] = (method_cost_t){
      hr_model_first_linear(m) >= 0 && reduced < N,
      hvp * reduced * reduced / N, 0, reduced};
  /* the rank the range finder meets: unknown ahead; bounded by the
   * reduced order and N/2 (its fallback) */
  double r = fmin(fmin(lowrank_rank_factor(m) * M, N / 2), reduced);
  c[HR_METHOD_LOWRANK] = (method_cost_t){
      !h->all && !logistic && h->part != HR_PART_GN && 4 * M < N,
      2.0 * r * hvp + 6.0 * N * r * r, 0, r};
  for (int k = 1; k < HR_N_METHODS; k++)
    c[k].solve = 4.0 / 3.0 * c[k].order * c[k].order * c[k].order;
}

/* auto: gram where it is exact and smaller (logistic, whose H is its
 * Gauss-Newton part, or --part gn); otherwise the cheapest of dense,
 * reduced and lowrank by the flop model. */
static int resolve_method(hr_ctx_t *ctx, hr_hessian_t *h) {
  const hr_options_t *o = ctx->opts;
  method_cost_t c[HR_N_METHODS];
  method_costs(h, c);
  h->method = (hr_method_t)o->method;
  if (h->method == HR_METHOD_AUTO) {
    h->method = HR_METHOD_DENSE;
    if (c[HR_METHOD_GRAM].applies) {
      h->method = HR_METHOD_GRAM;
    } else {
      for (int k = HR_METHOD_LOWRANK; k <= HR_METHOD_REDUCED; k++)
        if (c[k].applies && c[k].form + c[k].solve <
                                c[h->method].form + c[h->method].solve)
          h->method = (hr_method_t)k;
    }
  }
  int rc = HR_OK;
  if (h->method == HR_METHOD_GRAM && !gram_exact(h))
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--method gram is exact only for the Gauss-Newton part "
                      "(--part gn) or logistic regression; use --method dense "
                      "or lowrank");
  else if (h->method == HR_METHOD_LOWRANK && h->all)
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--method lowrank is for batch spectra (--batch-size B)");
  else if (h->method == HR_METHOD_REDUCED && hr_model_first_linear(&h->model) < 0)
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--method reduced needs a model whose first layer with "
                      "parameters is linear (an MLP); this one starts with "
                      "a convolution: use --method lowrank or dense");
  return hr_agree(ctx->world, rc);
}

/* ---- --block and --params: a principal sub-matrix --------------------------- */

/* Parameter tensors in model.parameters() order: each layer's weight, then
 * its bias; their offsets into theta are consecutive in that order. */
static int tensor_range(const hr_model_t *m, int64_t t, int64_t *first,
                        int64_t *count) {
  int64_t k = 0;
  for (int l = 0; l < m->nparam_layers; l++) {
    const hr_layer_t *L = hr_model_param_layer(m, l);
    if (k++ == t) { *first = L->offset_w; *count = L->nweight; return 1; }
    if (L->nbias && k++ == t) { *first = L->offset_b; *count = L->nbias; return 1; }
  }
  return 0;
}

static int64_t tensor_count(const hr_model_t *m) {
  int64_t k = 0;
  for (int l = 0; l < m->nparam_layers; l++)
    k += 1 + (hr_model_param_layer(m, l)->nbias > 0);
  return k;
}

static int parse_index(const char *text, int64_t *v) {
  char *end;
  errno = 0;
  long long x = strtoll(text, &end, 10);
  if (errno || end == text || x < 0) return 0;
  *v = x;
  return end - text;
}

/* One item of --params (FIRST:LAST tensors) into *blk; the characters it
 * used, or 0 if it is not one. */
static int parse_tensor_range(const hr_model_t *m, const char *text,
                              hr_hessian_block_t *blk) {
  int64_t a, b, n = tensor_count(m);
  int ua = parse_index(text, &a), ub = 0;
  if (ua && text[ua] == ':') ub = parse_index(text + ua + 1, &b);
  if (!ua || !ub || a > b || b >= n) return 0;
  int64_t f0, c0, f1, c1;
  tensor_range(m, a, &f0, &c0);
  tensor_range(m, b, &f1, &c1);
  blk->first = f0;
  blk->count = f1 + c1 - f0;
  snprintf(blk->desc, sizeof blk->desc, "block of tensors %lld:%lld",
           (long long)a, (long long)b);
  return ua + 1 + ub;
}

/* One item of --block into *blk: a layer's index L, or a PyTorch name
 * (layer1.0.conv1.weight, layer1.0.conv1, layer1).  *used: the characters
 * it took, 0 if an index is out of range. */
static int parse_block_item(const hr_model_t *m, const char *text,
                            hr_hessian_block_t *blk, int *used) {
  int64_t a = -1;
  int len = (int)strcspn(text, ","), digits = parse_index(text, &a);
  *used = 0;
  if (!len) return HR_OK; /* an empty item */
  if (digits == len) {
    if (a >= m->nparam_layers) return HR_OK;
    const hr_layer_t *L = hr_model_param_layer(m, (int)a);
    blk->first = L->offset_w;
    blk->count = L->nweight + L->nbias;
    snprintf(blk->desc, sizeof blk->desc, "block of layer %lld", (long long)a);
    *used = len;
    return HR_OK;
  }
  char name[sizeof blk->desc - 16];
  if (len >= (int)sizeof name)
    HR_FAIL(HR_ERR_USAGE, "--block: the name '%.*s' is too long", len, text);
  snprintf(name, sizeof name, "%.*s", len, text);
  HR_CHECK(hr_model_named_params(m, name, &blk->first, &blk->count));
  snprintf(blk->desc, sizeof blk->desc, "block of %s", name);
  *used = len;
  return HR_OK;
}

/* A block is formed by `dense` from its own columns, or, where G G^T stays
 * exact (--part gn, logistic H), by `gram` from G restricted to the
 * block's tensors; auto takes gram when rows x C is below every block's
 * order.  The input-span and low-rank shortcuts are not a block's. */
static int resolve_block_method(hr_ctx_t *ctx, hr_hessian_t *h) {
  const hr_options_t *o = ctx->opts;
  int64_t smallest = h->blocks[0].count;
  for (int i = 1; i < h->nblocks; i++)
    if (h->blocks[i].count < smallest) smallest = h->blocks[i].count;
  int rc = HR_OK;
  h->method = (hr_method_t)o->method;
  if (h->method == HR_METHOD_AUTO)
    h->method = gram_exact(h) && h->batch * h->classes < smallest
                    ? HR_METHOD_GRAM : HR_METHOD_DENSE;
  if (h->method == HR_METHOD_GRAM && !gram_exact(h))
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--method gram is exact only for the Gauss-Newton part "
                      "(--part gn) or logistic regression; use --method dense");
  else if (h->method != HR_METHOD_GRAM && h->method != HR_METHOD_DENSE)
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--block and --params are solved by the dense or the "
                      "gram method: leave --method out");
  return hr_agree(ctx->world, rc);
}

/* --block L[,L...] or --params A:B[,C:D...]: the blocks to solve, the
 * first of them current (h->block_*). */
static int resolve_block(const hr_options_t *o, hr_hessian_t *h) {
  h->block_first = h->block_count = 0;
  h->nblocks = 0;
  if (!o->block[0] && !o->params[0]) return HR_OK;
  if (o->block[0] && o->params[0])
    HR_FAIL(HR_ERR_USAGE, "--block and --params name the same thing two "
            "ways: give one");
  const hr_model_t *m = &h->model;
  int layer = o->block[0] != 0;
  const char *list = layer ? o->block : o->params, *at = list;
  for (;;) {
    if (h->nblocks == HR_HESSIAN_MAX_BLOCKS)
      HR_FAIL(HR_ERR_USAGE, "%s %s: at most %d blocks in one run",
              layer ? "--block" : "--params", list, HR_HESSIAN_MAX_BLOCKS);
    hr_hessian_block_t *blk = &h->blocks[h->nblocks];
    int used = 0;
    if (layer)
      HR_CHECK(parse_block_item(m, at, blk, &used));
    else
      used = parse_tensor_range(m, at, blk);
    if (!used || (at[used] && at[used] != ','))
      HR_FAIL(HR_ERR_USAGE, layer ? "--block %s: layers with parameters, 0 "
              "to %lld, or their PyTorch names, separated by commas" : "--params %s: FIRST:LAST of "
              "the model's parameter tensors (0 to %lld, in "
              "model.parameters() order), separated by commas", list,
              (long long)(layer ? m->nparam_layers - 1 : tensor_count(m) - 1));
    h->nblocks++;
    if (!at[used]) break;
    at += used + 1;
  }
  if (h->nblocks > 1 && o->eigenvectors)
    HR_FAIL(HR_ERR_USAGE, "--eigenvectors takes one block: give one --block "
            "or --params range");
  hr_hessian_select_block(h, 0);
  return HR_OK;
}

/* --slq M,K: M Lanczos steps (1 to 1000, at most N) for each of K probes. */
static int resolve_slq(const hr_options_t *o, hr_hessian_t *h) {
  h->slq_steps = h->slq_probes = 0;
  if (!o->slq[0]) return HR_OK;
  int64_t m = 0, k = 0;
  int um = parse_index(o->slq, &m), uk = 0;
  if (um && o->slq[um] == ',') uk = parse_index(o->slq + um + 1, &k);
  if (!um || !uk || o->slq[um + 1 + uk] || m < 1 || m > 1000 || k < 1 || k > 1000)
    HR_FAIL(HR_ERR_USAGE, "--slq %s: M,K with M Lanczos steps and K probes, "
            "each 1 to 1000 (PyHessian's defaults are 100,1)", o->slq);
  if (m > h->model.nparams)
    HR_FAIL(HR_ERR_USAGE, "--slq %s: %lld Lanczos steps for a Hessian of order "
            "%lld (at most N)", o->slq, (long long)m, (long long)h->model.nparams);
  if (h->block_count)
    HR_FAIL(HR_ERR_USAGE, "--slq estimates the density of all of H: it does "
            "not combine with --block or --params");
  h->slq_steps = (int)m;
  h->slq_probes = (int)k;
  return HR_OK;
}

static int setup(hr_ctx_t *ctx, hr_hessian_t *h) {
  const hr_options_t *o = ctx->opts;
  h->part = (hr_part_t)o->part;
  hr_options_hessian_setup(o, &h->setup);
  HR_CHECK(hr_hessian_prepare(ctx, h));
  HR_CHECK(plan_spectra(ctx, h));
  HR_CHECK(hr_agree(ctx->world, resolve_block(o, h)));
  HR_CHECK(hr_agree(ctx->world, resolve_slq(o, h)));
  /* The shortcuts solve other matrices (G G^T, a projection, a smaller
   * model) whose eigenvectors are not H's. */
  if (o->eigenvectors) {
    if (o->method != HR_METHOD_AUTO && o->method != HR_METHOD_DENSE)
      HR_CHECK(hr_agree(ctx->world, hr_error_set(
          HR_ERR_USAGE, __FILE__, __LINE__, __func__, "--eigenvectors are "
          "solved by the dense method: leave --method out")));
    h->method = HR_METHOD_DENSE;
    return HR_OK;
  }
  return h->block_count ? resolve_block_method(ctx, h) : resolve_method(ctx, h);
}

/* ---- one spectrum: the rows, their labels, the loss ---------------------- */

/* Mean per-sample loss over the spectrum's rows (a record, whatever the
 * reduction). */
static int batch_loss(const hr_hessian_t *h, MPI_Comm comm, int64_t rows,
                      double *loss) {
  hr_model_work_t *w;
  int64_t chunk = h->data.count < 256 ? (h->data.count ? h->data.count : 1) : 256;
  HR_CHECK(hr_agree(comm, hr_model_work_create(&h->model, chunk, 1, &w)));
  double total = 0;
  for (int64_t i = 0; i < h->data.count; i += chunk) {
    int64_t c = h->data.count - i < chunk ? h->data.count - i : chunk;
    hr_samples_t s = hr_hessian_samples(h, i, c);
    double part;
    hr_model_loss_grad(&h->model, h->theta, &s, w, &part, NULL);
    total += part;
  }
  hr_model_work_free(w);
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_DOUBLE, MPI_SUM, comm));
  *loss = total / (double)rows;
  return HR_OK;
}

/* Count of |l| above the precision's noise level: the numerical rank. */
static double numerical_rank(const double *v, int64_t n, hr_precision_t p) {
  double cut = hr_zero_cut(v, n, p == HR_PRECISION_DOUBLE ? DBL_EPSILON
                                                          : FLT_EPSILON);
  int64_t r = 0;
  for (int64_t i = 0; i < n; i++) r += fabs(v[i]) > cut;
  return (double)r;
}

/* Blocks 1, 2, ... of --block / --params into their extras (blocks/1,
 * ...); the row's H v and asymmetry checks become the worst over all of
 * its blocks.  Block 0 is current again afterwards. */
static int further_blocks(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                          double *checks) {
  int rc = HR_OK;
  for (int i = 1; i < h->nblocks && rc == HR_OK; i++) {
    double more[HR_SPECTRA_MAX_CHECKS];
    for (int c = 0; c < HR_SPECTRA_MAX_CHECKS; c++) more[c] = NAN;
    hr_hessian_select_block(h, i);
    double *evals = run->extra +
                    hr_spectra_extras_offset(&run->extras, h->block_extra + i - 1);
    rc = h->method == HR_METHOD_GRAM
             ? hr_hessian_gram(ctx, run, h, (int64_t)checks[HR_CHECK_ROWS], evals, more)
             : hr_hessian_dense_block(ctx, run, h, evals, more);
    checks[HR_CHECK_HV] = fmax(checks[HR_CHECK_HV], more[HR_CHECK_HV]);
    checks[HR_CHECK_ASYM] = fmax(checks[HR_CHECK_ASYM], more[HR_CHECK_ASYM]);
  }
  hr_hessian_select_block(h, 0);
  return rc;
}

/* The residuals and overlaps of the eigenvectors the solve left. */
static int vector_checks(hr_ctx_t *ctx, hr_run_t *run, const hr_hessian_t *h,
                         const double *evals) {
  hr_hessian_problem_t pb = hr_hessian_problem(h);
  const hr_spectra_extras_t *x = &run->extras;
  hr_timer_start(&ctx->timer, HR_PHASE_CHECK);
  int rc = hr_hessian_apply_vectors(&pb, run, h->block_first);
  if (rc == HR_OK)
    rc = hr_hessian_vector_overlaps(
        &pb, run, h->block_first, h->classes,
        run->extra + hr_spectra_extras_offset(x, h->overlap_extra),
        run->extra + hr_spectra_extras_offset(x, h->overlap_extra + 1));
  hr_timer_stop(&ctx->timer, HR_PHASE_CHECK);
  if (rc == HR_OK) rc = hr_run_vector_extras(run, evals);
  return rc;
}

static int solve_spectrum(hr_ctx_t *ctx, hr_run_t *run, int64_t k,
                          double *evals, double *checks, void *user) {
  hr_hessian_t *h = user;
  int64_t first = h->first_row + k * h->batch;
  int64_t count = h->rows - first < h->batch ? h->rows - first : h->batch;
  if (count < run->grid.size)
    HR_CHECK(hr_agree(run->grid.comm, hr_error_set(
        HR_ERR_INPUT, __FILE__, __LINE__, __func__,
        "spectrum %lld has %lld rows but its group has %d ranks: every rank "
        "needs at least one row; use fewer ranks or more --groups",
        (long long)k, (long long)count, run->grid.size)));
  HR_CHECK(hr_hessian_load(ctx, run->grid.comm, h, first, count));
  HR_CHECK(hr_hessian_check_labels(h, run->grid.comm));
  HR_CHECK(batch_loss(h, run->grid.comm, count, &checks[HR_CHECK_LOSS]));
  h->scale = ctx->opts->reduction == HR_REDUCTION_MEAN ? 1.0 / (double)count : 1.0;
  checks[HR_CHECK_ROWS] = (double)count;
  switch (h->method) {
    case HR_METHOD_GRAM: HR_CHECK(hr_hessian_gram(ctx, run, h, count, evals, checks)); break;
    case HR_METHOD_LOWRANK: HR_CHECK(hr_hessian_lowrank(ctx, run, h, k, evals, checks)); break;
    case HR_METHOD_REDUCED: HR_CHECK(hr_hessian_reduced(ctx, run, h, count, evals, checks)); break;
    default:
      HR_CHECK(h->block_count ? hr_hessian_dense_block(ctx, run, h, evals, checks)
                              : hr_hessian_dense(ctx, run, h, evals, checks));
      break;
  }
  if (h->nblocks > 1) HR_CHECK(further_blocks(ctx, run, h, checks));
  if (run->evec_k) HR_CHECK(vector_checks(ctx, run, h, evals));
  if (h->slq_steps) {
    const hr_spectra_extras_t *x = &run->extras;
    HR_CHECK(hr_hessian_slq(ctx, run, h, k, h->slq_steps, h->slq_probes,
                            run->extra + hr_spectra_extras_offset(x, h->slq_extra),
                            run->extra + hr_spectra_extras_offset(x, h->slq_extra + 1)));
  }
  if (isnan(checks[HR_CHECK_RANK]))
    checks[HR_CHECK_RANK] = numerical_rank(evals, run->n,
                                           (hr_precision_t)ctx->opts->precision);
  return HR_OK;
}

/* ---- plan, provenance, the command ---------------------------------------- */

/* The datasets of blocks 1, 2, ... of a run of several (block 0's is
 * hessian_evals). */
static const char *const block_names[HR_HESSIAN_MAX_BLOCKS] = {
    "hessian_evals", "blocks/1", "blocks/2", "blocks/3", "blocks/4", "blocks/5"};

/* The per-row datasets beside the eigenvalues: the Lanczos estimate's
 * nodes and weights, the eigenvectors' overlaps (the run layer adds the
 * vectors and their residuals). */
static int add_extras(hr_run_t *run, hr_hessian_t *h) {
  hr_spectra_extras_t *x = &run->extras;
  for (int i = 1; i < h->nblocks; i++) {
    int at = hr_spectra_extras_add(x, block_names[i], 1, h->blocks[i].count);
    if (at < 0) return HR_ERR_INTERNAL;
    if (i == 1) h->block_extra = at;
  }
  if (h->slq_steps) {
    int64_t mk = (int64_t)h->slq_steps * h->slq_probes;
    h->slq_extra = hr_spectra_extras_add(x, "slq_nodes", 1, mk);
    if (h->slq_extra < 0 || hr_spectra_extras_add(x, "slq_weights", 1, mk) < 0)
      return HR_ERR_INTERNAL;
  }
  if (run->evec_k) {
    h->overlap_extra = hr_spectra_extras_add(x, "evec_overlap_gradient", 1,
                                             2 * run->evec_k);
    if (h->overlap_extra < 0 ||
        hr_spectra_extras_add(x, "evec_overlap_classes", 1, 2 * run->evec_k) < 0)
      return HR_ERR_INTERNAL;
  }
  return HR_OK;
}

int64_t hr_hessian_memory(const hr_ctx_t *ctx, const hr_run_t *run,
                          const hr_hessian_t *h, char *breakdown, size_t len) {
  hr_precision_t prec = (hr_precision_t)ctx->opts->precision;
  int64_t N = h->model.nparams, C = h->classes;
  int64_t slice = (h->batch + run->grid.size - 1) / run->grid.size;
  int64_t data = slice * (h->dim + 1 + (ctx->opts->targets[0] ? C : 0)) * 8;
  int64_t order = h->block_count ? h->block_count : N, build = 0;
  for (int i = 1; i < h->nblocks; i++)
    if (h->blocks[i].count > order) order = h->blocks[i].count;
  int64_t width = run->nblk * run->grid.npcol;
  if (h->method == HR_METHOD_GRAM) {
    /* layer-wise rows (mine and all), K and its two factors; then the
     * serial solve's dsyevd workspace, or K distributed */
    int64_t m = h->batch * C, dw = hr_model_gn_delta_width(&h->model);
    int64_t aw = hr_model_gn_input_width(&h->model);
    build = ((slice * C + m) * dw + (slice + h->batch) * aw + 2 * m * m +
             h->batch * h->batch) * 8;
    order = m > HR_GRAM_SERIAL_MAX ? m : 0;
    if (!order) build += (1 + 6 * m + 2 * m * m) * 8;
  } else if (h->method == HR_METHOD_LOWRANK) {
    order = 0;                                      /* nothing distributed */
    build = (N * (N / 2) + 3 * N * 128 + (N / 2) * (N / 2)) * 8 +
            hr_model_work_bytes(&h->model, 64, 128);
  } else if (hr_model_is_logistic(&h->model)) {     /* Kronecker panels */
    build = hr_assemble_workspace_bytes(N, run->nblk, run->grid.npcol) +
            slice * (C * C + 64 + 1) * 8;
  } else {               /* unit-direction HVPs, of the reduced model or H's */
    if (h->method == HR_METHOD_REDUCED) {
      int64_t dx = hr_model_reduce_width(&h->model);
      int64_t k = h->batch < dx ? h->batch : dx;
      order = hr_hessian_reduced_order(h, h->batch);
      /* gathered x~, Q, my rows' x~ and reduced rows, reduced theta */
      build = (h->batch * dx + dx * k + slice * (dx + k) + order) * 8;
    }
    build += hr_assemble_workspace_bytes(order, run->nblk, run->grid.npcol) +
             2 * order * width * 8 + hr_model_work_bytes(&h->model, 128, width);
    int f = hr_model_first_linear(&h->model);
    if (f >= 0) {  /* the first layer's curvatures M_s and weighted rows */
      int64_t h1 = h->model.layer[f].out.c;
      build += slice * (h1 * h1 + 64 + 1) * 8;
    }
  }
  int64_t matrix = order ? hr_dmat_local_bytes(order, order, run->nblk, prec,
                                               &run->grid) : 0;
  int64_t solver = order ? hr_eigensolver_workspace_bytes(
                               run->solver, order, run->nblk, prec, &run->grid)
                         : 0;
  /* the asymmetry check and ELPA's mirrored triangle: one row strip */
  int64_t strip = order ? hr_dmat_local_bytes(run->nblk * run->grid.nprow,
                                              order, run->nblk, prec, &run->grid)
                        : 0;
  /* Building, the checks and the solve come one after another beside the
   * matrix and the data. */
  int64_t phase = build > solver ? build : solver;
  if (strip > phase) phase = strip;
  /* after the solve, one after another: the Lanczos basis of --slq, the
   * class gradients of --eigenvectors' overlaps */
  int64_t after = 0;
  if (h->slq_steps)
    after = ((int64_t)h->slq_steps * (N + h->slq_steps + 4) + N) * 8 +
            hr_model_work_bytes(&h->model, 128, 1);
  if (run->evec_k) {
    int64_t overlaps = (h->classes + 2) * N * 8 + hr_model_work_bytes(&h->model, 64, 16) +
                       2 * 16 * N * 8;
    if (overlaps > after) after = overlaps;
  }
  if (after > phase) phase = after;
  int64_t need = HR_MEMORY_BASELINE + data + matrix + phase + 6 * N * 8;
  if (h->method == HR_METHOD_LOWRANK) {
    /* Past rank N/2 it falls back to dense, which must fit too. */
    hr_hessian_t dense = *h;
    dense.method = HR_METHOD_DENSE;
    char unused[512];
    int64_t fallback = hr_hessian_memory(ctx, run, &dense, unused, sizeof unused);
    if (fallback > need) {
      snprintf(breakdown, len, "the dense fallback's: %s", unused);
      return fallback;
    }
  }
  char a[32], b[32], c[32], d[32];
  if (HR_MEMORY_BASELINE + h->pass_bytes > need) {
    snprintf(breakdown, len, "the set-up pass over the whole dataset (largest "
             "label or --standardize): %s of rows",
             hr_format_bytes((double)h->pass_bytes, a, sizeof a));
    return HR_MEMORY_BASELINE + h->pass_bytes;
  }
  snprintf(breakdown, len, "data slice %s, matrix of order %lld %s, then the "
           "largest of the solver's workspace %s and the %s workspace %s",
           hr_format_bytes((double)data, d, sizeof d),
           (long long)order, hr_format_bytes((double)matrix, a, sizeof a),
           hr_format_bytes((double)solver, b, sizeof b),
           hr_method_names[h->method], hr_format_bytes((double)build, c, sizeof c));
  return need;
}

static int64_t plan_need(const hr_ctx_t *ctx, const hr_run_t *run,
                         const void *user, char *breakdown, size_t len) {
  return hr_hessian_memory(ctx, run, user, breakdown, len);
}

/* The flop model behind --method auto, one line per method that applies. */
static void print_flops(const hr_ctx_t *ctx, const hr_hessian_t *h) {
  if (ctx->rank != 0 || ctx->opts->quiet) return;
  method_cost_t c[HR_N_METHODS];
  method_costs(h, c);
  char name[32], guess[64];
  snprintf(guess, sizeof guess, " (rank guessed: %.0f B C)",
           lowrank_rank_factor(&h->model));
  fprintf(stderr, "hessrmt hessian: per spectrum (%lld spectra), GFLOP to "
          "form + to solve ((4/3) order^3):\n", (long long)h->count);
  for (int k = HR_METHOD_DENSE; k < HR_N_METHODS; k++) {
    if (!c[k].applies) continue;
    fprintf(stderr, "  %-8s %10.3g + %-10.3g order %.0f%s%s\n",
            hr_choice_name(HR_METHOD_NAMES, k, name, sizeof name),
            c[k].form / 1e9, c[k].solve / 1e9, c[k].order,
            k == HR_METHOD_LOWRANK ? guess : "",
            k == (int)h->method ? "  <- used" : "");
  }
}

static int write_attributes(hr_run_t *run, const hr_hessian_t *h,
                            const hr_options_t *o) {
  char model[1024], method[32], part[32];
  hr_model_describe(&h->model, model, sizeof model);
  hr_spectra_file_t *f = &run->file;
  HR_CHECK(hr_spectra_attr_string(f, NULL, "model", model));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "model_spec", h->model.spec));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "data", o->data));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "method_used",
                                  hr_choice_name(HR_METHOD_NAMES, h->method,
                                                 method, sizeof method)));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "part",
                                  hr_choice_name(HR_PART_CHOICES, h->part,
                                                 part, sizeof part)));
  HR_CHECK(hr_spectra_attr_int(f, "parameters", h->model.nparams));
  HR_CHECK(hr_spectra_attr_int(f, "data_rows", h->rows));
  HR_CHECK(hr_spectra_attr_int(f, "features", h->dim));
  HR_CHECK(hr_spectra_attr_int(f, "classes", h->classes));
  HR_CHECK(hr_spectra_attr_int(f, "batch_size", h->batch));
  HR_CHECK(hr_spectra_attr_int(f, "first_row", h->first_row));
  if (h->slq_steps) {
    HR_CHECK(hr_spectra_attr_int(f, "slq_steps", h->slq_steps));
    HR_CHECK(hr_spectra_attr_int(f, "slq_probes", h->slq_probes));
  }
  if (h->nblocks > 1) {
    char list[HR_HESSIAN_MAX_BLOCKS * 200] = "";
    size_t used = 0;
    for (int i = 0; i < h->nblocks && used < sizeof list; i++) {
      used += (size_t)snprintf(list + used, sizeof list - used,
                               "%s%s: %s, parameters %lld..%lld", i ? "; " : "",
                               block_names[i], h->blocks[i].desc,
                               (long long)h->blocks[i].first,
                               (long long)(h->blocks[i].first + h->blocks[i].count - 1));
    }
    HR_CHECK(hr_spectra_attr_string(f, NULL, "blocks", list));
  }
  if (h->block_count) {
    HR_CHECK(hr_spectra_attr_string(f, NULL, "block", h->block_desc));
    HR_CHECK(hr_spectra_attr_int(f, "block_first", h->block_first));
    HR_CHECK(hr_spectra_attr_int(f, "block_count", h->block_count));
  }
  return hr_spectra_flush(f);
}

static int run_hessian(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(setup(ctx, h));
  /* Gram, low-rank and reduced spectra of a batch are small problems: a
   * rank alone solves one fastest, so by default every rank takes its own
   * batches. */
  if (h->method == HR_METHOD_GRAM || h->method == HR_METHOD_LOWRANK ||
      (h->method == HR_METHOD_REDUCED && !h->all))
    run->groups_auto = (int)(h->count < ctx->size ? h->count : ctx->size);
  HR_CHECK(hr_run_layout(ctx, h->block_count ? h->block_count : h->model.nparams, run));
  char breakdown[512], what[1400], model[1024], method[32];
  int64_t need = 0;
  HR_CHECK(hr_run_plan_memory(ctx, run, plan_need, h, &need, breakdown,
                              sizeof breakdown));
  /* The rows each spectrum really has: the last batch may be short. */
  int64_t end = h->first_row + h->count * h->batch;
  int64_t last = h->batch - (end > h->rows ? end - h->rows : 0);
  char short_last[64] = "";
  if (!h->all && last < h->batch)
    snprintf(short_last, sizeof short_last, " (the last of %lld)", (long long)last);
  char block[200] = "";
  if (h->block_count)
    snprintf(block, sizeof block, ", its %s: parameters %lld..%lld, order %lld",
             h->block_desc, (long long)h->block_first,
             (long long)(h->block_first + h->block_count - 1),
             (long long)h->block_count);
  if (h->nblocks > 1) {
    size_t used = strlen(block);
    snprintf(block + used, sizeof block - used, ", and %d more blocks (blocks/1..%d)",
             h->nblocks - 1, h->nblocks - 1);
  }
  snprintf(what, sizeof what, "%lld spectr%s of %s (N = %lld%s) over %lld rows%s "
           "of %s, method %s", (long long)h->count, h->count == 1 ? "um" : "a",
           hr_model_describe(&h->model, model, sizeof model),
           (long long)h->model.nparams, block, (long long)(h->all ? h->rows : h->batch),
           short_last, o->data, hr_choice_name(HR_METHOD_NAMES, h->method,
                                               method, sizeof method));
  if (o->dry_run) {
    hr_run_print_plan(ctx, run, what, need);
    if (ctx->rank == 0) fprintf(stderr, "hessrmt hessian: memory: %s\n", breakdown);
    print_flops(ctx, h);
    return HR_OK;
  }
  HR_CHECK(hr_run_check_memory(ctx, run, need, breakdown));
  hr_run_print_plan(ctx, run, what, need);
  HR_CHECK(hr_agree(ctx->world, add_extras(run, h)));
  HR_CHECK(hr_run_open(ctx, run, h->count, check_names, HR_N_CHECKS));
  if (!o->resume) HR_CHECK(write_attributes(run, h, o));
  HR_CHECK(hr_run_problems(ctx, run, solve_spectrum, h));
  HR_CHECK(hr_run_finish(ctx, run));
  return hr_run_report(ctx, run, NULL);
}

int hr_cmd_hessian(hr_ctx_t *ctx) {
  hr_hessian_t h;
  memset(&h, 0, sizeof h);
  hr_run_t run;
  hr_run_init(&run);
  hr_options_run_settings(ctx->opts, &run.set);
  run.with_stats = !ctx->opts->no_stats;
  hr_options_stats_job(ctx->opts, &run.stats);
  hr_timer_start(&ctx->timer, HR_PHASE_TOTAL);
  int rc = run_hessian(ctx, &run, &h);
  hr_run_free(&run);
  if (h.loaded) hr_dataset_free(&h.data);
  free(h.targets);
  free(h.theta);
  hr_preprocess_free(&h.prep);
  return rc;
}
