/* Linear and conv2d layers as im2col + GEMM (see layers.h).
 *
 * A row's tensor is channel-major (o*P + p, PyTorch's C x H x W); GEMMs
 * work position-major (p*Co + o), so outputs pass through a small
 * transpose.  Conv routines go in blocks of rows so the patch buffer stays
 * within SCRATCH_DOUBLES however many rows (samples x directions) come. */
#include <cblas.h>
#include <string.h>

#include "layers.h"

enum { SCRATCH_DOUBLES = 1 << 22 }; /* 32 MiB per conv block */

static int is_linear(const hr_layer_t *L) { return L->kind == HR_LAYER_LINEAR; }

int64_t hr_affine_positions(const hr_layer_t *L) { return L->out.h * L->out.w; }

int64_t hr_affine_patch_width(const hr_layer_t *L) {
  return L->in.c * L->kernel * L->kernel;
}

/* Rows per conv block: patches (rb*P x Q) plus a position-major output
 * (rb*P x Co) within the budget. */
static int64_t block_rows(const hr_layer_t *L, int64_t R) {
  int64_t per = hr_affine_positions(L) *
                (hr_affine_patch_width(L) + L->out.c);
  int64_t rb = SCRATCH_DOUBLES / (per > 0 ? per : 1);
  if (rb < 1) rb = 1;
  return rb < R ? rb : R;
}

int64_t hr_affine_scratch(const hr_layer_t *L, int64_t R) {
  if (is_linear(L) || R < 1) return 0;
  return block_rows(L, R) * hr_affine_positions(L) *
         (hr_affine_patch_width(L) + L->out.c);
}

/* im2col of R rows: patch (r, p) at row r*P + p, entries (c, kh, kw);
 * zero where the window reaches into the padding. */
static void im2col(const hr_layer_t *L, const double *in, int64_t R,
                   double *patches) {
  int64_t C = L->in.c, H = L->in.h, W = L->in.w, K = L->kernel;
  int64_t Ho = L->out.h, Wo = L->out.w, Q = C * K * K, st = L->stride;
  for (int64_t r = 0; r < R; r++) {
    const double *x = in + r * C * H * W;
    for (int64_t ho = 0; ho < Ho; ho++)
      for (int64_t wo = 0; wo < Wo; wo++) {
        double *q = patches + ((r * Ho + ho) * Wo + wo) * Q;
        for (int64_t c = 0; c < C; c++)
          for (int64_t kh = 0; kh < K; kh++) {
            int64_t h = ho * st - L->pad + kh;
            double *dst = q + (c * K + kh) * K;
            if (h < 0 || h >= H) {
              memset(dst, 0, (size_t)K * sizeof *dst);
              continue;
            }
            const double *row = x + (c * H + h) * W;
            for (int64_t kw = 0; kw < K; kw++) {
              int64_t w = wo * st - L->pad + kw;
              dst[kw] = w >= 0 && w < W ? row[w] : 0.0;
            }
          }
      }
  }
}

/* The transpose of im2col, added into din. */
static void col2im_add(const hr_layer_t *L, const double *patches, int64_t R,
                       double *din) {
  int64_t C = L->in.c, H = L->in.h, W = L->in.w, K = L->kernel;
  int64_t Ho = L->out.h, Wo = L->out.w, Q = C * K * K, st = L->stride;
  for (int64_t r = 0; r < R; r++) {
    double *x = din + r * C * H * W;
    for (int64_t ho = 0; ho < Ho; ho++)
      for (int64_t wo = 0; wo < Wo; wo++) {
        const double *q = patches + ((r * Ho + ho) * Wo + wo) * Q;
        for (int64_t c = 0; c < C; c++)
          for (int64_t kh = 0; kh < K; kh++) {
            int64_t h = ho * st - L->pad + kh;
            if (h < 0 || h >= H) continue;
            const double *src = q + (c * K + kh) * K;
            double *row = x + (c * H + h) * W;
            for (int64_t kw = 0; kw < K; kw++) {
              int64_t w = wo * st - L->pad + kw;
              if (w >= 0 && w < W) row[w] += src[kw];
            }
          }
      }
  }
}

const double *hr_affine_patches(const hr_layer_t *L, const double *in,
                                int64_t R, double *buf) {
  if (is_linear(L)) return in;
  im2col(L, in, R, buf);
  return buf;
}

