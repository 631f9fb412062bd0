/* The passes over a sequential network (see model.h): forward, loss,
 * backward (gradient), the R-operator's forward and backward passes
 * (Hessian-vector products), and the Gauss-Newton factor rows.
 *
 * Notation: layer i maps the tensor act[i] to act[i+1] (act[0] = x,
 * act[L] = f); delta[t] = dloss/dact[t]; R{.} is the directional
 * derivative along v, Pearlmutter (1994), "Fast exact multiplication by
 * the Hessian".  For a layer with parameters z = F(a; W) + b (bilinear in
 * a and W):
 *   R{z}       = F(R{a}; W) + F(a; V_W) + V_b
 *   HV_W      += vjp_W(R{delta_z}, a)  +  vjp_W(delta_z, R{a})      [H1]
 *   R{delta_a} = vjp_a(R{delta_z}; W)  +  vjp_a(delta_z; V_W)       [H1]
 * and for an activation a' = s(z):
 *   R{delta_z} = s'(z) R{delta_a'}     +  s''(z) R{z} delta_a'       [H1]
 * The [H1] terms carry the backpropagated residual; dropping them, and
 * starting from R{delta_f} = Lambda R{f}, gives H0 = J^T Lambda J; keeping
 * only them (R{delta_f} = 0) gives H1.  Pooling and flatten are linear. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "layers.h"

/* Doubles of R-operator buffers per direction block: the block of
 * directions is sized so that these stay within it. */
enum { R_BUDGET_DOUBLES = 1 << 24 }; /* 128 MiB */

struct hr_model_work {
  int64_t max_s, kb;        /* samples; directions per R-operator block */
  double *act[HR_MAX_LAYERS + 1], *delta[HR_MAX_LAYERS + 1];
  double *ract[HR_MAX_LAYERS + 1], *rdelta[HR_MAX_LAYERS + 1];
  int live[HR_MAX_LAYERS + 1]; /* ract[t] is not identically zero */
  double *patches[HR_MAX_LAYERS]; /* conv layer i: patches of act[i] */
  int32_t *argmax[HR_MAX_LAYERS]; /* max pooling layer i */
  double *scratch;          /* blocked conv GEMMs */
  double *g0, *g1;          /* S*C rows of the Gauss-Newton factor */
  double *p, *factor;       /* softmax probabilities (S x C); one M (C x C) */
  double *block;
  int32_t *iblock;
};

/* ---- sizes and workspace ---------------------------------------------------- */

static int64_t size_at(const hr_model_t *m, int t) {
  hr_shape_t s = t == 0 ? m->input : m->layer[t - 1].out;
  return s.c * s.h * s.w;
}

/* Buffers of t >= 2 behind a flatten are those of t - 1. */
static int aliased(const hr_model_t *m, int t) {
  return t >= 2 && m->layer[t - 1].kind == HR_LAYER_FLATTEN;
}

static int is_param(const hr_layer_t *L) {
  return L->kind == HR_LAYER_LINEAR || L->kind == HR_LAYER_CONV;
}

static int64_t max_size(const hr_model_t *m) {
  int64_t d = 0;
  for (int t = 1; t <= m->nlayers; t++) d = size_at(m, t) > d ? size_at(m, t) : d;
  return d;
}

static int64_t directions_per_block(const hr_model_t *m, int64_t S, int64_t K) {
  int64_t per = 0;
  for (int t = 1; t <= m->nlayers; t++)
    if (!aliased(m, t)) per += 2 * S * size_at(m, t);
  int64_t kb = R_BUDGET_DOUBLES / (per > 0 ? per : 1);
  if (kb < 1) kb = 1;
  return kb < K ? kb : K;
}

