/* BatchNorm in eval mode and LayerNorm (see layers.h): y = gamma x^ + beta
 * with x^ = N(x), gamma and beta per channel (BatchNorm) or per element of
 * the last dimension (LayerNorm, with elementwise affine).
 *
 * BatchNorm with frozen statistics is affine in x: J = diag(s_c),
 * s_c = 1/sqrt(var_c + eps).  LayerNorm normalises each group of n values
 * with their own mean and biased variance: with s = 1/sqrt(v + eps),
 *   J u      = s (u - mean(u) - x^ mean(x^ u))          (J symmetric)
 * and its own second-order term, the derivative of J(x)^T g along u:
 *   H_g u    = -s a J g - s b J u - s x^ mean(g J u),
 *   a = mean(x^ u),  b = mean(g x^),
 * with g the gradient at x^ (gamma times the output's).  A sample's cache
 * holds x^, then (LayerNorm) s of each group. */
#include <math.h>
#include <string.h>

#include "layers.h"

static int is_layernorm(const hr_layer_t *L) { return L->kind == HR_LAYER_LAYERNORM; }
static int64_t row_size(const hr_layer_t *L) { return L->in.c * L->in.h * L->in.w; }

int64_t hr_norm_group(const hr_layer_t *L) {
  return L->in.h == 1 && L->in.w == 1 ? L->in.c : L->in.w;
}

static int64_t groups(const hr_layer_t *L) { return row_size(L) / hr_norm_group(L); }

int64_t hr_node_cache_width(const hr_layer_t *L) {
  if (L->kind == HR_LAYER_BATCHNORM) return row_size(L);
  if (is_layernorm(L)) return row_size(L) + groups(L);
  return 0;
}

int64_t hr_norm_scratch(const hr_layer_t *L) { return 3 * row_size(L); }

/* A row as `outer` runs of `inner` elements, gamma's index being the run
 * (BatchNorm: a channel of h w values) or the place in it (LayerNorm: a
 * group of n), so that the per-element loops divide nothing. */
typedef struct {
  int64_t outer, inner;
  int by_run;
} norm_walk_t;

static norm_walk_t walk_of(const hr_layer_t *L) {
  if (is_layernorm(L)) return (norm_walk_t){groups(L), hr_norm_group(L), 0};
  return (norm_walk_t){L->in.c, L->in.h * L->in.w, 1};
}

static const double *gamma_of(const hr_node_ctx_t *c) {
  return c->L->nweight ? c->theta + c->L->offset_w : NULL;
}

/* BatchNorm's s_c. */
static double bn_scale(const hr_layer_t *L, const double *buffer, int64_t ch) {
  return 1.0 / sqrt(buffer[L->offset_buf + L->in.c + ch] + L->alpha);
}

/* out [+]= J (pre o u), pre NULL for ones; one row (cache: the sample's). */
static void row_jacobian(const hr_layer_t *L, const double *buffer,
                         const double *cache, const double *u,
                         const double *pre, double *out, int accumulate) {
  int64_t d = row_size(L);
  if (!is_layernorm(L)) {  /* channel by channel: one s_c for hw values */
    int64_t hw = L->in.h * L->in.w;
    for (int64_t ch = 0; ch < L->in.c; ch++) {
      double f = bn_scale(L, buffer, ch) * (pre ? pre[ch] : 1.0);
      const double *uc = u + ch * hw;
      double *oc = out + ch * hw;
      if (accumulate)
        for (int64_t k = 0; k < hw; k++) oc[k] += f * uc[k];
      else
        for (int64_t k = 0; k < hw; k++) oc[k] = f * uc[k];
    }
    return;
  }
  int64_t n = hr_norm_group(L), G = groups(L);
  const double *s = cache + d;
  for (int64_t q = 0; q < G; q++) {
    const double *xh = cache + q * n, *uq = u + q * n;
    double mu = 0, a = 0;
    for (int64_t k = 0; k < n; k++) {
      double v = uq[k] * (pre ? pre[k] : 1.0);
      mu += v;
      a += xh[k] * v;
    }
    mu /= (double)n;
    a /= (double)n;
    double *o = out + q * n;
    for (int64_t k = 0; k < n; k++) {
      double v = s[q] * (uq[k] * (pre ? pre[k] : 1.0) - mu - xh[k] * a);
      o[k] = accumulate ? o[k] + v : v;
    }
  }
}

