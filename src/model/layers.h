/* Inside the model module (src/model/): the node interface that every
 * operation implements (node.c holds the table), the kernels behind it,
 * and the losses.  graph.c drives the nodes.  Not a public interface.
 *
 * A block of R rows holds one tensor per row (row-major, R x size).  Rows
 * beyond the first S repeat the S samples: row r belongs to sample r mod S
 * (k directions of the R-operator, or C Gauss-Newton rows, are stacked
 * direction-major).  Layers that need a sample's forward values (the
 * activations' z, max-pooling's argmax) index them that way. */
#ifndef HESSRMT_MODEL_LAYERS_H
#define HESSRMT_MODEL_LAYERS_H

#include <stdint.h>

#include "hessrmt/model.h"

/* ---- linear and conv2d (layer_affine.c) ----------------------------------
 * A linear layer is a 1x1 convolution of a 1x1 image, so one
 * implementation serves both: conv as im2col + GEMM, where the patches of
 * a row are a (Q x P) matrix, P = Ho*Wo output positions, Q = Cin*K*K in
 * PyTorch's (in, kh, kw) weight order.  For linear layers the patches are
 * the rows themselves and no copy is made. */

int64_t hr_affine_positions(const hr_layer_t *L); /* P */
int64_t hr_affine_patch_width(const hr_layer_t *L); /* Q */

/* Scratch doubles the blocked routines below need for up to R rows. */
int64_t hr_affine_scratch(const hr_layer_t *L, int64_t R);

/* The patches of R input rows (R matrices of Q x P) into buf; returns buf, or `in`
 * itself for a linear layer (buf unused). */
const double *hr_affine_patches(const hr_layer_t *L, const double *in,
                                int64_t R, double *buf);

/* out (R x out) = [out +] conv(in; W), no bias.  `patches` says whether
 * `in` holds input rows or their patches already (hr_affine_patches). */
void hr_affine_apply(const hr_layer_t *L, const double *W, const double *in,
                     int patches, int64_t R, double *out, int accumulate,
                     double *scratch);

/* out += b on every output position of R rows. */
void hr_affine_add_bias(const hr_layer_t *L, const double *b, int64_t R,
                        double *out);

/* din (R x in) = [din +] the transpose conv of dout (R x out) with W. */
void hr_affine_back_input(const hr_layer_t *L, const double *W,
                          const double *dout, int64_t R, double *din,
                          int accumulate, double *scratch);

/* gW += sum_r dout_r (x) patches_r and gb += the sums of dout over rows
 * and positions (gb may be NULL), for R rows of dout and their inputs
 * (`patches`: as hr_affine_apply). */
void hr_affine_grad(const hr_layer_t *L, const double *dout, const double *in,
                    int patches, int64_t R, double *gW, double *gb,
                    double *scratch);

/* One row's own gradient: gW = dout_r (x) patches_r, gb = its sums. */
void hr_affine_row_grad(const hr_layer_t *L, const double *dout_r,
                        const double *patches_r, double *gW, double *gb);

/* ---- pooling (layer_pool.c) ----------------------------------------------- */

/* out (S rows) from in; for max pooling argmax records, per output, the
 * input index of the first maximal element of its window (PyTorch's). */
void hr_pool_forward(const hr_layer_t *L, const double *in, int64_t S,
                     double *out, int32_t *argmax);

/* The pooling's linear map applied to R rows [added into rout] (a
 * Jacobian-vector product; for avg pooling the same as the forward pass). */
void hr_pool_jvp(const hr_layer_t *L, const double *rin, int64_t R, int64_t S,
                 const int32_t *argmax, double *rout, int accumulate);

/* Its transpose: din (R x in) [+]= from dout (R x out). */
void hr_pool_back(const hr_layer_t *L, const double *dout, int64_t R,
                  int64_t S, const int32_t *argmax, double *din,
                  int accumulate);

/* Global average pooling of R rows (C x H x W -> C), and its transpose. */
void hr_gap_apply(const hr_layer_t *L, const double *in, int64_t R,
                  double *out, int accumulate);
void hr_gap_back(const hr_layer_t *L, const double *dout, int64_t R,
                 double *din, int accumulate);

/* ---- activations (layer_act.c) -------------------------------------------
 * alpha: the slope of elu and leaky_relu (unused by the others). */

void hr_act_forward(hr_activation_t a, double alpha, const double *z,
                    int64_t n, double *out);

/* dst [+]= s'(z) o src for R rows of width d (z: the S samples' inputs). */
void hr_act_scale(hr_activation_t a, double alpha, const double *z,
                  const double *src, int64_t R, int64_t S, int64_t d,
                  double *dst, int accumulate);

/* dst += s''(z) o rz o e: the activation's own second-order (residual)
 * term, R rows of rz, e per sample. */
void hr_act_add_curvature(hr_activation_t a, double alpha, const double *z,
                          const double *rz, const double *e, int64_t R,
                          int64_t S, int64_t d, double *dst);

/* s'(z) as PyTorch's autograd takes it (ReLU: 0 at z = 0). */
double hr_act_d1(hr_activation_t a, double alpha, double z);