/* Position-major zt (R*P x Co) into channel-major rows of out. */
static void scatter_out(const hr_layer_t *L, const double *zt, int64_t R,
                        double *out, int accumulate) {
  int64_t P = hr_affine_positions(L), Co = L->out.c;
  for (int64_t r = 0; r < R; r++)
    for (int64_t o = 0; o < Co; o++) {
      double *dst = out + (r * Co + o) * P;
      const double *src = zt + r * P * Co + o;
      if (accumulate)
        for (int64_t p = 0; p < P; p++) dst[p] += src[p * Co];
      else
        for (int64_t p = 0; p < P; p++) dst[p] = src[p * Co];
    }
}

/* Channel-major rows of dout into position-major dzt (R*P x Co). */
static void gather_out(const hr_layer_t *L, const double *dout, int64_t R,
                       double *dzt) {
  int64_t P = hr_affine_positions(L), Co = L->out.c;
  for (int64_t r = 0; r < R; r++)
    for (int64_t o = 0; o < Co; o++) {
      const double *src = dout + (r * Co + o) * P;
      double *dst = dzt + r * P * Co + o;
      for (int64_t p = 0; p < P; p++) dst[p * Co] = src[p];
    }
}

void hr_affine_apply(const hr_layer_t *L, const double *W, const double *in,
                     int patches, int64_t R, double *out, int accumulate,
                     double *scratch) {
  int64_t Q = hr_affine_patch_width(L), Co = L->out.c;
  if (is_linear(L)) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, (int)Co,
                (int)Q, 1.0, in, (int)Q, W, (int)Q, accumulate ? 1.0 : 0.0,
                out, (int)Co);
    return;
  }
  int64_t P = hr_affine_positions(L), din = L->in.c * L->in.h * L->in.w;
  int64_t rb = block_rows(L, R), dout = Co * P;
  double *pbuf = scratch, *zt = scratch + rb * P * Q;
  for (int64_t r0 = 0; r0 < R; r0 += rb) {
    int64_t n = R - r0 < rb ? R - r0 : rb;
    const double *pt = patches ? in + r0 * P * Q : pbuf;
    if (!patches) im2col(L, in + r0 * din, n, pbuf);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(n * P), (int)Co,
                (int)Q, 1.0, pt, (int)Q, W, (int)Q, 0.0, zt, (int)Co);
    scatter_out(L, zt, n, out + r0 * dout, accumulate);
  }
}

void hr_affine_add_bias(const hr_layer_t *L, const double *b, int64_t R,
                        double *out) {
  int64_t P = hr_affine_positions(L), Co = L->out.c;
  for (int64_t r = 0; r < R; r++)
    for (int64_t o = 0; o < Co; o++) {
      double *dst = out + (r * Co + o) * P;
      for (int64_t p = 0; p < P; p++) dst[p] += b[o];
    }
}

void hr_affine_back_input(const hr_layer_t *L, const double *W,
                          const double *dout, int64_t R, double *din,
                          int accumulate, double *scratch) {
  int64_t Q = hr_affine_patch_width(L), Co = L->out.c;
  if (is_linear(L)) {
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)Q,
                (int)Co, 1.0, dout, (int)Co, W, (int)Q,
                accumulate ? 1.0 : 0.0, din, (int)Q);
    return;
  }
  int64_t P = hr_affine_positions(L), nin = L->in.c * L->in.h * L->in.w;
  if (!accumulate) memset(din, 0, (size_t)(R * nin) * sizeof *din);
  int64_t rb = block_rows(L, R);
  double *dpatch = scratch, *dzt = scratch + rb * P * Q;
  for (int64_t r0 = 0; r0 < R; r0 += rb) {
    int64_t n = R - r0 < rb ? R - r0 : rb;
    gather_out(L, dout + r0 * Co * P, n, dzt);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(n * P),
                (int)Q, (int)Co, 1.0, dzt, (int)Co, W, (int)Q, 0.0, dpatch,
                (int)Q);
    col2im_add(L, dpatch, n, din + r0 * nin);
  }
}

static void add_bias_grad(const hr_layer_t *L, const double *dout, int64_t R,
                          double *gb) {
  int64_t P = hr_affine_positions(L), Co = L->out.c;
  for (int64_t r = 0; r < R; r++)
    for (int64_t o = 0; o < Co; o++) {
      const double *src = dout + (r * Co + o) * P;
      double sum = 0;
      for (int64_t p = 0; p < P; p++) sum += src[p];
      gb[o] += sum;
    }
}

