/* Max and average pooling, no padding, floor mode (as PyTorch's
 * MaxPool2d/AvgPool2d with their defaults).  Both are linear maps once the
 * max-pooling routes are fixed by the forward pass, so their Jacobian-
 * vector products and transposes need no second-order term. */
#include <math.h>
#include <string.h>

#include "layers.h"

static int64_t in_size(const hr_layer_t *L) { return L->in.c * L->in.h * L->in.w; }
static int64_t out_size(const hr_layer_t *L) { return L->out.c * L->out.h * L->out.w; }

/* Input index (within one row) of window element (kh, kw) of output o. */
static int64_t window_index(const hr_layer_t *L, int64_t c, int64_t ho,
                            int64_t wo, int64_t kh, int64_t kw) {
  int64_t h = ho * L->stride + kh, w = wo * L->stride + kw;
  return (c * L->in.h + h) * L->in.w + w;
}

static void max_row(const hr_layer_t *L, const double *x, double *y,
                    int32_t *arg) {
  int64_t K = L->kernel, o = 0;
  for (int64_t c = 0; c < L->out.c; c++)
    for (int64_t ho = 0; ho < L->out.h; ho++)
      for (int64_t wo = 0; wo < L->out.w; wo++, o++) {
        /* PyTorch's scan: the first strictly greater element wins, so
         * ties go to the first in row-major window order; NaN wins. */
        int64_t best = window_index(L, c, ho, wo, 0, 0);
        double v = -INFINITY;
        for (int64_t kh = 0; kh < K; kh++)
          for (int64_t kw = 0; kw < K; kw++) {
            int64_t i = window_index(L, c, ho, wo, kh, kw);
            if (x[i] > v || isnan(x[i])) {
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

static void avg_row(const hr_layer_t *L, const double *x, double *y) {
  int64_t K = L->kernel, o = 0;
  double scale = 1.0 / (double)(K * K);
  for (int64_t c = 0; c < L->out.c; c++)
    for (int64_t ho = 0; ho < L->out.h; ho++)
      for (int64_t wo = 0; wo < L->out.w; wo++, o++) {
        double sum = 0;
        for (int64_t kh = 0; kh < K; kh++)
          for (int64_t kw = 0; kw < K; kw++)
            sum += x[window_index(L, c, ho, wo, kh, kw)];
        y[o] = sum * scale;
      }
}

void hr_pool_forward(const hr_layer_t *L, const double *in, int64_t S,
                     double *out, int32_t *argmax) {
  int64_t din = in_size(L), dout = out_size(L);
  for (int64_t i = 0; i < S; i++) {
    if (L->kind == HR_LAYER_MAXPOOL)
      max_row(L, in + i * din, out + i * dout, argmax + i * dout);
    else
      avg_row(L, in + i * din, out + i * dout);
  }
}

void hr_pool_jvp(const hr_layer_t *L, const double *rin, int64_t R, int64_t S,
                 const int32_t *argmax, double *rout) {
  int64_t din = in_size(L), dout = out_size(L);
  for (int64_t r = 0; r < R; r++) {
    const double *x = rin + r * din;
    double *y = rout + r * dout;
    if (L->kind == HR_LAYER_MAXPOOL) {
      const int32_t *arg = argmax + (r % S) * dout;
      for (int64_t o = 0; o < dout; o++) y[o] = x[arg[o]];
    } else {
      avg_row(L, x, y);
    }
  }
}

void hr_pool_back(const hr_layer_t *L, const double *dout, int64_t R,
                  int64_t S, const int32_t *argmax, double *din) {
  int64_t ni = in_size(L), no = out_size(L), K = L->kernel;
  memset(din, 0, (size_t)(R * ni) * sizeof *din);
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
            for (int64_t kw = 0; kw < K; kw++)
              x[window_index(L, c, ho, wo, kh, kw)] += g[o] * scale;
  }
}
