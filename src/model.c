/* MLP forward pass, loss, gradient, R-operator Hessian-vector products and
 * Gauss-Newton factor rows (see model.h).
 *
 * Notation for one chunk of S samples (all matrices row-major, one row per
 * sample): A_0 = X; Z_l = A_(l-1) W_l^T + b_l; A_l = s(Z_l) for l < L;
 * f = Z_L.  D_l = dloss/dZ_l (the deltas); E_l = D_(l+1) W_(l+1), so that
 * D_l = s'(Z_l) o E_l.  R{.} is the directional derivative along v = (V_l,
 * c_l), Pearlmutter (1994), "Fast exact multiplication by the Hessian". */
#include "hessrmt/model.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"

struct hr_mlp_work {
  int64_t max_s, max_k;
  double *z[HR_MAX_LAYERS + 1], *a[HR_MAX_LAYERS + 1];
  double *delta[HR_MAX_LAYERS + 1], *e[HR_MAX_LAYERS + 1];
  double *rz[HR_MAX_LAYERS + 1], *ra[HR_MAX_LAYERS + 1],
      *rd[HR_MAX_LAYERS + 1];
  double *tmp;             /* k*S x max width */
  double *g0, *g1;         /* S*C x max width: deltas of factor rows */
  double *p;               /* S x C: softmax probabilities */
  double *factor;          /* C x C: one sample's curvature factor M */
  double *block;           /* one allocation holding all of the above */
};

/* ---- shapes -------------------------------------------------------------- */

static int set_widths(hr_mlp_t *m, const int64_t *w, int nw) {
  if (nw < 2 || nw - 1 > HR_MAX_LAYERS)
    HR_FAIL(HR_ERR_INPUT, "a model needs 2 to %d widths, got %d",
            HR_MAX_LAYERS + 1, nw);
  m->layers = nw - 1;
  m->nparams = 0;
  for (int l = 0; l < nw; l++) {
    if (w[l] < 1) HR_FAIL(HR_ERR_INPUT, "layer width %lld < 1", (long long)w[l]);
    m->width[l] = w[l];
  }
  for (int l = 0; l < m->layers; l++) {
    m->offset_w[l] = m->nparams;
    m->nparams += w[l + 1] * w[l];
    m->offset_b[l] = m->nparams;
    if (m->bias) m->nparams += w[l + 1];
  }
  return HR_OK;
}

int hr_mlp_init(hr_mlp_t *m, const char *spec, int64_t inputs,
                int64_t outputs, int bias, hr_activation_t activation,
                hr_loss_t loss) {
  memset(m, 0, sizeof *m);
  m->bias = bias;
  m->activation = activation;
  m->loss = loss;
  int64_t w[HR_MAX_LAYERS + 2];
  int nw = 0;
  if (strcmp(spec, "logistic") == 0) {
    if (inputs < 1 || outputs < 1)
      HR_FAIL(HR_ERR_INPUT, "logistic needs the data's features and classes");
    w[nw++] = inputs;
    w[nw++] = outputs;
    return set_widths(m, w, nw);
  }
  if (strncmp(spec, "mlp:", 4) != 0)
    HR_FAIL(HR_ERR_USAGE, "unknown model '%s': use 'logistic' or "
            "'mlp:D-H1-...-C' (e.g. mlp:784-100-10)", spec);
  const char *p = spec + 4;
  while (*p) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 1 || nw > HR_MAX_LAYERS || (*end && *end != '-'))
      HR_FAIL(HR_ERR_USAGE, "bad model spec '%s': expected mlp:D-H1-...-C "
              "with positive widths and at most %d layers", spec,
              HR_MAX_LAYERS);
    w[nw++] = v;
    p = *end ? end + 1 : end;
  }
  HR_CHECK(set_widths(m, w, nw));
  if (inputs && m->width[0] != inputs)
    HR_FAIL(HR_ERR_INPUT, "model %s takes %lld inputs but the data have %lld "
            "features", spec, (long long)m->width[0], (long long)inputs);
  if (outputs && m->width[m->layers] != outputs)
    HR_FAIL(HR_ERR_INPUT, "model %s has %lld outputs but the data have %lld "
            "classes/targets", spec, (long long)m->width[m->layers],
            (long long)outputs);
  return HR_OK;
}