void hr_affine_grad(const hr_layer_t *L, const double *dout, const double *in,
                    int patches, int64_t R, double *gW, double *gb,
                    double *scratch) {
  int64_t Q = hr_affine_patch_width(L), Co = L->out.c, P = hr_affine_positions(L);
  if (gb) add_bias_grad(L, dout, R, gb);
  if (is_linear(L)) {
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Co, (int)Q,
                (int)R, 1.0, dout, (int)Co, in, (int)Q, 1.0, gW, (int)Q);
    return;
  }
  int64_t rb = block_rows(L, R), nin = L->in.c * L->in.h * L->in.w;
  double *pbuf = scratch, *dzt = scratch + rb * P * Q;
  for (int64_t r0 = 0; r0 < R; r0 += rb) {
    int64_t n = R - r0 < rb ? R - r0 : rb;
    const double *pt = patches ? in + r0 * P * Q : pbuf;
    if (!patches) im2col(L, in + r0 * nin, n, pbuf);
    gather_out(L, dout + r0 * Co * P, n, dzt);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Co, (int)Q,
                (int)(n * P), 1.0, dzt, (int)Co, pt, (int)Q, 1.0, gW, (int)Q);
  }
}

void hr_affine_row_grad(const hr_layer_t *L, const double *dout_r,
                        const double *patches_r, double *gW, double *gb) {
  int64_t Q = hr_affine_patch_width(L), Co = L->out.c, P = hr_affine_positions(L);
  /* dout_r is (Co x P) channel-major: gW = dout_r . patches_r */
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Co, (int)Q,
              (int)P, 1.0, dout_r, (int)P, patches_r, (int)Q, 0.0, gW, (int)Q);
  if (gb) {
    memset(gb, 0, (size_t)Co * sizeof *gb);
    add_bias_grad(L, dout_r, 1, gb);
  }
}

/* ---- the node interface ---------------------------------------------------- */

static const double *input_rows(const hr_node_ctx_t *c, int *patches) {
  *patches = c->patches != NULL;
  return *patches ? c->patches : c->in[0];
}

static void affine_forward(const hr_node_ctx_t *c, double *out) {
  const hr_layer_t *L = c->L;
  if (c->patches) hr_affine_patches(L, c->in[0], c->S, c->patches);
  int pt;
  const double *x = input_rows(c, &pt);
  hr_affine_apply(L, c->theta + L->offset_w, x, pt, c->S, out, 0, c->scratch);
  if (L->nbias) hr_affine_add_bias(L, c->theta + L->offset_b, c->S, out);
}

static void affine_jvp(const hr_node_ctx_t *c, int j, const double *rin,
                       int64_t R, double *rout, int accumulate) {
  (void)j;
  hr_affine_apply(c->L, c->theta + c->L->offset_w, rin, 0, R, rout, accumulate,
                  c->scratch);
}

static void affine_vjp(const hr_node_ctx_t *c, int j, const double *dout,
                       int64_t R, double *din, int accumulate) {
  (void)j;
  hr_affine_back_input(c->L, c->theta + c->L->offset_w, dout, R, din,
                       accumulate, c->scratch);
}

static void affine_jvp_param(const hr_node_ctx_t *c, const double *Vd,
                             double *rout, int accumulate) {
  const hr_layer_t *L = c->L;
  int pt;
  const double *x = input_rows(c, &pt);
  hr_affine_apply(L, Vd + L->offset_w, x, pt, c->S, rout, accumulate, c->scratch);
  if (L->nbias) hr_affine_add_bias(L, Vd + L->offset_b, c->S, rout);
}

static void affine_grad(const hr_node_ctx_t *c, const double *dout, double *g) {
  const hr_layer_t *L = c->L;
  int pt;
  const double *x = input_rows(c, &pt);
  hr_affine_grad(L, dout, x, pt, c->S, g + L->offset_w,
                 L->nbias ? g + L->offset_b : NULL, c->scratch);
}

static void affine_row_grad(const hr_node_ctx_t *c, const double *dout_r,
                            int64_t j, double *gw, double *gb) {
  const hr_layer_t *L = c->L;
  int pt;
  const double *x = input_rows(c, &pt);
  hr_affine_row_grad(L, dout_r,
                     x + j * hr_affine_positions(L) * hr_affine_patch_width(L),
                     gw, gb);
}

static void affine_cross_grad(const hr_node_ctx_t *c, const double *delta,
                              const double *rin, double *g) {
  hr_affine_grad(c->L, delta, rin, 0, c->S, g + c->L->offset_w, NULL, c->scratch);
}

static void affine_cross_back(const hr_node_ctx_t *c, const double *Vd,
                              const double *delta, double *din) {
  hr_affine_back_input(c->L, Vd + c->L->offset_w, delta, c->S, din, 1,
                       c->scratch);
}

const hr_op_t hr_op_affine = {
    .forward = affine_forward,
    .jvp = affine_jvp,
    .vjp = affine_vjp,
    .jvp_param = affine_jvp_param,
    .grad = affine_grad,
    .row_grad = affine_row_grad,
    .cross_grad = affine_cross_grad,
    .cross_back = affine_cross_back,
};
