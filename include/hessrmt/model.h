/* Models and their exact derivatives: directed acyclic graphs of PyTorch's
 * common operations (a sequential stack is the special case), and a
 * per-sample loss l(f, y): softmax cross-entropy, or squared error
 * 1/2 |f - t|^2 with t the one-hot label or a real-valued target.
 *
 * Operations (nodes): linear, conv2d (square kernel, stride, zero
 * padding), max and average pooling (with padding), global average
 * pooling, flatten, residual add, scalar multiply, BatchNorm in eval mode
 * (running statistics frozen), LayerNorm over the last dimension, and the
 * activations relu, tanh, gelu (erf form), silu, sigmoid, softplus, elu,
 * leaky_relu and identity (dropout is the identity in eval mode).  Each
 * node reads one value (two for add) made by an earlier node and makes one
 * value; a value read twice gets its gradients summed.  A sample is a
 * vector in PyTorch's C x H x W order (what x.reshape(n, -1) of an NCHW
 * batch gives).  Parameters theta are laid out as PyTorch's
 * model.parameters(): for each node with parameters its weight ((out, in)
 * for linear, (out, in, kh, kw) for conv, the scale gamma for the norms,
 * row-major), then its bias.  Every routine works on a chunk of S samples
 * and SUMS over them; the caller applies the loss reduction (1/n for mean).
 *
 * Second derivatives come from Pearlmutter's R-operator (forward-over-
 * reverse), exact and about the cost of a gradient per direction, with k
 * directions at once as matrix-matrix work.  The Hessian splits as
 * H = H0 + H1 (DESIGN.md, "Gauss-Newton split"): H0 = sum J^T Lambda J is
 * driven by the output curvature Lambda alone; H1 by the output residual
 * (the backpropagated deltas).  ReLU and pooling are piecewise linear and
 * add no second-derivative term of their own; max-pooling routes through
 * the first maximal element of its window, as PyTorch does.
 *
 * The code: src/model/ -- spec.c (the text form of graphs and the
 * presets), graph.c (the one driver: the passes over the nodes),
 * node.c (the table of operations: each kind's forward, Jacobian
 * products, parameter gradients and second-order terms, one interface),
 * layer_affine.c (linear and conv2d, one im2col + GEMM implementation),
 * layer_pool.c, layer_act.c, layer_norm.c, loss.c, reduce.c (the
 * input-span reduction). */
#ifndef HESSRMT_MODEL_H
#define HESSRMT_MODEL_H

#include <stddef.h>
#include <stdint.h>

enum {
  HR_MAX_LAYERS = 128,     /* nodes of a graph */
  HR_MAX_BUFFER = 1 << 14, /* doubles of frozen state (BatchNorm statistics) */
  HR_SPEC_MAX = 8192,      /* characters of a canonical spec */
  HR_DESCRIBE_SPEC_MAX = 240, /* longer specs are summarised in plan lines */
  HR_NAME_MAX = 64         /* characters of a node's name */
};

typedef enum {
  HR_ACT_RELU, HR_ACT_TANH, HR_ACT_LINEAR, HR_ACT_GELU, HR_ACT_SILU,
  HR_ACT_SIGMOID, HR_ACT_SOFTPLUS, HR_ACT_ELU, HR_ACT_LEAKY_RELU
} hr_activation_t;
#define HR_ACTIVATION_CHOICES "relu|tanh|linear"
typedef enum { HR_LOSS_CE, HR_LOSS_MSE } hr_loss_t;
#define HR_LOSS_CHOICES "ce|mse"
typedef enum { HR_PART_FULL, HR_PART_GN, HR_PART_RESIDUAL } hr_part_t;
#define HR_PART_CHOICES "full|gn|residual"

typedef enum {
  HR_LAYER_LINEAR,
  HR_LAYER_CONV,
  HR_LAYER_MAXPOOL,
  HR_LAYER_AVGPOOL,
  HR_LAYER_FLATTEN,
  HR_LAYER_ACT,       /* elementwise: act says which */
  HR_LAYER_ADD,       /* src[0] + src[1] */
  HR_LAYER_MUL,       /* alpha * src[0] */
  HR_LAYER_BATCHNORM, /* eval mode: per channel, statistics frozen */
  HR_LAYER_LAYERNORM, /* over the last dimension */
  HR_LAYER_GAP        /* global average pooling: C x H x W -> C */
} hr_layer_kind_t;

/* A sample's tensor: channels x height x width (a flat vector is D x 1 x 1). */
typedef struct {
  int64_t c, h, w;
} hr_shape_t;

/* A node.  Values are numbered as the nodes that make them: value 0 is the
 * input, value i + 1 the output of node i; a node reads values made
 * before it. */