const char *hr_mlp_describe(const hr_mlp_t *m, char *buf, int len) {
  int used = snprintf(buf, (size_t)len, "mlp:");
  for (int l = 0; l <= m->layers && used < len; l++)
    used += snprintf(buf + used, (size_t)(len - used), "%s%lld", l ? "-" : "",
                     (long long)m->width[l]);
  return buf;
}

/* ---- workspace ----------------------------------------------------------- */

static int64_t max_width(const hr_mlp_t *m) {
  int64_t w = 0;
  for (int l = 0; l <= m->layers; l++) w = m->width[l] > w ? m->width[l] : w;
  return w;
}

/* Doubles needed, and (if base) the pointers laid out in one block. */
static int64_t layout(const hr_mlp_t *m, int64_t S, int64_t K,
                      hr_mlp_work_t *w, double *base) {
  int64_t used = 0, C = m->width[m->layers], H = max_width(m);
#define TAKE(ptr, n)                     \
  do {                                   \
    if (base) (ptr) = base + used;       \
    used += (n);                         \
  } while (0)
  for (int l = 1; l <= m->layers; l++) {
    int64_t h = m->width[l];
    TAKE(w->z[l], S * h);
    TAKE(w->a[l], S * h);
    TAKE(w->delta[l], S * h);
    TAKE(w->e[l], S * h);
    TAKE(w->rz[l], K * S * h);
    TAKE(w->ra[l], K * S * h);
    TAKE(w->rd[l], K * S * h);
  }
  TAKE(w->tmp, (K > 1 ? K : 1) * S * H);
  TAKE(w->g0, S * C * H);
  TAKE(w->g1, S * C * H);
  TAKE(w->p, S * C);
  TAKE(w->factor, C * C);
#undef TAKE
  return used;
}

int64_t hr_mlp_work_bytes(const hr_mlp_t *m, int64_t max_samples,
                          int64_t max_dirs) {
  hr_mlp_work_t w;
  return layout(m, max_samples, max_dirs, &w, NULL) * (int64_t)sizeof(double);
}

int hr_mlp_work_create(const hr_mlp_t *m, int64_t max_samples,
                       int64_t max_dirs, hr_mlp_work_t **out) {
  hr_mlp_work_t *w = calloc(1, sizeof *w);
  int64_t n = layout(m, max_samples, max_dirs, w, NULL);
  double *block = w ? calloc((size_t)n, sizeof *block) : NULL;
  if (!block) {
    free(w);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the model workspace (%lld "
            "bytes)", (long long)(n * 8));
  }
  layout(m, max_samples, max_dirs, w, block);
  w->block = block;
  w->max_s = max_samples;
  w->max_k = max_dirs;
  *out = w;
  return HR_OK;
}

void hr_mlp_work_free(hr_mlp_work_t *w) {
  if (!w) return;
  free(w->block);
  free(w);
}

/* ---- activations ----------------------------------------------------------- */

static double act(hr_activation_t a, double z) {
  switch (a) {
    case HR_ACT_RELU: return z > 0 ? z : 0;
    case HR_ACT_TANH: return tanh(z);
    default: return z;
  }
}

/* s'(z); ReLU takes 0 at z = 0, as PyTorch does. */
static double act_d1(hr_activation_t a, double z) {
  switch (a) {
    case HR_ACT_RELU: return z > 0 ? 1 : 0;
    case HR_ACT_TANH: { double t = tanh(z); return 1 - t * t; }
    default: return 1;
  }
}

static double act_d2(hr_activation_t a, double z) {
  if (a != HR_ACT_TANH) return 0;  /* relu and linear: zero almost everywhere */
  double t = tanh(z);
  return -2 * t * (1 - t * t);
}

/* ---- forward and gradient ----------------------------------------------- */

static const double *layer_input(const hr_samples_t *s, const hr_mlp_work_t *w,
                                 int l) {
  return l == 1 ? s->x : w->a[l - 1];
}

