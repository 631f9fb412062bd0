/* Models and their exact derivatives: multilayer perceptrons
 * f(x) = W_L s(... s(W_1 x + b_1) ...) + b_L with activation s (relu, tanh
 * or linear) between layers, and a per-sample loss l(f, y): softmax
 * cross-entropy, or squared error 1/2 |f - t|^2 with t the one-hot label or
 * a real-valued target.  Logistic regression is the MLP without a hidden
 * layer.
 *
 * Parameters theta are laid out as PyTorch's model.parameters(): for each
 * layer its weight (out x in, row-major), then its bias.  Every routine
 * works on a chunk of S samples and SUMS over them; the caller applies the
 * loss reduction (1/n for mean).
 *
 * Second derivatives come from Pearlmutter's R-operator (forward-over-
 * reverse), exact and about the cost of a gradient per direction, with k
 * directions at once as matrix-matrix work.  The Hessian splits as
 * H = H0 + H1 (DESIGN.md, "Gauss-Newton split"): H0 = sum J^T Lambda J is
 * driven by the output curvature Lambda alone; H1 by the output residual
 * (the backpropagated deltas).  hr_part_t picks H, H0 or H1. */
#ifndef HESSRMT_MODEL_H
#define HESSRMT_MODEL_H

#include <stdint.h>

enum { HR_MAX_LAYERS = 16 };

typedef enum { HR_ACT_RELU, HR_ACT_TANH, HR_ACT_LINEAR } hr_activation_t;
#define HR_ACTIVATION_CHOICES "relu|tanh|linear"
typedef enum { HR_LOSS_CE, HR_LOSS_MSE } hr_loss_t;
#define HR_LOSS_CHOICES "ce|mse"
typedef enum { HR_PART_FULL, HR_PART_GN, HR_PART_RESIDUAL } hr_part_t;
#define HR_PART_CHOICES "full|gn|residual"

typedef struct {
  int layers;                           /* linear layers L >= 1 */
  int64_t width[HR_MAX_LAYERS + 1];     /* width[0] inputs ... width[L] outputs */
  int bias;
  hr_activation_t activation;
  hr_loss_t loss;
  int64_t nparams;                      /* N */
  int64_t offset_w[HR_MAX_LAYERS];      /* where W_l starts in theta */
  int64_t offset_b[HR_MAX_LAYERS];      /* where b_l starts (if bias) */
} hr_mlp_t;

/* "logistic" (needs inputs and outputs) or "mlp:D-H1-...-C".  For mlp
 * specs, inputs/outputs (if non-zero) must match the first/last width; the
 * error names both.  Not collective. */
int hr_mlp_init(hr_mlp_t *m, const char *spec, int64_t inputs,
                int64_t outputs, int bias, hr_activation_t activation,
                hr_loss_t loss);

/* "mlp:784-10" style description of the shape into buf. */
const char *hr_mlp_describe(const hr_mlp_t *m, char *buf, int len);

/* A chunk of samples: x (S x width[0], row-major), labels (S; class
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
typedef struct hr_mlp_work hr_mlp_work_t;
int hr_mlp_work_create(const hr_mlp_t *m, int64_t max_samples,
                       int64_t max_dirs, hr_mlp_work_t **w);
void hr_mlp_work_free(hr_mlp_work_t *w);
int64_t hr_mlp_work_bytes(const hr_mlp_t *m, int64_t max_samples,
                          int64_t max_dirs);

/* The network outputs f (S x C, row-major) for the chunk. */
void hr_mlp_outputs(const hr_mlp_t *m, const double *theta,
                    const hr_samples_t *s, hr_mlp_work_t *w, double *f);

/* Their softmax probabilities p (S x C, row-major). */
void hr_mlp_probabilities(const hr_mlp_t *m, const double *theta,
                          const hr_samples_t *s, hr_mlp_work_t *w, double *p);

/* Sum over the chunk of the loss (into *loss) and its gradient (added to
 * grad, length N; grad may be NULL). */
void hr_mlp_loss_grad(const hr_mlp_t *m, const double *theta,
                      const hr_samples_t *s, hr_mlp_work_t *w, double *loss,
                      double *grad);

/* HV += sum over the chunk of (part of the) Hessian times V, for k
 * directions: V and HV are N x k, column-major (column d contiguous). */
void hr_mlp_hvp(const hr_mlp_t *m, const double *theta, const hr_samples_t *s,
                hr_part_t part, const double *V, int64_t k, hr_mlp_work_t *w,
                double *HV);

/* Rows of the Gauss-Newton factor: G (S*C x N, row-major) with
 * sum_s G_s^T G_s = H0 of the chunk.  Row (s, k) is sum_c M[c][k] df_c/dθ
 * with Lambda_s = M M^T: M = diag(sqrt p) - p sqrt(p)^T for softmax
 * cross-entropy (rank C - 1), the identity for squared error. */
void hr_mlp_gn_factor(const hr_mlp_t *m, const double *theta,
                      const hr_samples_t *s, hr_mlp_work_t *w, double *G);

/* The same rows in layer-wise form, for Gram matrices without forming G:
 * row (i, k) of G restricted to layer l is the outer product of its delta
 * at the layer's outputs with [input i of the layer; 1 if biases], so
 *   G_r . G_r' = sum_l (delta_l,r . delta_l,r') (a_l,i . a_l,i' + bias).
 * D (S*C x hr_mlp_gn_delta_width) packs the deltas of layers 1..L side by
 * side; A (S x hr_mlp_gn_input_width) packs the layers' inputs likewise. */
int64_t hr_mlp_gn_delta_width(const hr_mlp_t *m);
int64_t hr_mlp_gn_input_width(const hr_mlp_t *m);
void hr_mlp_gn_layers(const hr_mlp_t *m, const double *theta,
                      const hr_samples_t *s, hr_mlp_work_t *w, double *D,
                      double *A);

#endif
