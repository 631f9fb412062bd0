/* A model seen through its first layer's input span (see model.h,
 * hr_model_reduce_input): the batch Hessian of an MLP restricted to the
 * directions in which the batch can move it.
 *
 * The first linear layer acts on the batch only through W~ x~ (x~ = [x; 1]
 * with a bias), so W~ enters the loss only through W~ Q (Q an orthonormal
 * basis of the span of the batch's x~): directions W~ with W~ Q = 0 are
 * exact zeros of the batch Hessian, and on the others the Hessian is the
 * Hessian of the same network with first layer V = W~ Q (no bias) acting on
 * the reduced inputs Q^T x~.  The change of coordinates is orthogonal, so
 * the spectra agree exactly. */
#include <cblas.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/model.h"
#include "layers.h"

/* The input must reach the first linear node through flattens only, with
 * no other reader on the way (a residual branch from the input would see
 * x itself, not W~ x~), and that node's parameters must come first. */
int hr_model_first_linear(const hr_model_t *m) {
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (L->src[0] != i || L->src[1] >= 0 || hr_graph_consumers(m, i) != 1)
      return -1;
    if (L->kind == HR_LAYER_LINEAR) return L->offset_w == 0 ? i : -1;
    /* a flatten before it changes no number; anything else does */
    if (L->kind != HR_LAYER_FLATTEN) return -1;
  }
  return -1;
}

int64_t hr_model_reduced_order(const hr_model_t *m, int64_t rank) {
  int f = hr_model_first_linear(m);
  if (f < 0) return m->nparams;
  const hr_layer_t *L = &m->layer[f];
  return m->nparams - L->nweight - L->nbias + L->out.c * rank;
}

int64_t hr_model_reduce_width(const hr_model_t *m) {
  int f = hr_model_first_linear(m);
  return f < 0 ? 0 : m->layer[f].in.c + (m->layer[f].nbias ? 1 : 0);
}

int hr_model_reduce_input(const hr_model_t *m, const double *theta,
                          const double *Q, int64_t rank, hr_model_t *out,
                          double *theta_out) {
  int f = hr_model_first_linear(m);
  if (f < 0)
    HR_FAIL(HR_ERR_INTERNAL, "the model's first layer with parameters is not "
            "linear: no input-span reduction");
  *out = *m;
  /* The flatten layers before it become the identity on rank inputs. */
  for (int i = 0; i <= f; i++) {
    hr_layer_t *L = &out->layer[i];
    L->in = (hr_shape_t){rank, 1, 1};
    if (i < f) L->out = L->in;
  }
  out->input = (hr_shape_t){rank, 1, 1};
  const hr_layer_t *L0 = &m->layer[f];
  hr_layer_t *R0 = &out->layer[f];
  int64_t h = L0->out.c, d = L0->in.c, dx = hr_model_reduce_width(m);
  R0->nweight = h * rank;
  R0->nbias = 0;
  /* V = [W b] Q (h x rank): the weight's rows, then the bias column. */
  double *V = theta_out + R0->offset_w;
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)h, (int)rank,
              (int)d, 1.0, theta + L0->offset_w, (int)d, Q, (int)rank, 0.0, V,
              (int)rank);
  if (L0->nbias)
    cblas_dger(CblasRowMajor, (int)h, (int)rank, 1.0, theta + L0->offset_b, 1,
               Q + (dx - 1) * rank, 1, V, (int)rank);
  /* Every later parameter keeps its value, shifted to its new offset. */
  int64_t shift = L0->nweight + L0->nbias - R0->nweight;
  int64_t tail = L0->offset_w + L0->nweight + L0->nbias;
  memcpy(theta_out + R0->offset_w + R0->nweight, theta + tail,
         (size_t)(m->nparams - tail) * sizeof *theta);
  for (int i = f + 1; i < out->nlayers; i++) {
    hr_layer_t *L = &out->layer[i];
    if (L->nweight + L->nbias == 0) continue;
    L->offset_w -= shift;
    L->offset_b -= shift;
  }
  R0->offset_b = R0->offset_w + R0->nweight;
  out->nparams = m->nparams - shift;
  return HR_OK;
}
