/* The one driver of every model (see model.h): forward, loss, backward
 * (gradient), the R-operator's forward and backward passes (Hessian-vector
 * products), and the Gauss-Newton factor rows, over the nodes of a graph
 * in their order (a topological one: a node reads only values made before
 * it).  Each node's arithmetic is its operation's (layers.h, hr_op_t).
 *
 * Notation: node i reads the values src[i] and makes value i + 1 (value 0
 * = x, the last value = f); delta[t] = dloss/dvalue[t], summed over the
 * nodes that read value t; R{.} is the directional derivative along v,
 * Pearlmutter (1994), "Fast exact multiplication by the Hessian".  For a
 * node with parameters z = F(a; W) + b (bilinear in a and W):
 *   R{z}       = F(R{a}; W) + F(a; V_W) + V_b
 *   HV_W      += vjp_W(R{delta_z}, a)  +  vjp_W(delta_z, R{a})      [H1]
 *   R{delta_a} = vjp_a(R{delta_z}; W)  +  vjp_a(delta_z; V_W)       [H1]
 * and for a node with a second derivative of its own in its input (the
 * smooth activations, LayerNorm), a' = s(z):
 *   R{delta_z} = s'(z)^T R{delta_a'}   +  (s''(z) R{z})^T delta_a'   [H1]
 * The [H1] terms carry the backpropagated residual; dropping them, and
 * starting from R{delta_f} = Lambda R{f}, gives H0 = J^T Lambda J; keeping
 * only them (R{delta_f} = 0) gives H1.  The Gauss-Newton factor's rows are
 * the same backward pass started from the columns of Lambda's factor. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "layers.h"

/* Doubles of R-operator buffers per direction block: the block of
 * directions is sized so that these stay within it. */
enum { R_BUDGET_DOUBLES = 1 << 24 }; /* 128 MiB */
enum { NV = HR_MAX_LAYERS + 1 };    /* values */

struct hr_model_work {
  int64_t max_s, kb;        /* samples; directions per R-operator block */
  double *act[NV], *delta[NV], *ract[NV], *rdelta[NV];
  int live[NV];             /* ract[t] is not identically zero */
  int wrote[NV];            /* this backward pass has written delta/rdelta[t] */
  double *patches[HR_MAX_LAYERS]; /* conv node i: patches of its input */
  double *cache[HR_MAX_LAYERS];   /* norm node i: x^ (and LayerNorm's s) */
  int32_t *argmax[HR_MAX_LAYERS]; /* max pooling node i */
  double *scratch;          /* blocked conv GEMMs, the norms' rows */
  double *p, *factor;       /* softmax probabilities (S x C); one M (C x C) */
  double *block;
  int32_t *iblock;
};

/* ---- the graph's shape -------------------------------------------------------- */

static int64_t size_at(const hr_model_t *m, int t) {
  hr_shape_t s = t == 0 ? m->input : m->layer[t - 1].out;
  return s.c * s.h * s.w;
}

static int nsrc(const hr_layer_t *L) { return L->src[1] >= 0 ? 2 : 1; }

int hr_graph_consumers(const hr_model_t *m, int t) {
  int n = 0;
  for (int i = 0; i < m->nlayers; i++)
    for (int j = 0; j < nsrc(&m->layer[i]); j++) n += m->layer[i].src[j] == t;
  return n;
}

/* A flatten's forward values are its input's; its other buffers too when
 * it is its input's only reader (its deltas are then the input's). */
static int act_aliased(const hr_model_t *m, int t) {
  return t >= 1 && m->layer[t - 1].kind == HR_LAYER_FLATTEN;
}

static int aliased(const hr_model_t *m, int t) {
  if (!act_aliased(m, t)) return 0;
  int s = m->layer[t - 1].src[0];
  return s >= 1 && hr_graph_consumers(m, s) == 1;
}

static int has_params(const hr_layer_t *L) { return L->nweight + L->nbias > 0; }

static int64_t directions_per_block(const hr_model_t *m, int64_t S, int64_t K) {
  int64_t per = 0;
  for (int t = 1; t <= m->nlayers; t++)
    if (!aliased(m, t)) per += 2 * S * size_at(m, t);
  int64_t kb = R_BUDGET_DOUBLES / (per > 0 ? per : 1);
  if (kb < 1) kb = 1;
  return kb < K ? kb : K;
}

