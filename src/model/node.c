/* The table of operations (see layers.h, hr_op_t): each node kind's
 * passes.  The kinds with a kernel file of their own take their entry from
 * it; flatten, add and mul are a few lines each and live here.  Adding an
 * operation: its hr_op_t (here or in its own file), a line in hr_node_op,
 * its words in spec.c, and its tests. */
#include <string.h>

#include "layers.h"

static int64_t out_width(const hr_layer_t *L) { return L->out.c * L->out.h * L->out.w; }

/* dst [+]= alpha src over n doubles (dst == src: in place). */
static void scaled_copy(const double *src, int64_t n, double alpha, double *dst,
                        int accumulate) {
  if (dst == src && !accumulate && alpha == 1.0) return;
  for (int64_t i = 0; i < n; i++)
    dst[i] = accumulate ? dst[i] + alpha * src[i] : alpha * src[i];
}

/* flatten: the same numbers, a new shape (its buffers may be its input's). */
static void flatten_forward(const hr_node_ctx_t *c, double *out) {
  scaled_copy(c->in[0], c->S * out_width(c->L), 1.0, out, 0);
}

static void flatten_map(const hr_node_ctx_t *c, int j, const double *src,
                        int64_t R, double *dst, int accumulate) {
  (void)j;
  scaled_copy(src, R * out_width(c->L), 1.0, dst, accumulate);
}

static const hr_op_t op_flatten = {
    .forward = flatten_forward, .jvp = flatten_map, .vjp = flatten_map};

/* add: in[0] + in[1]; each input's Jacobian is the identity. */
static void add_forward(const hr_node_ctx_t *c, double *out) {
  int64_t n = c->S * out_width(c->L);
  for (int64_t i = 0; i < n; i++) out[i] = c->in[0][i] + c->in[1][i];
}

static const hr_op_t op_add = {
    .forward = add_forward, .jvp = flatten_map, .vjp = flatten_map};

/* mul: alpha in[0]. */
static void mul_forward(const hr_node_ctx_t *c, double *out) {
  scaled_copy(c->in[0], c->S * out_width(c->L), c->L->alpha, out, 0);
}

static void mul_map(const hr_node_ctx_t *c, int j, const double *src,
                    int64_t R, double *dst, int accumulate) {
  (void)j;
  scaled_copy(src, R * out_width(c->L), c->L->alpha, dst, accumulate);
}

static const hr_op_t op_mul = {.forward = mul_forward, .jvp = mul_map, .vjp = mul_map};

const hr_op_t *hr_node_op(hr_layer_kind_t kind) {
  switch (kind) {
    case HR_LAYER_LINEAR:
    case HR_LAYER_CONV: return &hr_op_affine;
    case HR_LAYER_MAXPOOL:
    case HR_LAYER_AVGPOOL: return &hr_op_pool;
    case HR_LAYER_GAP: return &hr_op_gap;
    case HR_LAYER_ACT: return &hr_op_act;
    case HR_LAYER_BATCHNORM:
    case HR_LAYER_LAYERNORM: return &hr_op_norm;
    case HR_LAYER_FLATTEN: return &op_flatten;
    case HR_LAYER_ADD: return &op_add;
    case HR_LAYER_MUL: return &op_mul;
  }
  return &op_flatten;
}