/* Doubles (and int32s) needed; with base, the pointers laid out. */
static int64_t layout(const hr_model_t *m, int64_t S, int64_t K,
                      hr_model_work_t *w, double *base, int32_t *ibase,
                      int64_t *ints) {
  int64_t used = 0, iused = 0, C = m->outputs, kb = directions_per_block(m, S, K);
  int64_t rows = kb * S > S * C ? kb * S : S * C, scratch = 0;
#define TAKE(ptr, n)                \
  do {                              \
    if (base) (ptr) = base + used;  \
    used += (n);                    \
  } while (0)
  for (int t = 1; t <= m->nlayers; t++) {
    if (aliased(m, t)) continue;
    int64_t d = size_at(m, t);
    if (!(t == 1 && m->layer[0].kind == HR_LAYER_FLATTEN)) TAKE(w->act[t], S * d);
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
    if (L->kind == HR_LAYER_MAXPOOL) {
      if (ibase) w->argmax[i] = ibase + iused;
      iused += S * size_at(m, i + 1);
    }
  }
  TAKE(w->scratch, scratch);
  TAKE(w->g0, S * C * max_size(m));
  TAKE(w->g1, S * C * max_size(m));
  TAKE(w->p, S * C);
  TAKE(w->factor, C * C);
#undef TAKE
  if (base) w->kb = kb;
  *ints = iused;
  return used;
}

int64_t hr_model_work_bytes(const hr_model_t *m, int64_t max_samples,
                            int64_t max_dirs) {
  hr_model_work_t w;
  int64_t ints;
  int64_t n = layout(m, max_samples, max_dirs, &w, NULL, NULL, &ints);
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
  if (m->layer[0].kind == HR_LAYER_FLATTEN) w->act[1] = w->act[0];
  for (int t = 2; t <= m->nlayers; t++)
    if (aliased(m, t)) {
      w->act[t] = w->act[t - 1];
      w->delta[t] = w->delta[t - 1];
      w->ract[t] = w->ract[t - 1];
      w->rdelta[t] = w->rdelta[t - 1];
    }
}

double hr_model_forward_flops(const hr_model_t *m) {
  double f = 0;
  for (int i = 0; i < m->nlayers; i++)
    if (is_param(&m->layer[i]))
      f += 2.0 * (double)m->layer[i].nweight *
           (double)hr_affine_positions(&m->layer[i]);
  return f;
}

/* ---- forward and gradient ---------------------------------------------------- */

/* A parameter layer's input as the affine routines take it: the cached
 * patches of the S samples for conv, the rows themselves for linear. */
static const double *layer_input(const hr_model_work_t *w, int i, int *patches) {
  *patches = w->patches[i] != NULL;
  return *patches ? w->patches[i] : w->act[i];
}

static void forward(const hr_model_t *m, const double *theta,
                    const hr_samples_t *s, hr_model_work_t *w) {
  int64_t S = s->count;
  bind(m, w, s->x);
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    double *in = w->act[i], *out = w->act[i + 1];
    switch (L->kind) {
      case HR_LAYER_LINEAR:
      case HR_LAYER_CONV: {
        if (w->patches[i]) hr_affine_patches(L, in, S, w->patches[i]);
        int pt;
        const double *x = layer_input(w, i, &pt);
        hr_affine_apply(L, theta + L->offset_w, x, pt, S, out, 0, w->scratch);
        if (L->nbias) hr_affine_add_bias(L, theta + L->offset_b, S, out);
        break;
      }
      case HR_LAYER_MAXPOOL:
      case HR_LAYER_AVGPOOL:
        hr_pool_forward(L, in, S, out, w->argmax[i]);
        break;
      case HR_LAYER_FLATTEN: break; /* same numbers, new shape */
      case HR_LAYER_ACT: hr_act_forward(L->act, in, S * size_at(m, i), out); break;
    }
  }
}

/* d (R rows at t = i+1) back through layer i into dst (rows at t = i). */
static void back_through(const hr_model_t *m, const double *theta,
                         hr_model_work_t *w, int i, const double *d,
                         int64_t R, int64_t S, double *dst) {
  const hr_layer_t *L = &m->layer[i];
  switch (L->kind) {
    case HR_LAYER_LINEAR:
    case HR_LAYER_CONV:
      hr_affine_back_input(L, theta + L->offset_w, d, R, dst, 0, w->scratch);
      break;
    case HR_LAYER_MAXPOOL:
    case HR_LAYER_AVGPOOL:
      hr_pool_back(L, d, R, S, w->argmax[i], dst);
      break;
    case HR_LAYER_FLATTEN:
      if (dst != d) memcpy(dst, d, (size_t)(R * size_at(m, i)) * sizeof *dst);
      break;
    case HR_LAYER_ACT:
      hr_act_scale(L->act, w->act[i], d, R, S, size_at(m, i), dst);
      break;
  }
}