/* ---- workspace ------------------------------------------------------------------ */

/* Doubles (and int32s) needed; with base, the pointers laid out. */
static int64_t layout(const hr_model_t *m, int64_t S, int64_t K,
                      hr_model_work_t *w, double *base, int32_t *ibase,
                      int64_t *ints) {
  int64_t used = 0, iused = 0, C = m->outputs, kb = directions_per_block(m, S, K);
  int64_t rows = kb * S > S ? kb * S : S, scratch = 0;
#define TAKE(ptr, n)                \
  do {                              \
    if (base) (ptr) = base + used;  \
    used += (n);                    \
  } while (0)
  for (int t = 1; t <= m->nlayers; t++) {
    int64_t d = size_at(m, t);
    if (!act_aliased(m, t)) TAKE(w->act[t], S * d);
    if (aliased(m, t)) continue;
    TAKE(w->delta[t], S * d);
    TAKE(w->ract[t], kb * S * d);
    TAKE(w->rdelta[t], kb * S * d);
  }
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (L->kind == HR_LAYER_CONV) {
      TAKE(w->patches[i], S * hr_affine_positions(L) * hr_affine_patch_width(L));
      int64_t need = hr_affine_scratch(L, rows);
      scratch = need > scratch ? need : scratch;
    }
    if (hr_node_cache_width(L)) {
      TAKE(w->cache[i], S * hr_node_cache_width(L));
      scratch = hr_norm_scratch(L) > scratch ? hr_norm_scratch(L) : scratch;
    }
    if (L->kind == HR_LAYER_MAXPOOL) {
      if (ibase) w->argmax[i] = ibase + iused;
      iused += S * size_at(m, i + 1);
    }
  }
  TAKE(w->scratch, scratch);
  TAKE(w->p, S * C);
  TAKE(w->factor, C * C);
#undef TAKE
  if (base) w->kb = kb;
  *ints = iused;
  return used;
}

int64_t hr_model_work_bytes(const hr_model_t *m, int64_t max_samples,
                            int64_t max_dirs) {
  hr_model_work_t *w = calloc(1, sizeof *w);
  if (!w) return 0;
  int64_t ints;
  int64_t n = layout(m, max_samples, max_dirs, w, NULL, NULL, &ints);
  free(w);
  return n * (int64_t)sizeof(double) + ints * (int64_t)sizeof(int32_t);
}

int hr_model_work_create(const hr_model_t *m, int64_t max_samples,
                         int64_t max_dirs, hr_model_work_t **out) {
  hr_model_work_t *w = calloc(1, sizeof *w);
  int64_t ints = 0;
  int64_t n = w ? layout(m, max_samples, max_dirs, w, NULL, NULL, &ints) : 0;
  double *block = w ? calloc((size_t)n + 1, sizeof *block) : NULL;
  int32_t *iblock = block ? calloc((size_t)ints + 1, sizeof *iblock) : NULL;
  if (!iblock) {
    free(block);
    free(w);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the model workspace (%lld "
            "bytes)", (long long)(n * 8 + ints * 4));
  }
  layout(m, max_samples, max_dirs, w, block, iblock, &ints);
  w->block = block;
  w->iblock = iblock;
  w->max_s = max_samples;
  *out = w;
  return HR_OK;
}

void hr_model_work_free(hr_model_work_t *w) {
  if (!w) return;
  free(w->block);
  free(w->iblock);
  free(w);
}

/* Point the aliased buffers (flatten) at their sources, and act[0] at x. */
static void bind(const hr_model_t *m, hr_model_work_t *w, const double *x) {
  w->act[0] = (double *)x; /* read only */
  for (int t = 1; t <= m->nlayers; t++) {
    int s = m->layer[t - 1].src[0];
    if (act_aliased(m, t)) w->act[t] = w->act[s];
    if (aliased(m, t)) {
      w->delta[t] = w->delta[s];
      w->ract[t] = w->ract[s];
      w->rdelta[t] = w->rdelta[s];
    }
  }
}