typedef struct {
  hr_layer_kind_t kind;
  hr_activation_t act;     /* HR_LAYER_ACT */
  hr_shape_t in, out;
  int src[2];              /* values read (src[1]: add only, else -1) */
  int64_t kernel, stride, pad; /* conv and pooling (linear: 1, 1, 0) */
  double alpha;            /* mul: the factor; elu, leaky_relu: the slope;
                              batchnorm, layernorm: eps */
  int affine;              /* layernorm: elementwise gamma and beta */
  int64_t offset_buf;      /* batchnorm: running mean, then variance */
  int param_index;         /* l of layers/<l>/ in weights files, or -1 */
  int64_t offset_w, offset_b; /* where its weight and bias start in theta */
  int64_t nweight, nbias;
  char name[HR_NAME_MAX];  /* "" or the name given with 'as' */
} hr_layer_t;

typedef struct {
  int nlayers;
  hr_layer_t layer[HR_MAX_LAYERS];
  hr_shape_t input;
  int bias;
  hr_loss_t loss;
  int nparam_layers;       /* layers with parameters (linear, conv) */
  int64_t nparams;         /* N */
  int64_t outputs;         /* C */
  int flat;                /* linear layers and activations only (an MLP) */
  int64_t nbuffer;         /* doubles used in buffer */
  double buffer[HR_MAX_BUFFER]; /* frozen state: BatchNorm statistics */
  char spec[HR_SPEC_MAX];  /* the canonical spec: what weights files store */
} hr_model_t;

/* Build a model from a spec (see spec.c and README "Models"):
 *   "logistic", "mlp:D-H1-...-C" (activation between layers), a preset
 *   ("lenet", "mnist-mlp", "mnist-mlp-deep", "bike-mlp"), or layers:
 *   "input 1x28x28, conv 6 5, relu, maxpool 2, flatten, linear 10".
 * inputs/outputs (if non-zero) are the data's row width and classes; the
 * spec's must match them, and an error names both.  Not collective. */
int hr_model_init(hr_model_t *m, const char *spec, int64_t inputs,
                  int64_t outputs, int bias, hr_activation_t activation,
                  hr_loss_t loss);

/* The outputs a spec declares without data (0 if it does not say, as
 * "logistic" does).  Errors as hr_model_init. */
int hr_model_spec_outputs(const char *spec, int64_t inputs, hr_loss_t loss,
                          int64_t *outputs);

/* Layer l of those with parameters (l = 0 .. nparam_layers - 1): what
 * layers/<l>/ of a weights file holds. */
const hr_layer_t *hr_model_param_layer(const hr_model_t *m, int l);

/* Logistic regression: one linear layer and nothing else (the Hessian's
 * Kronecker structure applies). */
int hr_model_is_logistic(const hr_model_t *m);

/* Short text for plans and provenance: "mlp:D-H-...-C" when the model is
 * an MLP (logistic regression included), else the canonical spec, or for
 * a spec longer than HR_DESCRIBE_SPEC_MAX its counted summary ("graph
 * 3x32x32 -> 10, 40 nodes: 12 conv, ..."; the file's model_spec keeps the
 * whole spec). */
const char *hr_model_describe(const hr_model_t *m, char *buf, size_t len);

/* The parameters a PyTorch name selects, as one range [*first, *first +
 * *count) of theta: "NAME.weight" or "NAME.bias" (one tensor), "NAME" (a
 * node's tensors) or a dotted prefix ("layer1": every node named
 * layer1.*).  A node without a name answers to "I" and "nodeI", I its
 * position, as nn.Sequential and the converter name it.  HR_OK; a usage
 * error naming the problem if nothing has parameters by that name or what
 * it selects is not one contiguous range. */
int hr_model_named_params(const hr_model_t *m, const char *name,
                          int64_t *first, int64_t *count);

/* "conv 6 5 (3x32x32 -> 6x28x28, 456 parameters)" for layer i. */
const char *hr_layer_describe(const hr_model_t *m, int i, char *buf,
                              size_t len);

/* A chunk of samples: x (S x inputs, row-major), labels (S; class
 * indices for ce, and for mse when targets is NULL), targets (S x C or
 * NULL). */
typedef struct {
  int64_t count;
  const double *x;
  const int32_t *labels;
  const double *targets;
} hr_samples_t;

/* Workspace for chunks of up to max_samples samples and max_dirs
 * directions (R-operator).  Allocation failure: HR_ERR_MEMORY. */
typedef struct hr_model_work hr_model_work_t;
int hr_model_work_create(const hr_model_t *m, int64_t max_samples,
                         int64_t max_dirs, hr_model_work_t **w);
void hr_model_work_free(hr_model_work_t *w);
int64_t hr_model_work_bytes(const hr_model_t *m, int64_t max_samples,
                            int64_t max_dirs);