static void backward_deltas(const hr_model_t *m, const double *theta,
                            int64_t S, hr_model_work_t *w) {
  for (int i = m->nlayers - 1; i >= 1; i--)
    back_through(m, theta, w, i, w->delta[i + 1], S, S, w->delta[i]);
}

static void accumulate_grad(const hr_model_t *m, int64_t S, hr_model_work_t *w,
                            double *grad) {
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (!is_param(L)) continue;
    int pt;
    const double *x = layer_input(w, i, &pt);
    hr_affine_grad(L, w->delta[i + 1], x, pt, S, grad + L->offset_w,
                   L->nbias ? grad + L->offset_b : NULL, w->scratch);
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
  accumulate_grad(m, s->count, w, grad);
}

/* ---- R-operator --------------------------------------------------------------- */

/* R{z} of a parameter layer for k directions (V: N x k, column-major; NULL
 * for none: only the directions already in R{a} travel on). */
static void r_forward_param(const hr_model_t *m, const double *theta, int i,
                            int64_t S, const double *V, int64_t k,
                            hr_model_work_t *w) {
  const hr_layer_t *L = &m->layer[i];
  int64_t N = m->nparams, dout = size_at(m, i + 1);
  double *rz = w->ract[i + 1];
  if (w->live[i]) /* all directions at once: F(R{a}; W) */
    hr_affine_apply(L, theta + L->offset_w, w->ract[i], 0, k * S, rz, 0,
                    w->scratch);
  if (!V) {
    w->live[i + 1] = w->live[i];
    return;
  }
  int pt;
  const double *x = layer_input(w, i, &pt);
  for (int64_t d = 0; d < k; d++) {
    const double *Vd = V + d * N;
    hr_affine_apply(L, Vd + L->offset_w, x, pt, S, rz + d * S * dout,
                    w->live[i], w->scratch);
    if (L->nbias) hr_affine_add_bias(L, Vd + L->offset_b, S, rz + d * S * dout);
  }
  w->live[i + 1] = 1;
}

/* Layers first .. L-1; w->live[first] says whether ract[first] holds
 * directions already. */
static void r_forward(const hr_model_t *m, const double *theta, int64_t S,
                      const double *V, int64_t k, hr_model_work_t *w,
                      int first) {
  for (int i = first; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (is_param(L)) {
      r_forward_param(m, theta, i, S, V, k, w);
      continue;
    }
    w->live[i + 1] = w->live[i];
    if (!w->live[i]) continue;
    if (L->kind == HR_LAYER_MAXPOOL || L->kind == HR_LAYER_AVGPOOL)
      hr_pool_jvp(L, w->ract[i], k * S, S, w->argmax[i], w->ract[i + 1]);
    else if (L->kind == HR_LAYER_ACT)
      hr_act_scale(L->act, w->act[i], w->ract[i], k * S, S, size_at(m, i),
                   w->ract[i + 1]);
  }
}

/* HV of a parameter layer (HV NULL: none wanted), and R{delta} of its
 * input (i >= 1). */