/* What node i's operation sees. */
static hr_node_ctx_t node_ctx(const hr_model_t *m, const double *theta,
                              const hr_model_work_t *w, int i, int64_t S) {
  const hr_layer_t *L = &m->layer[i];
  hr_node_ctx_t c = {
      .L = L, .theta = theta, .in = {w->act[L->src[0]], NULL},
      .patches = w->patches[i], .argmax = w->argmax[i], .xhat = w->cache[i],
      .buffer = m->buffer, .scratch = w->scratch, .S = S};
  if (L->src[1] >= 0) c.in[1] = w->act[L->src[1]];
  return c;
}

double hr_model_forward_flops(const hr_model_t *m) {
  double f = 0;
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (L->kind == HR_LAYER_LINEAR || L->kind == HR_LAYER_CONV)
      f += 2.0 * (double)L->nweight * (double)hr_affine_positions(L);
  }
  return f;
}

/* ---- forward and gradient ---------------------------------------------------- */

static void forward(const hr_model_t *m, const double *theta,
                    const hr_samples_t *s, hr_model_work_t *w) {
  bind(m, w, s->x);
  for (int i = 0; i < m->nlayers; i++) {
    hr_node_ctx_t c = node_ctx(m, theta, w, i, s->count);
    hr_node_op(m->layer[i].kind)->forward(&c, w->act[i + 1]);
  }
}

/* rows (R of them) of node i's output back into the values it reads,
 * adding where another reader has written already; values below `lowest`
 * (and the input) are left alone. */
static void back_into_inputs(const hr_model_t *m, const hr_node_ctx_t *c,
                             int i, const double *rows, int64_t R,
                             double **dst, hr_model_work_t *w, int lowest) {
  const hr_layer_t *L = &m->layer[i];
  for (int j = 0; j < nsrc(L); j++) {
    int t = L->src[j];
    if (t < lowest || t < 1) continue;
    hr_node_op(L->kind)->vjp(c, j, rows, R, dst[t], w->wrote[t]);
    w->wrote[t] = 1;
  }
}

static void start_backward(const hr_model_t *m, hr_model_work_t *w) {
  memset(w->wrote, 0, sizeof w->wrote);
  w->wrote[m->nlayers] = 1;
}

static void backward_deltas(const hr_model_t *m, const double *theta,
                            int64_t S, hr_model_work_t *w) {
  start_backward(m, w);
  for (int i = m->nlayers - 1; i >= 1; i--) {
    hr_node_ctx_t c = node_ctx(m, theta, w, i, S);
    back_into_inputs(m, &c, i, w->delta[i + 1], S, w->delta, w, 1);
  }
}

static void accumulate_grad(const hr_model_t *m, const double *theta,
                            int64_t S, hr_model_work_t *w, double *grad) {
  for (int i = 0; i < m->nlayers; i++) {
    if (!has_params(&m->layer[i])) continue;
    hr_node_ctx_t c = node_ctx(m, theta, w, i, S);
    hr_node_op(m->layer[i].kind)->grad(&c, w->delta[i + 1], grad);
  }
}

static double loss_and_deltas(const hr_model_t *m, const double *theta,
                              const hr_samples_t *s, hr_model_work_t *w) {
  forward(m, theta, s, w);
  return hr_loss_eval(m, s, w->act[m->nlayers], w->delta[m->nlayers], w->p);
}

void hr_model_outputs(const hr_model_t *m, const double *theta,
                      const hr_samples_t *s, hr_model_work_t *w, double *f) {
  forward(m, theta, s, w);
  memcpy(f, w->act[m->nlayers], (size_t)(s->count * m->outputs) * sizeof *f);
}

void hr_model_probabilities(const hr_model_t *m, const double *theta,
                            const hr_samples_t *s, hr_model_work_t *w,
                            double *p) {
  int64_t C = m->outputs;
  forward(m, theta, s, w);
  for (int64_t i = 0; i < s->count; i++)
    hr_softmax_row(w->act[m->nlayers] + i * C, C, p + i * C);
}

void hr_model_loss_grad(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w,
                        double *loss, double *grad) {
  *loss = loss_and_deltas(m, theta, s, w);
  if (!grad) return;
  backward_deltas(m, theta, s->count, w);
  accumulate_grad(m, theta, s->count, w, grad);
}

/* ---- R-operator --------------------------------------------------------------- */

/* Nodes first .. end for k directions (V: N x k, column-major; NULL for
 * none: only the directions already in the live values travel on). */