static void forward(const hr_mlp_t *m, const double *theta,
                    const hr_samples_t *s, hr_mlp_work_t *w) {
  int64_t S = s->count;
  for (int l = 1; l <= m->layers; l++) {
    int64_t in = m->width[l - 1], out = m->width[l];
    const double *W = theta + m->offset_w[l - 1];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)S, (int)out,
                (int)in, 1.0, layer_input(s, w, l), (int)in, W, (int)in,
                0.0, w->z[l], (int)out);
    if (m->bias) {
      const double *b = theta + m->offset_b[l - 1];
      for (int64_t i = 0; i < S; i++)
        for (int64_t j = 0; j < out; j++) w->z[l][i * out + j] += b[j];
    }
    if (l < m->layers)
      for (int64_t i = 0; i < S * out; i++)
        w->a[l][i] = act(m->activation, w->z[l][i]);
  }
}

/* The target of sample i, output c: one-hot label or the real target. */
static double target(const hr_mlp_t *m, const hr_samples_t *s, int64_t i,
                     int64_t c) {
  int64_t C = m->width[m->layers];
  if (s->targets) return s->targets[i * C + c];
  return s->labels[i] == c ? 1.0 : 0.0;
}

/* Softmax of one row of outputs into p, stably; returns log-sum-exp. */
static double softmax_row(const double *f, int64_t C, double *p) {
  double fmax = f[0], sum = 0;
  for (int64_t c = 1; c < C; c++) fmax = fmax > f[c] ? fmax : f[c];
  for (int64_t c = 0; c < C; c++) sum += exp(f[c] - fmax);
  double lse = fmax + log(sum);
  for (int64_t c = 0; c < C; c++) p[c] = exp(f[c] - lse);
  return lse;
}

/* Loss of each sample; D_L = dloss/df; softmax into w->p for ce. */
static double output_layer(const hr_mlp_t *m, const hr_samples_t *s,
                           hr_mlp_work_t *w) {
  int64_t S = s->count, C = m->width[m->layers];
  double total = 0;
  for (int64_t i = 0; i < S; i++) {
    const double *f = w->z[m->layers] + i * C;
    double *d = w->delta[m->layers] + i * C, *p = w->p + i * C;
    if (m->loss == HR_LOSS_CE) {
      total += softmax_row(f, C, p) - f[s->labels[i]];
      for (int64_t c = 0; c < C; c++)
        d[c] = p[c] - (s->labels[i] == c ? 1.0 : 0.0);
    } else {
      for (int64_t c = 0; c < C; c++) {
        d[c] = f[c] - target(m, s, i, c);
        total += 0.5 * d[c] * d[c];
      }
    }
  }
  return total;
}

/* D_(l-1) from D_l, keeping E_(l-1) = D_l W_l for the R-operator. */
static void backward_deltas(const hr_mlp_t *m, const double *theta,
                            int64_t S, hr_mlp_work_t *w) {
  for (int l = m->layers; l > 1; l--) {
    int64_t in = m->width[l - 1], out = m->width[l];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, (int)in,
                (int)out, 1.0, w->delta[l], (int)out,
                theta + m->offset_w[l - 1], (int)in, 0.0, w->e[l - 1], (int)in);
    for (int64_t i = 0; i < S * in; i++)
      w->delta[l - 1][i] = act_d1(m->activation, w->z[l - 1][i]) * w->e[l - 1][i];
  }
}

/* grad_W_l += D_l^T A_(l-1); grad_b_l += column sums of D_l. */
static void accumulate_grad(const hr_mlp_t *m, const hr_samples_t *s,
                            const hr_mlp_work_t *w, double *grad) {
  int64_t S = s->count;
  for (int l = 1; l <= m->layers; l++) {
    int64_t in = m->width[l - 1], out = m->width[l];
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in,
                (int)S, 1.0, w->delta[l], (int)out, layer_input(s, w, l),
                (int)in, 1.0, grad + m->offset_w[l - 1], (int)in);
    if (m->bias)
      for (int64_t i = 0; i < S; i++)
        for (int64_t j = 0; j < out; j++)
          grad[m->offset_b[l - 1] + j] += w->delta[l][i * out + j];
  }
}

void hr_mlp_outputs(const hr_mlp_t *m, const double *theta,
                    const hr_samples_t *s, hr_mlp_work_t *w, double *f) {
  forward(m, theta, s, w);
  memcpy(f, w->z[m->layers],
         (size_t)(s->count * m->width[m->layers]) * sizeof *f);
}

