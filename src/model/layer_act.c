/* Elementwise activations: relu, tanh and identity. */
#include <math.h>

#include "layers.h"

static double act(hr_activation_t a, double z) {
  switch (a) {
    case HR_ACT_RELU: return z > 0 ? z : 0;
    case HR_ACT_TANH: return tanh(z);
    default: return z;
  }
}

double hr_act_d1(hr_activation_t a, double z) {
  switch (a) {
    case HR_ACT_RELU: return z > 0 ? 1 : 0;
    case HR_ACT_TANH: { double t = tanh(z); return 1 - t * t; }
    default: return 1;
  }
}

/* relu and identity: zero almost everywhere (their own curvature). */
static double act_d2(hr_activation_t a, double z) {
  if (a != HR_ACT_TANH) return 0;
  double t = tanh(z);
  return -2 * t * (1 - t * t);
}

void hr_act_forward(hr_activation_t a, const double *z, int64_t n, double *out) {
  for (int64_t i = 0; i < n; i++) out[i] = act(a, z[i]);
}

void hr_act_scale(hr_activation_t a, const double *z, const double *src,
                  int64_t R, int64_t S, int64_t d, double *dst) {
  for (int64_t r = 0; r < R; r++) {
    const double *zi = z + (r % S) * d, *x = src + r * d;
    double *y = dst + r * d;
    if (a == HR_ACT_LINEAR)
      for (int64_t j = 0; j < d; j++) y[j] = x[j];
    else if (a == HR_ACT_RELU)
      for (int64_t j = 0; j < d; j++) y[j] = zi[j] > 0 ? x[j] : 0.0;
    else
      for (int64_t j = 0; j < d; j++) y[j] = hr_act_d1(a, zi[j]) * x[j];
  }
}

void hr_act_add_curvature(hr_activation_t a, const double *z, const double *rz,
                          const double *e, int64_t R, int64_t S, int64_t d,
                          double *dst) {
  if (a != HR_ACT_TANH) return;
  for (int64_t r = 0; r < R; r++) {
    int64_t i = r % S;
    for (int64_t j = 0; j < d; j++)
      dst[r * d + j] += act_d2(a, z[i * d + j]) * rz[r * d + j] * e[i * d + j];
  }
}
