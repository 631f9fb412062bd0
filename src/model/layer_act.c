/* Elementwise activations with PyTorch's semantics (its forward formulas,
 * and its derivative at the kinks: relu'(0) = 0, leaky_relu'(0) = slope,
 * elu'(0) = alpha), and their first and second derivatives:
 *   gelu      x Phi(x)               Phi + x phi            phi (2 - x^2)
 *   silu      x sigma(x)             sigma (1 + x (1 - sigma))
 *                                    s'' = sigma (1 - sigma) (2 + x (1 - 2 sigma))
 *   sigmoid   sigma                  sigma (1 - sigma)      sigma (1 - sigma)(1 - 2 sigma)
 *   softplus  log(1 + e^x); x > 20: x (PyTorch's threshold)
 *   elu       x > 0: x, else alpha (e^x - 1)
 *   leaky_relu x > 0: x, else alpha x
 * with Phi and phi the standard normal distribution and density (gelu is
 * the erf form, PyTorch's default). */
#include <math.h>

#include "layers.h"

enum { SOFTPLUS_THRESHOLD = 20 };

static double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

static double normal_cdf(double z) { return 0.5 * (1.0 + erf(z * M_SQRT1_2)); }
static double normal_pdf(double z) { return exp(-0.5 * z * z) * 0.5 * M_2_SQRTPI * M_SQRT1_2; }

static double act(hr_activation_t a, double alpha, double z) {
  switch (a) {
    case HR_ACT_RELU: return z > 0 ? z : 0;
    case HR_ACT_TANH: return tanh(z);
    case HR_ACT_GELU: return z * normal_cdf(z);
    case HR_ACT_SILU: return z / (1.0 + exp(-z));
    case HR_ACT_SIGMOID: return sigmoid(z);
    case HR_ACT_SOFTPLUS: return z > SOFTPLUS_THRESHOLD ? z : log1p(exp(z));
    case HR_ACT_ELU: return z > 0 ? z : alpha * expm1(z);
    case HR_ACT_LEAKY_RELU: return z > 0 ? z : alpha * z;
    case HR_ACT_LINEAR: break;
  }
  return z;
}

double hr_act_d1(hr_activation_t a, double alpha, double z) {
  switch (a) {
    case HR_ACT_RELU: return z > 0 ? 1 : 0;
    case HR_ACT_TANH: { double t = tanh(z); return 1 - t * t; }
    case HR_ACT_GELU: return normal_cdf(z) + z * normal_pdf(z);
    case HR_ACT_SILU: { double s = sigmoid(z); return s * (1 + z * (1 - s)); }
    case HR_ACT_SIGMOID: { double s = sigmoid(z); return s * (1 - s); }
    case HR_ACT_SOFTPLUS: return z > SOFTPLUS_THRESHOLD ? 1 : sigmoid(z);
    case HR_ACT_ELU: return z > 0 ? 1 : alpha * exp(z);
    case HR_ACT_LEAKY_RELU: return z > 0 ? 1 : alpha;
    case HR_ACT_LINEAR: break;
  }
  return 1;
}

static double act_d2(hr_activation_t a, double alpha, double z) {
  switch (a) {
    case HR_ACT_TANH: { double t = tanh(z); return -2 * t * (1 - t * t); }
    case HR_ACT_GELU: return normal_pdf(z) * (2 - z * z);
    case HR_ACT_SILU: {
      double s = sigmoid(z);
      return s * (1 - s) * (2 + z * (1 - 2 * s));
    }
    case HR_ACT_SIGMOID: { double s = sigmoid(z); return s * (1 - s) * (1 - 2 * s); }
    case HR_ACT_SOFTPLUS: {
      if (z > SOFTPLUS_THRESHOLD) return 0;
      double s = sigmoid(z);
      return s * (1 - s);
    }
    case HR_ACT_ELU: return z > 0 ? 0 : alpha * exp(z);
    default: return 0; /* relu, leaky_relu, identity */
  }
}

int hr_act_is_piecewise_linear(hr_activation_t a) {
  return a == HR_ACT_RELU || a == HR_ACT_LEAKY_RELU || a == HR_ACT_LINEAR;
}

void hr_act_forward(hr_activation_t a, double alpha, const double *z,
                    int64_t n, double *out) {
  for (int64_t i = 0; i < n; i++) out[i] = act(a, alpha, z[i]);
}

void hr_act_scale(hr_activation_t a, double alpha, const double *z,
                  const double *src, int64_t R, int64_t S, int64_t d,
                  double *dst, int accumulate) {
  /* (the destination may hold garbage when not accumulating: never
   * multiply it, even by zero) */
  for (int64_t r = 0; r < R; r++) {
    const double *zi = z + (r % S) * d, *x = src + r * d;
    double *y = dst + r * d;
    if (a == HR_ACT_RELU && !accumulate) {  /* the common case, branch-free */
      for (int64_t j = 0; j < d; j++) y[j] = zi[j] > 0 ? x[j] : 0.0;
      continue;
    }
    for (int64_t j = 0; j < d; j++) {
      double v = a == HR_ACT_LINEAR ? x[j]
                 : a == HR_ACT_RELU ? (zi[j] > 0 ? x[j] : 0.0)
                                    : hr_act_d1(a, alpha, zi[j]) * x[j];
      y[j] = accumulate ? y[j] + v : v;
    }
  }
}

void hr_act_add_curvature(hr_activation_t a, double alpha, const double *z,
                          const double *rz, const double *e, int64_t R,
                          int64_t S, int64_t d, double *dst) {
  if (hr_act_is_piecewise_linear(a)) return;
  for (int64_t r = 0; r < R; r++) {
    int64_t i = r % S;
    for (int64_t j = 0; j < d; j++)
      dst[r * d + j] +=
          act_d2(a, alpha, z[i * d + j]) * rz[r * d + j] * e[i * d + j];
  }
}

/* ---- the node interface ---------------------------------------------------- */

static int64_t width(const hr_layer_t *L) { return L->in.c * L->in.h * L->in.w; }

static void act_node_forward(const hr_node_ctx_t *c, double *out) {
  hr_act_forward(c->L->act, c->L->alpha, c->in[0], c->S * width(c->L), out);
}

/* s'(z) is diagonal: its Jacobian and transpose are the same product. */
static void act_node_scale(const hr_node_ctx_t *c, int j, const double *src,
                           int64_t R, double *dst, int accumulate) {
  (void)j;
  hr_act_scale(c->L->act, c->L->alpha, c->in[0], src, R, c->S, width(c->L),
               dst, accumulate);
}

static void act_node_curvature(const hr_node_ctx_t *c, const double *rin,
                               const double *delta, int64_t R, double *rdin) {
  hr_act_add_curvature(c->L->act, c->L->alpha, c->in[0], rin, delta, R, c->S,
                       width(c->L), rdin);
}

const hr_op_t hr_op_act = {
    .forward = act_node_forward,
    .jvp = act_node_scale,
    .vjp = act_node_scale,
    .curvature = act_node_curvature,
};