void hr_mlp_probabilities(const hr_mlp_t *m, const double *theta,
                          const hr_samples_t *s, hr_mlp_work_t *w, double *p) {
  int64_t C = m->width[m->layers];
  forward(m, theta, s, w);
  for (int64_t i = 0; i < s->count; i++)
    softmax_row(w->z[m->layers] + i * C, C, p + i * C);
}

void hr_mlp_loss_grad(const hr_mlp_t *m, const double *theta,
                      const hr_samples_t *s, hr_mlp_work_t *w, double *loss,
                      double *grad) {
  forward(m, theta, s, w);
  *loss = output_layer(m, s, w);
  if (!grad) return;
  backward_deltas(m, theta, s->count, w);
  accumulate_grad(m, s, w, grad);
}

/* ---- R-operator ------------------------------------------------------------ */

/* Rz_l[d] = A_(l-1) V_l[d]^T + c_l[d] (+ Ra_(l-1) W_l^T, added by caller). */
static void r_forward_direct(const hr_mlp_t *m, const hr_samples_t *s,
                             const double *V, int64_t k, hr_mlp_work_t *w,
                             int l, double beta) {
  int64_t S = s->count, in = m->width[l - 1], out = m->width[l], N = m->nparams;
  for (int64_t d = 0; d < k; d++) {
    const double *Vd = V + d * N;
    double *rz = w->rz[l] + d * S * out;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)S, (int)out,
                (int)in, 1.0, layer_input(s, w, l), (int)in,
                Vd + m->offset_w[l - 1], (int)in, beta, rz, (int)out);
    if (m->bias)
      for (int64_t i = 0; i < S; i++)
        for (int64_t j = 0; j < out; j++)
          rz[i * out + j] += Vd[m->offset_b[l - 1] + j];
  }
}

static void r_forward(const hr_mlp_t *m, const double *theta,
                      const hr_samples_t *s, const double *V, int64_t k,
                      hr_mlp_work_t *w) {
  int64_t S = s->count;
  for (int l = 1; l <= m->layers; l++) {
    int64_t in = m->width[l - 1], out = m->width[l];
    if (l == 1) {
      r_forward_direct(m, s, V, k, w, l, 0.0);
    } else {
      /* All directions at once: (k*S x in) times W_l^T. */
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(k * S),
                  (int)out, (int)in, 1.0, w->ra[l - 1], (int)in,
                  theta + m->offset_w[l - 1], (int)in, 0.0, w->rz[l], (int)out);
      r_forward_direct(m, s, V, k, w, l, 1.0);
    }
    if (l < m->layers)
      for (int64_t d = 0; d < k; d++)
        for (int64_t i = 0; i < S * out; i++)
          w->ra[l][d * S * out + i] =
              act_d1(m->activation, w->z[l][i]) * w->rz[l][d * S * out + i];
  }
}

/* R{D_L} = Lambda R{f}: softmax curvature diag(p) - p p^T, or identity. */
static void r_output(const hr_mlp_t *m, int64_t S, int64_t k, hr_part_t part,
                     hr_mlp_work_t *w) {
  int L = m->layers;
  int64_t C = m->width[L];
  for (int64_t d = 0; d < k; d++)
    for (int64_t i = 0; i < S; i++) {
      const double *rf = w->rz[L] + (d * S + i) * C, *p = w->p + i * C;
      double *rd = w->rd[L] + (d * S + i) * C;
      if (part == HR_PART_RESIDUAL) {  /* H1 has no output-curvature term */
        for (int64_t c = 0; c < C; c++) rd[c] = 0;
      } else if (m->loss == HR_LOSS_CE) {
        double dot = 0;
        for (int64_t c = 0; c < C; c++) dot += p[c] * rf[c];
        for (int64_t c = 0; c < C; c++) rd[c] = p[c] * (rf[c] - dot);
      } else {
        for (int64_t c = 0; c < C; c++) rd[c] = rf[c];
      }
    }
}

/* Backward R pass for layer l: accumulate HV for W_l, b_l and form
 * R{D_(l-1)}.  Terms with D (the residual) belong to H1, the rest to H0. */