static void r_backward_param(const hr_model_t *m, const double *theta, int i,
                             int64_t S, const double *V, int64_t k,
                             int residual, hr_model_work_t *w, double *HV) {
  const hr_layer_t *L = &m->layer[i];
  int64_t N = m->nparams, din = size_at(m, i), dout = size_at(m, i + 1);
  int pt;
  const double *x = layer_input(w, i, &pt);
  for (int64_t d = 0; d < k && HV; d++) {
    double *hv = HV + d * N;
    hr_affine_grad(L, w->rdelta[i + 1] + d * S * dout, x, pt, S,
                   hv + L->offset_w, L->nbias ? hv + L->offset_b : NULL,
                   w->scratch);
    if (residual && w->live[i])
      hr_affine_grad(L, w->delta[i + 1], w->ract[i] + d * S * din, 0, S,
                     hv + L->offset_w, NULL, w->scratch);
  }
  if (i == 0) return;
  hr_affine_back_input(L, theta + L->offset_w, w->rdelta[i + 1], k * S,
                       w->rdelta[i], 0, w->scratch);
  if (residual && V)
    for (int64_t d = 0; d < k; d++)
      hr_affine_back_input(L, V + d * N + L->offset_w, w->delta[i + 1], S,
                           w->rdelta[i] + d * S * din, 1, w->scratch);
}

/* Layers L-1 down to stop: R{delta} down to rdelta[stop] (stop >= 1), or
 * to the input's layer (stop = 0). */
static void r_backward(const hr_model_t *m, const double *theta, int64_t S,
                       const double *V, int64_t k, hr_part_t part,
                       hr_model_work_t *w, double *HV, int stop) {
  int residual = part != HR_PART_GN;
  for (int i = m->nlayers - 1; i >= stop; i--) {
    const hr_layer_t *L = &m->layer[i];
    if (is_param(L)) {
      r_backward_param(m, theta, i, S, V, k, residual, w, HV);
      continue;
    }
    if (i == 0) break;
    back_through(m, theta, w, i, w->rdelta[i + 1], k * S, S, w->rdelta[i]);
    if (L->kind == HR_LAYER_ACT && residual && w->live[i])
      hr_act_add_curvature(L->act, w->act[i], w->ract[i], w->delta[i + 1],
                           k * S, S, size_at(m, i), w->rdelta[i]);
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
    w->live[0] = 0;
    r_forward(m, theta, S, Vb, kb, w, 0);
    hr_loss_curvature(m, w->p, w->ract[Lt], kb * S, S, part, w->rdelta[Lt]);
    r_backward(m, theta, S, Vb, kb, part, w, HV + d0 * N, 0);
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
    /* direction d: R{z} = e_(d0 + d) at the layer's output, every sample */
    double *rz = w->ract[f + 1];
    memset(rz, 0, (size_t)(kb * S * h) * sizeof *rz);
    for (int64_t d = 0; d < kb; d++)
      for (int64_t i = 0; i < S; i++) rz[(d * S + i) * h + d0 + d] = 1.0;
    w->live[f + 1] = 1;
    r_forward(m, theta, S, NULL, kb, w, f + 1);
    hr_loss_curvature(m, w->p, w->ract[Lt], kb * S, S, part, w->rdelta[Lt]);
    r_backward(m, theta, S, NULL, kb, part, w, NULL, f + 1);
    const double *rd = w->rdelta[f + 1];
    for (int64_t d = 0; d < kb; d++)
      for (int64_t i = 0; i < S; i++)
        for (int64_t c = 0; c < h; c++)
          M[(i * h + c) * h + d0 + d] = rd[(d * S + i) * h + c];
  }
}

/* ---- Gauss-Newton factor rows ------------------------------------------------- */

/* Backpropagate every factor row (k, i) -- row r = k*S + i, starting from
 * column k of M_i -- and hand each parameter layer to visit with the rows'
 * deltas at its outputs. */
typedef void (*gn_visit_t)(const hr_model_t *m, hr_model_work_t *w, int i,
                           const double *deltas, int64_t S, void *ctx);

static void gn_backprop(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w,
                        gn_visit_t visit, void *ctx) {
  int64_t S = s->count, C = m->outputs, R = S * C;
  loss_and_deltas(m, theta, s, w);
  double *cur = w->g0, *next = w->g1, *M = w->factor;
  for (int64_t i = 0; i < S; i++) {
    hr_loss_factor(m, w->p + i * C, M);
    for (int64_t k = 0; k < C; k++)
      for (int64_t c = 0; c < C; c++) cur[(k * S + i) * C + c] = M[c * C + k];
  }
  for (int i = m->nlayers - 1; i >= 0; i--) {
    if (is_param(&m->layer[i])) visit(m, w, i, cur, S, ctx);
    if (i == 0) break;
    if (m->layer[i].kind == HR_LAYER_FLATTEN) continue; /* same rows */
    back_through(m, theta, w, i, cur, R, S, next);
    double *t = cur; cur = next; next = t;
  }
}