/* Whether s'' is zero almost everywhere (relu, leaky_relu, identity). */
int hr_act_is_piecewise_linear(hr_activation_t a);


/* ---- the node interface (node.c) -------------------------------------------
 * What a node's passes see: the node, the parameters, and its forward
 * values and caches for the S samples of the chunk. */
typedef struct {
  const hr_layer_t *L;
  const double *theta;
  const double *in[2];     /* the values it reads (S rows each) */
  double *patches;         /* conv: the patches of in[0] (NULL: linear) */
  int32_t *argmax;         /* max pooling: the routes */
  double *xhat;            /* norms: their normalised input (S rows) */
  const double *buffer;    /* the model's frozen state */
  double *scratch;         /* blocked conv GEMMs, the norms' rows */
  int64_t S;
} hr_node_ctx_t;

/* One operation.  R rows (R a multiple of S) are directions or factor rows
 * of the S samples; "accumulate" adds into the destination instead of
 * writing it.  Entries a kind does not need are NULL. */
typedef struct {
  /* out (S rows) from in[], filling the node's caches. */
  void (*forward)(const hr_node_ctx_t *c, double *out);
  /* rout = the Jacobian in input j applied to rin (R rows each). */
  void (*jvp)(const hr_node_ctx_t *c, int j, const double *rin, int64_t R,
              double *rout, int accumulate);
  /* din = its transpose applied to dout. */
  void (*vjp)(const hr_node_ctx_t *c, int j, const double *dout, int64_t R,
              double *din, int accumulate);
  /* Nodes with parameters.  rout (S rows) = d out/d theta . Vd. */
  void (*jvp_param)(const hr_node_ctx_t *c, const double *Vd, double *rout,
                    int accumulate);
  /* g (length N, the node's entries) += sum over S rows of
   * dout . d out/d theta. */
  void (*grad)(const hr_node_ctx_t *c, const double *dout, double *g);
  /* One row's gradient, sample j: the node's weight entries into gw, its
   * bias entries into gb (NULL: none). */
  void (*row_grad)(const hr_node_ctx_t *c, const double *dout_r, int64_t j,
                   double *gw, double *gb);
  /* H1, the mixed term in parameters and input 0: g += sum over S rows of
   * delta . d2 out/(d theta d in) rin. */
  void (*cross_grad)(const hr_node_ctx_t *c, const double *delta,
                     const double *rin, double *g);
  /* H1, the same term seen from the input: din (S rows) +=
   * d/d in (delta . d out/d theta . Vd). */
  void (*cross_back)(const hr_node_ctx_t *c, const double *Vd,
                     const double *delta, double *din);
  /* H1, the node's own second-order term in its input: rdin (R rows) +=
   * (d2 out / d in2 [rin])^T delta. */
  void (*curvature)(const hr_node_ctx_t *c, const double *rin,
                    const double *delta, int64_t R, double *rdin);
} hr_op_t;

const hr_op_t *hr_node_op(hr_layer_kind_t kind);

/* How many node inputs read value t (graph.c). */
int hr_graph_consumers(const hr_model_t *m, int t);

/* Doubles of cache (xhat) the node needs per sample. */
int64_t hr_node_cache_width(const hr_layer_t *L);

/* ---- normalisation (layer_norm.c) ------------------------------------------
 * BatchNorm in eval mode and LayerNorm; the formulas are in layer_norm.c. */

/* Width of the groups LayerNorm normalises (the last dimension). */
int64_t hr_norm_group(const hr_layer_t *L);

/* Scratch doubles (hr_node_ctx_t.scratch) its Jacobian products and
 * curvature need. */
int64_t hr_norm_scratch(const hr_layer_t *L);

/* ---- the operations, one per file (node.c gives each kind its op) -------- */
extern const hr_op_t hr_op_affine; /* linear, conv (layer_affine.c) */
extern const hr_op_t hr_op_pool;   /* maxpool, avgpool (layer_pool.c) */
extern const hr_op_t hr_op_gap;    /* global average pool (layer_pool.c) */
extern const hr_op_t hr_op_act;    /* activations (layer_act.c) */
extern const hr_op_t hr_op_norm;   /* batchnorm, layernorm (layer_norm.c) */

/* ---- losses (loss.c) ------------------------------------------------------ */

/* Sum of the per-sample losses of f (S x C); dloss/df into delta; softmax
 * probabilities into p (cross-entropy). */
double hr_loss_eval(const hr_model_t *m, const hr_samples_t *s,
                    const double *f, double *delta, double *p);

/* rd = Lambda rf for R rows (Lambda = diag(p) - p p^T or the identity), or
 * zero for the residual part. */
void hr_loss_curvature(const hr_model_t *m, const double *p, const double *rf,
                       int64_t R, int64_t S, hr_part_t part, double *rd);

/* M with Lambda_i = M M^T for one sample (C x C, row-major). */
void hr_loss_factor(const hr_model_t *m, const double *p_i, double *M);

/* Softmax of one row into p; returns log-sum-exp. */
double hr_softmax_row(const double *f, int64_t C, double *p);

#endif