static void r_forward(const hr_model_t *m, const double *theta, int64_t S,
                      const double *V, int64_t k, hr_model_work_t *w,
                      int first) {
  int64_t N = m->nparams;
  for (int i = first; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    const hr_op_t *op = hr_node_op(L->kind);
    hr_node_ctx_t c = node_ctx(m, theta, w, i, S);
    int64_t dout = size_at(m, i + 1);
    double *rz = w->ract[i + 1];
    int any = 0;
    for (int j = 0; j < nsrc(L); j++) {
      int t = L->src[j];
      if (!w->live[t]) continue;
      op->jvp(&c, j, w->ract[t], k * S, rz, any);
      any = 1;
    }
    if (has_params(L) && V) {
      for (int64_t d = 0; d < k; d++)
        op->jvp_param(&c, V + d * N, rz + d * S * dout, any);
      any = 1;
    }
    w->live[i + 1] = any;
  }
}

/* What a backward pass does at each node with parameters, given its R
 * rows: the Hessian-vector products, or the Gauss-Newton rows. */
typedef void (*param_visit_t)(const hr_model_t *m, const hr_node_ctx_t *c,
                              int i, const double *rows, int64_t k, void *ctx);

/* Nodes end .. stop: R{delta} down to rdelta[stop] (stop >= 1), or to the
 * input's readers (stop = 0).  HV (NULL: none wanted) gets the products;
 * visit (NULL: none) sees the rows at each node with parameters. */
static void r_backward(const hr_model_t *m, const double *theta, int64_t S,
                       const double *V, int64_t k, hr_part_t part,
                       hr_model_work_t *w, double *HV, int stop,
                       param_visit_t visit, void *vctx) {
  int residual = part != HR_PART_GN;
  int64_t N = m->nparams;
  start_backward(m, w);
  for (int i = m->nlayers - 1; i >= stop; i--) {
    const hr_layer_t *L = &m->layer[i];
    const hr_op_t *op = hr_node_op(L->kind);
    hr_node_ctx_t c = node_ctx(m, theta, w, i, S);
    const double *rd = w->rdelta[i + 1], *dd = w->delta[i + 1];
    int a = L->src[0];
    int64_t din = size_at(m, a), dout = size_at(m, i + 1);
    if (has_params(L)) {
      for (int64_t d = 0; d < k && HV; d++) {
        op->grad(&c, rd + d * S * dout, HV + d * N);
        if (residual && w->live[a])
          op->cross_grad(&c, dd, w->ract[a] + d * S * din, HV + d * N);
      }
      if (visit) visit(m, &c, i, rd, k, vctx);
    }
    back_into_inputs(m, &c, i, rd, k * S, w->rdelta, w, stop > 1 ? stop : 1);
    if (!residual || a < 1 || a < stop) continue;
    if (has_params(L) && V)
      for (int64_t d = 0; d < k; d++)
        op->cross_back(&c, V + d * N, dd, w->rdelta[a] + d * S * din);
    if (op->curvature && w->live[a])
      op->curvature(&c, w->ract[a], dd, k * S, w->rdelta[a]);
  }
}

void hr_model_hvp(const hr_model_t *m, const double *theta,
                  const hr_samples_t *s, hr_part_t part, const double *V,
                  int64_t k, hr_model_work_t *w, double *HV) {
  int64_t S = s->count, N = m->nparams, Lt = m->nlayers;
  loss_and_deltas(m, theta, s, w);
  backward_deltas(m, theta, S, w);
  for (int64_t d0 = 0; d0 < k; d0 += w->kb) {
    int64_t kb = k - d0 < w->kb ? k - d0 : w->kb;
    const double *Vb = V + d0 * N;
    memset(w->live, 0, sizeof w->live);
    r_forward(m, theta, S, Vb, kb, w, 0);
    hr_loss_curvature(m, w->p, w->ract[Lt], kb * S, S, part, w->rdelta[Lt]);
    r_backward(m, theta, S, Vb, kb, part, w, HV + d0 * N, 0, NULL, NULL);
  }
}

