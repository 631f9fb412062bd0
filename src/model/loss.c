/* The per-sample losses and their output curvature Lambda = d2l/df2. */
#include <math.h>

#include "layers.h"

double hr_softmax_row(const double *f, int64_t C, double *p) {
  double fmax = f[0], sum = 0;
  for (int64_t c = 1; c < C; c++) fmax = fmax > f[c] ? fmax : f[c];
  for (int64_t c = 0; c < C; c++) sum += exp(f[c] - fmax);
  double lse = fmax + log(sum);
  for (int64_t c = 0; c < C; c++) p[c] = exp(f[c] - lse);
  return lse;
}

/* The target of sample i, output c: one-hot label or the real target. */
static double target(const hr_samples_t *s, int64_t C, int64_t i, int64_t c) {
  if (s->targets) return s->targets[i * C + c];
  return s->labels[i] == c ? 1.0 : 0.0;
}

double hr_loss_eval(const hr_model_t *m, const hr_samples_t *s,
                    const double *f, double *delta, double *p) {
  int64_t S = s->count, C = m->outputs;
  double total = 0;
  for (int64_t i = 0; i < S; i++) {
    const double *fi = f + i * C;
    double *d = delta + i * C, *pi = p + i * C;
    if (m->loss == HR_LOSS_CE) {
      total += hr_softmax_row(fi, C, pi) - fi[s->labels[i]];
      for (int64_t c = 0; c < C; c++)
        d[c] = pi[c] - (s->labels[i] == c ? 1.0 : 0.0);
    } else {
      for (int64_t c = 0; c < C; c++) {
        d[c] = fi[c] - target(s, C, i, c);
        total += 0.5 * d[c] * d[c];
      }
    }
  }
  return total;
}

void hr_loss_curvature(const hr_model_t *m, const double *p, const double *rf,
                       int64_t R, int64_t S, hr_part_t part, double *rd) {
  int64_t C = m->outputs;
  for (int64_t r = 0; r < R; r++) {
    const double *x = rf + r * C, *pi = p + (r % S) * C;
    double *y = rd + r * C;
    if (part == HR_PART_RESIDUAL) { /* H1 has no output-curvature term */
      for (int64_t c = 0; c < C; c++) y[c] = 0;
    } else if (m->loss == HR_LOSS_CE) { /* (diag(p) - p p^T) x */
      double dot = 0;
      for (int64_t c = 0; c < C; c++) dot += pi[c] * x[c];
      for (int64_t c = 0; c < C; c++) y[c] = pi[c] * (x[c] - dot);
    } else {
      for (int64_t c = 0; c < C; c++) y[c] = x[c];
    }
  }
}

/* For softmax cross-entropy M = diag(sqrt p) - p sqrt(p)^T: since
 * sum p = 1, M M^T = diag(p) - p p^T.  The identity for squared error. */
void hr_loss_factor(const hr_model_t *m, const double *p_i, double *M) {
  int64_t C = m->outputs;
  for (int64_t a = 0; a < C; a++)
    for (int64_t b = 0; b < C; b++) {
      if (m->loss == HR_LOSS_CE)
        M[a * C + b] = (a == b ? sqrt(p_i[a]) : 0.0) - p_i[a] * sqrt(p_i[b]);
      else
        M[a * C + b] = a == b ? 1.0 : 0.0;
    }
}