/* The patches of sample j at parameter layer i (P x Q). */
static const double *sample_patches(const hr_model_work_t *w, const hr_layer_t *L,
                                    int i, int64_t j) {
  int pt;
  const double *x = layer_input(w, i, &pt);
  return x + j * hr_affine_positions(L) * hr_affine_patch_width(L);
}

/* Every entry of every row is written (each layer's weights and biases),
 * so G needs no clearing. */
static void write_factor_rows(const hr_model_t *m, hr_model_work_t *w, int i,
                              const double *deltas, int64_t S, void *ctx) {
  const hr_layer_t *L = &m->layer[i];
  double *G = ctx;
  int64_t C = m->outputs, N = m->nparams, dout = size_at(m, i + 1);
  for (int64_t r = 0; r < S * C; r++) {
    int64_t j = r % S, k = r / S;
    double *g = G + (j * C + k) * N;
    hr_affine_row_grad(L, deltas + r * dout, sample_patches(w, L, i, j),
                       g + L->offset_w, L->nbias ? g + L->offset_b : NULL);
  }
}

void hr_model_gn_factor(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w, double *G) {
  gn_backprop(m, theta, s, w, write_factor_rows, G);
}

/* Columns of parameter layer i's block in D and in A (A: linear only). */
static int64_t delta_cols(const hr_layer_t *L) {
  return L->kind == HR_LAYER_LINEAR ? L->out.c : L->nweight + L->nbias;
}

static void layer_offsets(const hr_model_t *m, int upto, int64_t *d0, int64_t *a0) {
  *d0 = *a0 = 0;
  for (int i = 0; i < upto; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (!is_param(L)) continue;
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

static void copy_layer_rows(const hr_model_t *m, hr_model_work_t *w, int i,
                            const double *deltas, int64_t S, void *ctx) {
  const hr_layer_t *L = &m->layer[i];
  gn_layers_t *out = ctx;
  int64_t C = m->outputs, dout = size_at(m, i + 1);
  int64_t dw = hr_model_gn_delta_width(m), aw = hr_model_gn_input_width(m), d0, a0;
  layer_offsets(m, i, &d0, &a0);
  for (int64_t r = 0; r < S * C; r++) {
    int64_t j = r % S, k = r / S;
    double *row = out->D + (j * C + k) * dw + d0;
    if (L->kind == HR_LAYER_LINEAR)
      memcpy(row, deltas + r * dout, (size_t)dout * sizeof *row);
    else
      hr_affine_row_grad(L, deltas + r * dout, sample_patches(w, L, i, j), row,
                         L->nbias ? row + L->nweight : NULL);
  }
  if (L->kind == HR_LAYER_LINEAR)
    for (int64_t j = 0; j < S; j++)
      memcpy(out->A + j * aw + a0, w->act[i] + j * L->in.c,
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

/* K[r][r'] = sum over linear layers of (D_l D_l^T)[r][r'] (A_l A_l^T +
 * bias)[i][i'] (i, i' the samples of rows r, r'), plus D_l D_l^T of each
 * conv layer's whole rows.  Costs sum_l (M^2 width_l + S^2 width_(l-1))
 * flops for the linear layers instead of the M^2 N of forming G.  A block
 * of whole tensors keeps only their terms: a linear layer's weight gives
 * (D D^T) o (A A^T), its bias D D^T; a conv layer's rows of G hold its
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
    if (!is_param(L)) continue;
    int weight = inside(L->offset_w, L->nweight, first, count);
    int bias = L->nbias && inside(L->offset_b, L->nbias, first, count);
    if (!weight && !bias) continue;
    int64_t d0, a0;
    layer_offsets(m, i, &d0, &a0);
    if (L->kind == HR_LAYER_CONV) {
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