void hr_model_first_curvature(const hr_model_t *m, const double *theta,
                              const hr_samples_t *s, hr_part_t part,
                              hr_model_work_t *w, double *M) {
  int f = hr_model_first_linear(m), Lt = m->nlayers;
  int64_t S = s->count, h = m->layer[f].out.c;
  loss_and_deltas(m, theta, s, w);
  backward_deltas(m, theta, S, w);
  for (int64_t d0 = 0; d0 < h; d0 += w->kb) {
    int64_t kb = h - d0 < w->kb ? h - d0 : w->kb;
    /* direction d: R{z} = e_(d0 + d) at the node's output, every sample;
     * nothing before it depends on the parameters */
    double *rz = w->ract[f + 1];
    memset(rz, 0, (size_t)(kb * S * h) * sizeof *rz);
    for (int64_t d = 0; d < kb; d++)
      for (int64_t i = 0; i < S; i++) rz[(d * S + i) * h + d0 + d] = 1.0;
    memset(w->live, 0, sizeof w->live);
    w->live[f + 1] = 1;
    r_forward(m, theta, S, NULL, kb, w, f + 1);
    hr_loss_curvature(m, w->p, w->ract[Lt], kb * S, S, part, w->rdelta[Lt]);
    r_backward(m, theta, S, NULL, kb, part, w, NULL, f + 1, NULL, NULL);
    const double *rd = w->rdelta[f + 1];
    for (int64_t d = 0; d < kb; d++)
      for (int64_t i = 0; i < S; i++)
        for (int64_t c = 0; c < h; c++)
          M[(i * h + c) * h + d0 + d] = rd[(d * S + i) * h + c];
  }
}

/* ---- Gauss-Newton factor rows ------------------------------------------------- */

typedef struct {
  int64_t k0;               /* the block's first column of M */
  void *out;
} gn_ctx_t;

/* Backpropagate every factor row (k, i) -- column k of M_i, with
 * Lambda_i = M_i M_i^T -- in blocks of directions, and hand each node with
 * parameters to visit with the rows' deltas at its output (row r of a
 * block: k = k0 + r / S, sample r % S). */
static void gn_backprop(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w,
                        param_visit_t visit, void *out) {
  int64_t S = s->count, C = m->outputs;
  loss_and_deltas(m, theta, s, w);
  double *M = w->factor, *top = w->rdelta[m->nlayers];
  for (int64_t k0 = 0; k0 < C; k0 += w->kb) {
    int64_t kb = C - k0 < w->kb ? C - k0 : w->kb;
    for (int64_t i = 0; i < S; i++) {
      hr_loss_factor(m, w->p + i * C, M);
      for (int64_t k = 0; k < kb; k++)
        for (int64_t c = 0; c < C; c++)
          top[(k * S + i) * C + c] = M[c * C + k0 + k];
    }
    gn_ctx_t g = {k0, out};
    r_backward(m, theta, S, NULL, kb, HR_PART_GN, w, NULL, 0, visit, &g);
  }
}

/* Every entry of every row is written (each node's weights and biases),
 * so G needs no clearing. */
static void write_factor_rows(const hr_model_t *m, const hr_node_ctx_t *c,
                              int i, const double *rows, int64_t k, void *ctx) {
  const hr_layer_t *L = c->L;
  gn_ctx_t *g = ctx;
  double *G = g->out;
  int64_t S = c->S, C = m->outputs, N = m->nparams, dout = size_at(m, i + 1);
  for (int64_t r = 0; r < k * S; r++) {
    int64_t j = r % S, kk = g->k0 + r / S;
    double *row = G + (j * C + kk) * N;
    hr_node_op(L->kind)->row_grad(c, rows + r * dout, j,
                                  row + L->offset_w,
                                  L->nbias ? row + L->offset_b : NULL);
  }
}

void hr_model_gn_factor(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w, double *G) {
  gn_backprop(m, theta, s, w, write_factor_rows, G);
}

/* Columns of node i's block in D and in A (A: linear only). */
static int64_t delta_cols(const hr_layer_t *L) {
  return L->kind == HR_LAYER_LINEAR ? L->out.c : L->nweight + L->nbias;
}

static void layer_offsets(const hr_model_t *m, int upto, int64_t *d0, int64_t *a0) {
  *d0 = *a0 = 0;
  for (int i = 0; i < upto; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (!has_params(L)) continue;
    *d0 += delta_cols(L);
    if (L->kind == HR_LAYER_LINEAR) *a0 += L->in.c;
  }
}

int64_t hr_model_gn_delta_width(const hr_model_t *m) {
  int64_t d, a;
  layer_offsets(m, m->nlayers, &d, &a);
  return d;
}