static void r_backward_layer(const hr_mlp_t *m, const double *theta,
                             const hr_samples_t *s, const double *V, int64_t k,
                             hr_part_t part, hr_mlp_work_t *w, int l,
                             double *HV) {
  int64_t S = s->count, in = m->width[l - 1], out = m->width[l], N = m->nparams;
  int residual = part != HR_PART_GN;
  for (int64_t d = 0; d < k; d++) {
    double *hv = HV + d * N;
    const double *rd = w->rd[l] + d * S * out;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in,
                (int)S, 1.0, rd, (int)out, layer_input(s, w, l), (int)in,
                1.0, hv + m->offset_w[l - 1], (int)in);
    if (residual && l > 1)  /* D_l R{A_(l-1)}^T */
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out, (int)in,
                  (int)S, 1.0, w->delta[l], (int)out,
                  w->ra[l - 1] + d * S * in, (int)in, 1.0,
                  hv + m->offset_w[l - 1], (int)in);
    if (m->bias)
      for (int64_t i = 0; i < S; i++)
        for (int64_t j = 0; j < out; j++)
          hv[m->offset_b[l - 1] + j] += rd[i * out + j];
  }
  if (l == 1) return;
  /* R{E_(l-1)} = R{D_l} W_l (+ D_l V_l for the residual part). */
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(k * S), (int)in,
              (int)out, 1.0, w->rd[l], (int)out, theta + m->offset_w[l - 1],
              (int)in, 0.0, w->tmp, (int)in);
  if (residual)
    for (int64_t d = 0; d < k; d++)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, (int)in,
                  (int)out, 1.0, w->delta[l], (int)out,
                  V + d * N + m->offset_w[l - 1], (int)in, 1.0,
                  w->tmp + d * S * in, (int)in);
  /* R{D_(l-1)} = s'(Z) o R{E} (+ s''(Z) o R{Z} o E for the residual). */
  for (int64_t d = 0; d < k; d++)
    for (int64_t i = 0; i < S * in; i++) {
      double z = w->z[l - 1][i];
      double v = act_d1(m->activation, z) * w->tmp[d * S * in + i];
      if (residual)
        v += act_d2(m->activation, z) * w->rz[l - 1][d * S * in + i] *
             w->e[l - 1][i];
      w->rd[l - 1][d * S * in + i] = v;
    }
}

void hr_mlp_hvp(const hr_mlp_t *m, const double *theta, const hr_samples_t *s,
                hr_part_t part, const double *V, int64_t k, hr_mlp_work_t *w,
                double *HV) {
  forward(m, theta, s, w);
  output_layer(m, s, w);
  backward_deltas(m, theta, s->count, w);
  r_forward(m, theta, s, V, k, w);
  r_output(m, s->count, k, part, w);
  for (int l = m->layers; l >= 1; l--)
    r_backward_layer(m, theta, s, V, k, part, w, l, HV);
}

/* ---- Gauss-Newton factor rows ---------------------------------------------- */

/* M with Lambda = M M^T for sample i (C x C, row-major): for softmax
 * cross-entropy M = diag(sqrt p) - p sqrt(p)^T, since sum p = 1 gives
 * M M^T = diag(p) - p p^T; the identity for squared error. */
static void curvature_factor(const hr_mlp_t *m, const double *p, double *M) {
  int64_t C = m->width[m->layers];
  for (int64_t a = 0; a < C; a++)
    for (int64_t b = 0; b < C; b++) {
      if (m->loss == HR_LOSS_CE)
        M[a * C + b] = (a == b ? sqrt(p[a]) : 0.0) - p[a] * sqrt(p[b]);
      else
        M[a * C + b] = a == b ? 1.0 : 0.0;
    }
}

/* Backpropagate every factor row (i, k), starting from column k of M_i, and
 * hand each layer l (L down to 1) to visit: the rows' deltas at the layer's
 * outputs (S*C x width[l]) and the layer's inputs (S x width[l-1]).  Row
 * (i, k) of G restricted to layer l is delta (i, k) outer [input i; 1]. */
typedef void (*gn_visit_t)(const hr_mlp_t *m, int l, const double *deltas,
                           const double *inputs, int64_t S, void *ctx);

