/* Linear and conv2d layers as im2col + GEMM (see layers.h).
 *
 * A row's tensor is channel-major (o*P + p, PyTorch's C x H x W), and so
 * are its patches (Q x P, Caffe's layout): a GEMM per row reads and writes
 * channel-major rows directly, and for stride 1 im2col and its transpose
 * copy whole runs of a row.  Conv routines go in blocks of rows so the
 * patch buffer stays within SCRATCH_DOUBLES however many rows (samples x
 * directions) come. */
#include <cblas.h>
#include <stdint.h>
#include <string.h>

#include "layers.h"

enum { SCRATCH_DOUBLES = 1 << 22 }; /* 32 MiB per conv block */

static int is_linear(const hr_layer_t *L) { return L->kind == HR_LAYER_LINEAR; }

int64_t hr_affine_positions(const hr_layer_t *L) { return L->out.h * L->out.w; }

int64_t hr_affine_patch_width(const hr_layer_t *L) {
  return L->in.c * L->kernel * L->kernel;
}

/* Rows per conv block: their patch matrices (Q x P each) within the
 * budget. */
static int64_t block_rows(const hr_layer_t *L, int64_t R) {
  int64_t per = hr_affine_positions(L) * hr_affine_patch_width(L);
  int64_t rb = SCRATCH_DOUBLES / (per > 0 ? per : 1);
  if (rb < 1) rb = 1;
  return rb < R ? rb : R;
}

int64_t hr_affine_scratch(const hr_layer_t *L, int64_t R) {
  if (is_linear(L) || R < 1) return 0;
  return block_rows(L, R) * hr_affine_positions(L) * hr_affine_patch_width(L);
}

/* The output columns wo in [lo, hi) whose window column wo*st - pad + kw
 * lies inside the input row of width W; the rest read padding. */
static void inside(int64_t Wo, int64_t W, int64_t st, int64_t pad, int64_t kw,
                   int64_t *lo, int64_t *hi) {
  int64_t a = pad - kw;  /* wo * st >= a */
  *lo = a > 0 ? (a + st - 1) / st : 0;
  int64_t b = W + pad - kw;  /* wo * st < b */
  *hi = b > 0 ? (b + st - 1) / st : 0;
  if (*hi > Wo) *hi = Wo;
  if (*lo > *hi) *lo = *hi;
}

/* im2col of R rows and its transpose, one walk: row r's patch matrix
 * (Q x P) at r*Q*P has entry ((c, kh, kw), (ho, wo)) =
 * x[c][ho*st - pad + kh][wo*st - pad + kw], zero in the padding.
 * gather: patches = im2col(x); otherwise x += im2col^T(patches).  For
 * stride 1 each (q, ho) run is one contiguous copy. */
static void patch_walk(const hr_layer_t *L, double *x_all, double *patches,
                       int64_t R, int gather) {
  int64_t C = L->in.c, H = L->in.h, W = L->in.w, K = L->kernel;
  int64_t Ho = L->out.h, Wo = L->out.w, P = Ho * Wo, st = L->stride;
  for (int64_t r = 0; r < R; r++) {
    double *x = x_all + r * C * H * W;
    double *q = patches + r * C * K * K * P;
    for (int64_t c = 0; c < C; c++)
      for (int64_t kh = 0; kh < K; kh++)
        for (int64_t kw = 0; kw < K; kw++, q += P) {
          int64_t lo, hi, off = kw - L->pad;  /* input column wo*st + off */
          inside(Wo, W, st, L->pad, kw, &lo, &hi);
          for (int64_t ho = 0; ho < Ho; ho++) {
            double *run = q + ho * Wo;
            int64_t h = ho * st - L->pad + kh;
            int outside = h < 0 || h >= H;
            if (!gather) {
              if (outside) continue;
              double *row = x + (c * H + h) * W;
              for (int64_t wo = lo; wo < hi; wo++) row[wo * st + off] += run[wo];
              continue;
            }
            if (outside) {
              memset(run, 0, (size_t)Wo * sizeof *run);
              continue;
            }
            const double *row = x + (c * H + h) * W;
            for (int64_t wo = 0; wo < lo; wo++) run[wo] = 0.0;
            if (st == 1)
              memcpy(run + lo, row + lo + off, (size_t)(hi - lo) * sizeof *run);
            else
              for (int64_t wo = lo; wo < hi; wo++) run[wo] = row[wo * st + off];
            for (int64_t wo = hi; wo < Wo; wo++) run[wo] = 0.0;
          }
        }
  }
}

static void im2col(const hr_layer_t *L, const double *in, int64_t R,
                   double *patches) {
  /* gather only reads x */
  patch_walk(L, (double *)(uintptr_t)in, patches, R, 1);
}

static void col2im_add(const hr_layer_t *L, const double *patches, int64_t R,
                       double *din) {
  patch_walk(L, din, (double *)(uintptr_t)patches, R, 0);
}

const double *hr_affine_patches(const hr_layer_t *L, const double *in,
                                int64_t R, double *buf) {
  if (is_linear(L)) return in;
  im2col(L, in, R, buf);
  return buf;
}

/* Conv GEMMs go one row at a time, each on that row's channel-major
 * output (Co x P) = W (Co x Q) . patches (Q x P): no transposes around
 * them. */
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
  int64_t rb = block_rows(L, R);
  for (int64_t r0 = 0; r0 < R; r0 += rb) {
    int64_t n = R - r0 < rb ? R - r0 : rb;
    const double *pt = patches ? in + r0 * P * Q : scratch;
    if (!patches) im2col(L, in + r0 * din, n, scratch);
    for (int64_t r = 0; r < n; r++)
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Co, (int)P,
                  (int)Q, 1.0, W, (int)Q, pt + r * Q * P, (int)P,
                  accumulate ? 1.0 : 0.0, out + (r0 + r) * Co * P, (int)P);
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
  for (int64_t r0 = 0; r0 < R; r0 += rb) {
    int64_t n = R - r0 < rb ? R - r0 : rb;
    /* d patches (Q x P) = W^T (Q x Co) . dout_r (Co x P) */
    for (int64_t r = 0; r < n; r++)
      cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)Q, (int)P,
                  (int)Co, 1.0, W, (int)Q, dout + (r0 + r) * Co * P, (int)P,
                  0.0, scratch + r * Q * P, (int)P);
    col2im_add(L, scratch, n, din + r0 * nin);
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

/* gW (Co x Q) [+]= dout_r (Co x P) . patches_r^T (P x Q), one row. */
static void row_weight_grad(const hr_layer_t *L, const double *dout_r,
                            const double *patches_r, double beta, double *gW) {
  int64_t Q = hr_affine_patch_width(L), Co = L->out.c, P = hr_affine_positions(L);
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)Co, (int)Q, (int)P,
              1.0, dout_r, (int)P, patches_r, (int)P, beta, gW, (int)Q);
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
  for (int64_t r0 = 0; r0 < R; r0 += rb) {
    int64_t n = R - r0 < rb ? R - r0 : rb;
    const double *pt = patches ? in + r0 * P * Q : scratch;
    if (!patches) im2col(L, in + r0 * nin, n, scratch);
    for (int64_t r = 0; r < n; r++)
      row_weight_grad(L, dout + (r0 + r) * Co * P, pt + r * Q * P, 1.0, gW);
  }
}

void hr_affine_row_grad(const hr_layer_t *L, const double *dout_r,
                        const double *patches_r, double *gW, double *gb) {
  row_weight_grad(L, dout_r, patches_r, 0.0, gW);
  if (gb) {
    memset(gb, 0, (size_t)L->out.c * sizeof *gb);
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