static void norm_forward(const hr_node_ctx_t *c, double *out) {
  const hr_layer_t *L = c->L;
  int64_t d = row_size(L), n = hr_norm_group(L), G = groups(L);
  int64_t cw = hr_node_cache_width(L), hw = L->in.h * L->in.w;
  const double *gamma = gamma_of(c), *beta = L->nbias ? c->theta + L->offset_b : NULL;
  norm_walk_t wk = walk_of(L);
  for (int64_t i = 0; i < c->S; i++) {
    const double *x = c->in[0] + i * d;
    double *xh = c->xhat + i * cw, *y = out + i * d;
    if (is_layernorm(L)) {
      for (int64_t q = 0; q < G; q++) {
        double mu = 0, var = 0;
        for (int64_t k = 0; k < n; k++) mu += x[q * n + k];
        mu /= (double)n;
        for (int64_t k = 0; k < n; k++) {
          double t = x[q * n + k] - mu;
          var += t * t;
        }
        double s = 1.0 / sqrt(var / (double)n + L->alpha);
        xh[d + q] = s;
        for (int64_t k = 0; k < n; k++) xh[q * n + k] = (x[q * n + k] - mu) * s;
      }
    } else {
      for (int64_t e = 0; e < d; e++)
        xh[e] = (x[e] - c->buffer[L->offset_buf + e / hw]) *
                bn_scale(L, c->buffer, e / hw);
    }
    for (int64_t q = 0; q < wk.outer; q++)
      for (int64_t k = 0; k < wk.inner; k++) {
        int64_t p = wk.by_run ? q : k, e = q * wk.inner + k;
        y[e] = (gamma ? gamma[p] : 1.0) * xh[e] + (beta ? beta[p] : 0.0);
      }
  }
}

static void norm_jvp(const hr_node_ctx_t *c, int j, const double *rin,
                     int64_t R, double *rout, int accumulate) {
  (void)j;
  const hr_layer_t *L = c->L;
  int64_t d = row_size(L), cw = hr_node_cache_width(L);
  const double *gamma = gamma_of(c);
  if (!is_layernorm(L)) {  /* J diagonal: gamma o (J u) = J (gamma o u) */
    for (int64_t r = 0; r < R; r++)
      row_jacobian(L, c->buffer, NULL, rin + r * d, gamma, rout + r * d,
                   accumulate);
    return;
  }
  double *t = c->scratch; /* hr_norm_scratch */
  norm_walk_t wk = walk_of(L);
  for (int64_t r = 0; r < R; r++) {
    row_jacobian(L, c->buffer, c->xhat + (r % c->S) * cw, rin + r * d, NULL, t, 0);
    double *o = rout + r * d;
    for (int64_t q = 0; q < wk.outer; q++)  /* LayerNorm: gamma per place */
      for (int64_t k = 0; k < wk.inner; k++) {
        int64_t e = q * wk.inner + k;
        double v = (gamma ? gamma[k] : 1.0) * t[e];
        o[e] = accumulate ? o[e] + v : v;
      }
  }
}

/* The per-element gamma as a row (pre of row_jacobian wants it per
 * channel for BatchNorm, per element of the group for LayerNorm: both are
 * just gamma). */
static void norm_vjp(const hr_node_ctx_t *c, int j, const double *dout,
                     int64_t R, double *din, int accumulate) {
  (void)j;
  const hr_layer_t *L = c->L;
  int64_t d = row_size(L), cw = hr_node_cache_width(L);
  for (int64_t r = 0; r < R; r++)
    row_jacobian(L, c->buffer, c->xhat + (r % c->S) * cw, dout + r * d,
                 gamma_of(c), din + r * d, accumulate);
}

static void norm_jvp_param(const hr_node_ctx_t *c, const double *Vd,
                           double *rout, int accumulate) {
  const hr_layer_t *L = c->L;
  int64_t d = row_size(L), cw = hr_node_cache_width(L);
  const double *vg = L->nweight ? Vd + L->offset_w : NULL;
  const double *vb = L->nbias ? Vd + L->offset_b : NULL;
  norm_walk_t wk = walk_of(L);
  for (int64_t i = 0; i < c->S; i++) {
    const double *xh = c->xhat + i * cw;
    double *o = rout + i * d;
    for (int64_t q = 0; q < wk.outer; q++)
      for (int64_t k = 0; k < wk.inner; k++) {
        int64_t p = wk.by_run ? q : k, e = q * wk.inner + k;
        double v = (vg ? vg[p] * xh[e] : 0.0) + (vb ? vb[p] : 0.0);
        o[e] = accumulate ? o[e] + v : v;
      }
  }
}

/* gw/gb += sum over `rows` rows of dout . (x^ of the row's sample, 1). */
static void param_grad(const hr_layer_t *L, const double *xhat_rows,
                       int64_t cache_stride, const double *dout, int64_t rows,
                       double *gw, double *gb) {
  int64_t d = row_size(L);
  norm_walk_t wk = walk_of(L);
  for (int64_t i = 0; i < rows; i++) {
    const double *xh = xhat_rows + i * cache_stride, *g = dout + i * d;
    for (int64_t q = 0; q < wk.outer; q++)
      for (int64_t k = 0; k < wk.inner; k++) {
        int64_t p = wk.by_run ? q : k, e = q * wk.inner + k;
        if (gw) gw[p] += g[e] * xh[e];
        if (gb) gb[p] += g[e];
      }
  }
}

