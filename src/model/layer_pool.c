/* Max and average pooling, floor mode, with PyTorch's padding: max pooling
 * never picks the padding (it pads with -inf), average pooling counts it
 * as zeros and divides by K*K (count_include_pad, the default).  Global
 * average pooling is the mean of each channel.  All are linear maps once
 * the max-pooling routes are fixed by the forward pass, so their
 * Jacobian-vector products and transposes need no second-order term. */
#include <math.h>
#include <string.h>

#include "layers.h"

static int64_t in_size(const hr_layer_t *L) { return L->in.c * L->in.h * L->in.w; }
static int64_t out_size(const hr_layer_t *L) { return L->out.c * L->out.h * L->out.w; }

/* Input index (within one row) of window element (kh, kw) of output
 * (c, ho, wo), or -1 where the window is in the padding. */
static int64_t window_index(const hr_layer_t *L, int64_t c, int64_t ho,
                            int64_t wo, int64_t kh, int64_t kw) {
  int64_t h = ho * L->stride - L->pad + kh, w = wo * L->stride - L->pad + kw;
  if (h < 0 || h >= L->in.h || w < 0 || w >= L->in.w) return -1;
  return (c * L->in.h + h) * L->in.w + w;
}

static void max_row(const hr_layer_t *L, const double *x, double *y,
                    int32_t *arg) {
  int64_t K = L->kernel, o = 0;
  for (int64_t c = 0; c < L->out.c; c++)
    for (int64_t ho = 0; ho < L->out.h; ho++)
      for (int64_t wo = 0; wo < L->out.w; wo++, o++) {
        /* PyTorch's scan: the first strictly greater element wins, so
         * ties go to the first in row-major window order; NaN wins.  A
         * window always holds one element of the input (PyTorch requires
         * pad <= K/2). */
        int64_t best = -1;
        double v = -INFINITY;
        for (int64_t kh = 0; kh < K; kh++)
          for (int64_t kw = 0; kw < K; kw++) {
            int64_t i = window_index(L, c, ho, wo, kh, kw);
            if (i < 0) continue;
            if (best < 0 || x[i] > v || isnan(x[i])) {
              v = x[i];
              best = i;
              if (isnan(v)) goto done;
            }
          }
      done:
        y[o] = x[best];
        arg[o] = (int32_t)best;
      }
}

static void avg_row(const hr_layer_t *L, const double *x, double *y,
                    int accumulate) {
  int64_t K = L->kernel, o = 0;
  double scale = 1.0 / (double)(K * K);
  for (int64_t c = 0; c < L->out.c; c++)
    for (int64_t ho = 0; ho < L->out.h; ho++)
      for (int64_t wo = 0; wo < L->out.w; wo++, o++) {
        double sum = 0;
        for (int64_t kh = 0; kh < K; kh++)
          for (int64_t kw = 0; kw < K; kw++) {
            int64_t i = window_index(L, c, ho, wo, kh, kw);
            if (i >= 0) sum += x[i];
          }
        y[o] = accumulate ? y[o] + sum * scale : sum * scale;
      }
}

void hr_pool_forward(const hr_layer_t *L, const double *in, int64_t S,
                     double *out, int32_t *argmax) {
  int64_t din = in_size(L), dout = out_size(L);
  for (int64_t i = 0; i < S; i++) {
    if (L->kind == HR_LAYER_MAXPOOL)
      max_row(L, in + i * din, out + i * dout, argmax + i * dout);
    else
      avg_row(L, in + i * din, out + i * dout, 0);
  }
}

void hr_pool_jvp(const hr_layer_t *L, const double *rin, int64_t R, int64_t S,
                 const int32_t *argmax, double *rout, int accumulate) {
  int64_t din = in_size(L), dout = out_size(L);
  for (int64_t r = 0; r < R; r++) {
    const double *x = rin + r * din;
    double *y = rout + r * dout;
    if (L->kind == HR_LAYER_MAXPOOL) {
      const int32_t *arg = argmax + (r % S) * dout;
      for (int64_t o = 0; o < dout; o++)
        y[o] = accumulate ? y[o] + x[arg[o]] : x[arg[o]];
    } else {
      avg_row(L, x, y, accumulate);
    }
  }
}