static void gn_backprop(const hr_mlp_t *m, const double *theta,
                        const hr_samples_t *s, hr_mlp_work_t *w,
                        gn_visit_t visit, void *ctx) {
  int L = m->layers;
  int64_t S = s->count, C = m->width[L], R = S * C;
  forward(m, theta, s, w);
  output_layer(m, s, w);
  double *cur = w->g0, *next = w->g1;
  double *M = w->factor;
  for (int64_t i = 0; i < S; i++) {
    curvature_factor(m, w->p + i * C, M);
    for (int64_t k = 0; k < C; k++)
      for (int64_t c = 0; c < C; c++) cur[(i * C + k) * C + c] = M[c * C + k];
  }
  for (int l = L; l >= 1; l--) {
    int64_t in = m->width[l - 1], out = m->width[l];
    visit(m, l, cur, layer_input(s, w, l), S, ctx);
    if (l == 1) break;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)in,
                (int)out, 1.0, cur, (int)out, theta + m->offset_w[l - 1],
                (int)in, 0.0, next, (int)in);
    for (int64_t r = 0; r < R; r++)
      for (int64_t j = 0; j < in; j++)
        next[r * in + j] *= act_d1(m->activation, w->z[l - 1][(r / C) * in + j]);
    double *t = cur; cur = next; next = t;
  }
}

/* Every entry of every row is written (each layer's weights and biases),
 * so G needs no clearing. */
static void write_factor_rows(const hr_mlp_t *m, int l, const double *deltas,
                              const double *inputs, int64_t S, void *ctx) {
  double *G = ctx;
  int64_t in = m->width[l - 1], out = m->width[l], C = m->width[m->layers];
  int64_t N = m->nparams;
  for (int64_t r = 0; r < S * C; r++) {
    const double *dl = deltas + r * out, *a = inputs + (r / C) * in;
    double *g = G + r * N;
    for (int64_t o = 0; o < out; o++) {
      double *gw = g + m->offset_w[l - 1] + o * in;
      for (int64_t j = 0; j < in; j++) gw[j] = dl[o] * a[j];
      if (m->bias) g[m->offset_b[l - 1] + o] = dl[o];
    }
  }
}

void hr_mlp_gn_factor(const hr_mlp_t *m, const double *theta,
                      const hr_samples_t *s, hr_mlp_work_t *w, double *G) {
  gn_backprop(m, theta, s, w, write_factor_rows, G);
}

int64_t hr_mlp_gn_delta_width(const hr_mlp_t *m) {
  int64_t total = 0;
  for (int l = 1; l <= m->layers; l++) total += m->width[l];
  return total;
}

int64_t hr_mlp_gn_input_width(const hr_mlp_t *m) {
  int64_t total = 0;
  for (int l = 1; l <= m->layers; l++) total += m->width[l - 1];
  return total;
}

typedef struct {
  double *D, *A;
} gn_layers_t;

/* Layer l's block of the packed rows starts after layers 1..l-1. */
static void copy_layer_rows(const hr_mlp_t *m, int l, const double *deltas,
                            const double *inputs, int64_t S, void *ctx) {
  gn_layers_t *out = ctx;
  int64_t C = m->width[m->layers], in = m->width[l - 1], width = m->width[l];
  int64_t dw = hr_mlp_gn_delta_width(m), aw = hr_mlp_gn_input_width(m);
  int64_t d0 = 0, a0 = 0;
  for (int k = 1; k < l; k++) {
    d0 += m->width[k];
    a0 += m->width[k - 1];
  }
  for (int64_t r = 0; r < S * C; r++)
    memcpy(out->D + r * dw + d0, deltas + r * width, (size_t)width * sizeof(double));
  for (int64_t i = 0; i < S; i++)
    memcpy(out->A + i * aw + a0, inputs + i * in, (size_t)in * sizeof(double));
}

void hr_mlp_gn_layers(const hr_mlp_t *m, const double *theta,
                      const hr_samples_t *s, hr_mlp_work_t *w, double *D,
                      double *A) {
  gn_layers_t out = {D, A};
  gn_backprop(m, theta, s, w, copy_layer_rows, &out);
}