static void norm_grad(const hr_node_ctx_t *c, const double *dout, double *g) {
  const hr_layer_t *L = c->L;
  param_grad(L, c->xhat, hr_node_cache_width(L), dout, c->S,
             L->nweight ? g + L->offset_w : NULL, L->nbias ? g + L->offset_b : NULL);
}

static void norm_row_grad(const hr_node_ctx_t *c, const double *dout_r,
                          int64_t j, double *gw, double *gb) {
  const hr_layer_t *L = c->L;
  if (L->nweight) memset(gw, 0, (size_t)L->nweight * sizeof *gw);
  if (gb) memset(gb, 0, (size_t)L->nbias * sizeof *gb);
  param_grad(L, c->xhat + j * hr_node_cache_width(L), 0, dout_r, 1,
             L->nweight ? gw : NULL, gb);
}

/* d x^ = J rin enters gamma's gradient: g_gamma += delta o J rin. */
static void norm_cross_grad(const hr_node_ctx_t *c, const double *delta,
                            const double *rin, double *g) {
  const hr_layer_t *L = c->L;
  if (!L->nweight) return;
  int64_t d = row_size(L), cw = hr_node_cache_width(L);
  double *t = c->scratch;
  norm_walk_t wk = walk_of(L);
  for (int64_t i = 0; i < c->S; i++) {
    row_jacobian(L, c->buffer, c->xhat + i * cw, rin + i * d, NULL, t, 0);
    const double *di = delta + i * d;
    for (int64_t q = 0; q < wk.outer; q++)
      for (int64_t k = 0; k < wk.inner; k++) {
        int64_t e = q * wk.inner + k;
        g[L->offset_w + (wk.by_run ? q : k)] += di[e] * t[e];
      }
  }
}

/* d/dx (delta . (V_gamma o x^)) = J (V_gamma o delta). */
static void norm_cross_back(const hr_node_ctx_t *c, const double *Vd,
                            const double *delta, double *din) {
  const hr_layer_t *L = c->L;
  if (!L->nweight) return;
  int64_t d = row_size(L), cw = hr_node_cache_width(L);
  for (int64_t i = 0; i < c->S; i++)
    row_jacobian(L, c->buffer, c->xhat + i * cw, delta + i * d,
                 Vd + L->offset_w, din + i * d, 1);
}

static void norm_curvature(const hr_node_ctx_t *c, const double *rin,
                           const double *delta, int64_t R, double *rdin) {
  const hr_layer_t *L = c->L;
  if (!is_layernorm(L)) return; /* affine in x */
  int64_t d = row_size(L), n = hr_norm_group(L), G = groups(L);
  int64_t cw = hr_node_cache_width(L);
  const double *gamma = gamma_of(c);
  double *g = c->scratch, *Jg = g + n, *Ju = g + 2 * n;
  for (int64_t r = 0; r < R; r++) {
    int64_t i = r % c->S;
    const double *cache = c->xhat + i * cw, *s = cache + d;
    for (int64_t q = 0; q < G; q++) {
      const double *xh = cache + q * n, *u = rin + r * d + q * n;
      double mg = 0, mu = 0, a = 0, b = 0;
      for (int64_t k = 0; k < n; k++) {
        g[k] = (gamma ? gamma[k] : 1.0) * delta[i * d + q * n + k];
        mg += g[k];
        mu += u[k];
        a += xh[k] * u[k];
        b += g[k] * xh[k];
      }
      mg /= (double)n; mu /= (double)n; a /= (double)n; b /= (double)n;
      double gju = 0;
      for (int64_t k = 0; k < n; k++) {
        Jg[k] = s[q] * (g[k] - mg - xh[k] * b);
        Ju[k] = s[q] * (u[k] - mu - xh[k] * a);
        gju += g[k] * Ju[k];
      }
      gju /= (double)n;
      double *o = rdin + r * d + q * n;
      for (int64_t k = 0; k < n; k++)
        o[k] -= s[q] * (a * Jg[k] + b * Ju[k] + xh[k] * gju);
    }
  }
}

const hr_op_t hr_op_norm = {
    .forward = norm_forward,
    .jvp = norm_jvp,
    .vjp = norm_vjp,
    .jvp_param = norm_jvp_param,
    .grad = norm_grad,
    .row_grad = norm_row_grad,
    .cross_grad = norm_cross_grad,
    .cross_back = norm_cross_back,
    .curvature = norm_curvature,
};