int64_t hr_model_gn_input_width(const hr_model_t *m) {
  int64_t d, a;
  layer_offsets(m, m->nlayers, &d, &a);
  return a;
}

typedef struct {
  double *D, *A;
} gn_layers_t;

static void copy_layer_rows(const hr_model_t *m, const hr_node_ctx_t *c, int i,
                            const double *rows, int64_t k, void *ctx) {
  const hr_layer_t *L = c->L;
  gn_ctx_t *g = ctx;
  gn_layers_t *out = g->out;
  int64_t S = c->S, C = m->outputs, dout = size_at(m, i + 1);
  int64_t dw = hr_model_gn_delta_width(m), aw = hr_model_gn_input_width(m), d0, a0;
  layer_offsets(m, i, &d0, &a0);
  for (int64_t r = 0; r < k * S; r++) {
    int64_t j = r % S, kk = g->k0 + r / S;
    double *row = out->D + (j * C + kk) * dw + d0;
    if (L->kind == HR_LAYER_LINEAR)
      memcpy(row, rows + r * dout, (size_t)dout * sizeof *row);
    else
      hr_node_op(L->kind)->row_grad(c, rows + r * dout, j, row,
                                    L->nbias ? row + L->nweight : NULL);
  }
  if (L->kind == HR_LAYER_LINEAR && g->k0 == 0)
    for (int64_t j = 0; j < S; j++)
      memcpy(out->A + j * aw + a0, c->in[0] + j * L->in.c,
             (size_t)L->in.c * sizeof(double));
}

void hr_model_gn_layers(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w, double *D,
                        double *A) {
  gn_layers_t out = {D, A};
  gn_backprop(m, theta, s, w, copy_layer_rows, &out);
}

/* Whether the parameters [at, at + len) lie inside [first, first + count)
 * (a tensor inside a block; count 0: all of them). */
static int inside(int64_t at, int64_t len, int64_t first, int64_t count) {
  return count == 0 || (at >= first && at + len <= first + count);
}

/* K[r][r'] = sum over linear nodes of (D_l D_l^T)[r][r'] (A_l A_l^T +
 * bias)[i][i'] (i, i' the samples of rows r, r'), plus D_l D_l^T of each
 * other node's whole rows.  Costs sum_l (M^2 width_l + S^2 width_(l-1))
 * flops for the linear nodes instead of the M^2 N of forming G.  A block
 * of whole tensors keeps only their terms: a linear node's weight gives
 * (D D^T) o (A A^T), its bias D D^T; another node's rows of G hold its
 * weight's columns, then its bias's. */
void hr_model_gram_from_layers(const hr_model_t *m, const double *D,
                               const double *A, int64_t S, double scale,
                               int64_t first, int64_t count, double *K,
                               double *Kd, double *Ka) {
  int64_t C = m->outputs, M = S * C;
  int64_t dw = hr_model_gn_delta_width(m), aw = hr_model_gn_input_width(m);
  memset(K, 0, (size_t)(M * M) * sizeof *K);
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (!has_params(L)) continue;
    int weight = L->nweight && inside(L->offset_w, L->nweight, first, count);
    int bias = L->nbias && inside(L->offset_b, L->nbias, first, count);
    if (!weight && !bias) continue;
    int64_t d0, a0;
    layer_offsets(m, i, &d0, &a0);
    if (L->kind != HR_LAYER_LINEAR) {
      int64_t c0 = weight ? 0 : L->nweight;
      int64_t cols = (weight ? L->nweight : 0) + (bias ? L->nbias : 0);
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)M, (int)cols,
                  1.0, D + d0 + c0, (int)dw, 1.0, K, (int)M);
      continue;
    }
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)M, (int)L->out.c,
                1.0, D + d0, (int)dw, 0.0, Kd, (int)M);
    if (weight)
      cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)S, (int)L->in.c,
                  1.0, A + a0, (int)aw, 0.0, Ka, (int)S);
    double w = weight ? 1.0 : 0.0, b = bias ? 1.0 : 0.0;
    for (int64_t r = 0; r < M; r++)
      for (int64_t q = 0; q <= r; q++)
        K[r * M + q] += Kd[r * M + q] * (w * Ka[(r / C) * S + q / C] + b);
  }
  for (int64_t r = 0; r < M; r++)
    for (int64_t q = 0; q <= r; q++) K[r * M + q] *= scale;
}