void hr_pool_back(const hr_layer_t *L, const double *dout, int64_t R,
                  int64_t S, const int32_t *argmax, double *din,
                  int accumulate) {
  int64_t ni = in_size(L), no = out_size(L), K = L->kernel;
  if (!accumulate) memset(din, 0, (size_t)(R * ni) * sizeof *din);
  double scale = 1.0 / (double)(K * K);
  for (int64_t r = 0; r < R; r++) {
    const double *g = dout + r * no;
    double *x = din + r * ni;
    if (L->kind == HR_LAYER_MAXPOOL) {
      const int32_t *arg = argmax + (r % S) * no;
      for (int64_t o = 0; o < no; o++) x[arg[o]] += g[o];
      continue;
    }
    int64_t o = 0;
    for (int64_t c = 0; c < L->out.c; c++)
      for (int64_t ho = 0; ho < L->out.h; ho++)
        for (int64_t wo = 0; wo < L->out.w; wo++, o++)
          for (int64_t kh = 0; kh < K; kh++)
            for (int64_t kw = 0; kw < K; kw++) {
              int64_t i = window_index(L, c, ho, wo, kh, kw);
              if (i >= 0) x[i] += g[o] * scale;
            }
  }
}

void hr_gap_apply(const hr_layer_t *L, const double *in, int64_t R,
                  double *out, int accumulate) {
  int64_t C = L->in.c, P = L->in.h * L->in.w;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      const double *x = in + (r * C + c) * P;
      double sum = 0;
      for (int64_t p = 0; p < P; p++) sum += x[p];
      double v = sum / (double)P;
      out[r * C + c] = accumulate ? out[r * C + c] + v : v;
    }
}

void hr_gap_back(const hr_layer_t *L, const double *dout, int64_t R,
                 double *din, int accumulate) {
  int64_t C = L->in.c, P = L->in.h * L->in.w;
  for (int64_t r = 0; r < R; r++)
    for (int64_t c = 0; c < C; c++) {
      double v = dout[r * C + c] / (double)P, *x = din + (r * C + c) * P;
      for (int64_t p = 0; p < P; p++) x[p] = accumulate ? x[p] + v : v;
    }
}

/* ---- the node interface ---------------------------------------------------- */

static void pool_forward(const hr_node_ctx_t *c, double *out) {
  hr_pool_forward(c->L, c->in[0], c->S, out, c->argmax);
}

static void pool_jvp(const hr_node_ctx_t *c, int j, const double *rin,
                     int64_t R, double *rout, int accumulate) {
  (void)j;
  hr_pool_jvp(c->L, rin, R, c->S, c->argmax, rout, accumulate);
}

static void pool_vjp(const hr_node_ctx_t *c, int j, const double *dout,
                     int64_t R, double *din, int accumulate) {
  (void)j;
  hr_pool_back(c->L, dout, R, c->S, c->argmax, din, accumulate);
}

const hr_op_t hr_op_pool = {.forward = pool_forward, .jvp = pool_jvp, .vjp = pool_vjp};

static void gap_forward(const hr_node_ctx_t *c, double *out) {
  hr_gap_apply(c->L, c->in[0], c->S, out, 0);
}

static void gap_jvp(const hr_node_ctx_t *c, int j, const double *rin,
                    int64_t R, double *rout, int accumulate) {
  (void)j;
  hr_gap_apply(c->L, rin, R, rout, accumulate);
}

static void gap_vjp(const hr_node_ctx_t *c, int j, const double *dout,
                    int64_t R, double *din, int accumulate) {
  (void)j;
  hr_gap_back(c->L, dout, R, din, accumulate);
}

const hr_op_t hr_op_gap = {.forward = gap_forward, .jvp = gap_jvp, .vjp = gap_vjp};