/* Flops of one forward pass of one sample (multiply-adds count 2). */
double hr_model_forward_flops(const hr_model_t *m);

/* The network outputs f (S x C, row-major) for the chunk. */
void hr_model_outputs(const hr_model_t *m, const double *theta,
                      const hr_samples_t *s, hr_model_work_t *w, double *f);

/* Their softmax probabilities p (S x C, row-major). */
void hr_model_probabilities(const hr_model_t *m, const double *theta,
                            const hr_samples_t *s, hr_model_work_t *w,
                            double *p);

/* Sum over the chunk of the loss (into *loss) and its gradient (added to
 * grad, length N; grad may be NULL). */
void hr_model_loss_grad(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w,
                        double *loss, double *grad);

/* HV += sum over the chunk of (part of the) Hessian times V, for k
 * directions: V and HV are N x k, column-major (column d contiguous). */
void hr_model_hvp(const hr_model_t *m, const double *theta,
                  const hr_samples_t *s, hr_part_t part, const double *V,
                  int64_t k, hr_model_work_t *w, double *HV);

/* Rows of the Gauss-Newton factor: G (S*C x N, row-major) with
 * sum_s G_s^T G_s = H0 of the chunk.  Row (s, k) is sum_c M[c][k] df_c/dθ
 * with Lambda_s = M M^T: M = diag(sqrt p) - p sqrt(p)^T for softmax
 * cross-entropy (rank C - 1), the identity for squared error. */
void hr_model_gn_factor(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w, double *G);

/* The same rows in layer-wise form, for Gram matrices without forming G.
 * For a linear layer, row (i, k) of G restricted to it is the outer
 * product of its delta at the layer's outputs with [its input i; 1 if
 * biases], so G_r . G_r' = (delta_r . delta_r') (a_i . a_i' + bias): D
 * holds the deltas, A the inputs.  A conv layer's block has no such
 * product form; D holds its rows of G whole.  D (S*C x
 * hr_model_gn_delta_width), A (S x hr_model_gn_input_width). */
int64_t hr_model_gn_delta_width(const hr_model_t *m);
int64_t hr_model_gn_input_width(const hr_model_t *m);
void hr_model_gn_layers(const hr_model_t *m, const double *theta,
                        const hr_samples_t *s, hr_model_work_t *w, double *D,
                        double *A);

/* ---- the input-span reduction (reduce.c) ---------------------------------
 * A batch touches the first linear layer's weights W~ = [W b] only through
 * W~ x~ (x~ = [x; 1] with a bias), so with Q (dx x rank, orthonormal
 * columns) a basis of the batch's x~ the batch Hessian is, up to an
 * orthogonal change of coordinates, the Hessian of the reduced model --
 * first layer V = W~ Q without bias, on inputs Q^T x~ -- padded with exact
 * zeros.  Only models whose first parameter layer is linear (flatten
 * layers before it are allowed) reduce. */

/* Index of that first linear layer, or -1 if the model does not reduce. */
int hr_model_first_linear(const hr_model_t *m);

/* dx: the first linear layer's input width plus 1 with a bias (0 if the
 * model does not reduce). */
int64_t hr_model_reduce_width(const hr_model_t *m);

/* N of the reduced model for an input span of this rank (N itself if the
 * model does not reduce). */
int64_t hr_model_reduced_order(const hr_model_t *m, int64_t rank);

/* The reduced model into *out and its parameters into theta_out (length
 * hr_model_reduced_order(m, rank)); Q is dx x rank, row-major. */
int hr_model_reduce_input(const hr_model_t *m, const double *theta,
                          const double *Q, int64_t rank, hr_model_t *out,
                          double *theta_out);

/* The loss's curvature in the first linear layer's outputs z (h of them),
 * per sample: M (S x h x h, row-major), M_s = d^2 l_s / dz dz^T, or its
 * Gauss-Newton or residual part.  The Hessian's block of that layer is
 * then sum_s M_s (x) x~_s x~_s^T: the logistic Kronecker structure, for
 * any MLP.  Needs work for h directions. */
void hr_model_first_curvature(const hr_model_t *m, const double *theta,
                              const hr_samples_t *s, hr_part_t part,
                              hr_model_work_t *w, double *M);

/* K = scale G G^T (lower triangle of an R x R row-major array, R = S*C)
 * from the layer-wise rows of S samples, G restricted to the parameters
 * [first, first + count) (whole tensors; count 0: all of them); Kd
 * (R x R) and Ka (S x S) are scratch. */
void hr_model_gram_from_layers(const hr_model_t *m, const double *D,
                               const double *A, int64_t S, double scale,
                               int64_t first, int64_t count, double *K,
                               double *Kd, double *Ka);

#endif
