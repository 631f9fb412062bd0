/* The eigenvectors of --eigenvectors on the Hessian side: their residuals
 * by the R-operator (independent of the assembled matrix the solver saw)
 * and their overlaps with the loss gradient and with the span of the
 * class-mean gradients (see hessian.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/hessian.h"

int hr_hessian_apply_vectors(const hr_hessian_problem_t *pb, hr_run_t *run,
                             int64_t first) {
  int64_t N = pb->model->nparams, B = run->n, k = 2 * run->evec_k;
  /* a few directions at a time: the R-operator's workspace grows with k */
  enum { RUN = 16 };
  double *V = malloc((size_t)(N * RUN) * sizeof *V);
  double *HV = malloc((size_t)(N * RUN) * sizeof *HV);
  int64_t chunk = pb->count < 64 ? (pb->count ? pb->count : 1) : 64;
  hr_model_work_t *w = NULL;
  int rc = V && HV ? hr_model_work_create(pb->model, chunk, RUN, &w)
                   : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                  "out of memory for the eigenvector residuals");
  rc = hr_agree(run->grid.comm, rc);
  for (int64_t d0 = 0; d0 < k && rc == HR_OK; d0 += RUN) {
    int64_t len = k - d0 < RUN ? k - d0 : RUN;
    hr_problem_block_hvp(pb, w, chunk, first, B, run->vectors + d0 * B, len, V,
                         HV, run->applied + d0 * B);
  }
  hr_model_work_free(w);
  free(V);
  free(HV);
  HR_CHECK(rc);
  return hr_agree(run->grid.comm, hr_comm_sum_doubles(run->grid.comm, run->applied, B * k));
}

/* An orthonormal basis of the span of the m columns of G (n x m) in place:
 * modified Gram-Schmidt, twice for orthogonality; columns that add less
 * than 1e-10 of their own norm are dropped.  The basis's size. */
static int64_t orthonormalize(double *G, int64_t n, int64_t m) {
  int64_t kept = 0;
  for (int64_t c = 0; c < m; c++) {
    double *u = G + c * n, norm0 = 0, norm = 0;
    for (int64_t i = 0; i < n; i++) norm0 += u[i] * u[i];
    for (int pass = 0; pass < 2; pass++)
      for (int64_t q = 0; q < kept; q++) {
        const double *b = G + q * n;
        double dot = 0;
        for (int64_t i = 0; i < n; i++) dot += b[i] * u[i];
        for (int64_t i = 0; i < n; i++) u[i] -= dot * b[i];
      }
    for (int64_t i = 0; i < n; i++) norm += u[i] * u[i];
    if (norm0 == 0 || norm <= 1e-20 * norm0) continue;
    double *dst = G + kept * n, s = 1.0 / sqrt(norm);
    for (int64_t i = 0; i < n; i++) dst[i] = u[i] * s;
    kept++;
  }
  return kept;
}

int hr_hessian_vector_overlaps(const hr_hessian_problem_t *pb, hr_run_t *run,
                               int64_t first, int64_t classes,
                               double *gradient, double *class_means) {
  int64_t N = pb->model->nparams, B = run->n, k = 2 * run->evec_k;
  int by_class = pb->targets == NULL && classes > 0;
  int64_t C = by_class ? classes : 0;
  /* column 0 the gradient, column 1 + c the gradient summed over class c */
  double *G = calloc((size_t)(N * (1 + C)), sizeof *G);
  double *g1 = malloc((size_t)N * sizeof *g1);
  hr_model_work_t *w = NULL;
  int rc = G && g1 ? hr_model_work_create(pb->model, 1, 1, &w)
                   : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                  "out of memory for %lld class gradients",
                                  (long long)C);
  rc = hr_agree(run->grid.comm, rc);
  for (int64_t s = 0; s < pb->count && rc == HR_OK; s++) {
    hr_samples_t one = hr_problem_samples(pb, s, 1);
    double loss = 0;
    memset(g1, 0, (size_t)N * sizeof *g1);
    hr_model_loss_grad(pb->model, pb->theta, &one, w, &loss, g1);
    int64_t c = by_class ? one.labels[0] : -1;
    for (int64_t i = 0; i < N; i++) {
      G[i] += g1[i];
      if (c >= 0 && c < C) G[(1 + c) * N + i] += g1[i];
    }
  }
  hr_model_work_free(w);
  free(g1);
  if (rc == HR_OK) rc = hr_agree(run->grid.comm, hr_comm_sum_doubles(run->grid.comm, G, N * (1 + C)));
  if (rc == HR_OK) {
    /* restricted to the block; scaling does not change a direction */
    for (int64_t c = 0; c < 1 + C; c++)
      memmove(G + c * B, G + c * N + first, (size_t)B * sizeof *G);
    int64_t unit = orthonormalize(G, B, 1);
    int64_t span = C ? orthonormalize(G + B, B, C) : 0;
    for (int64_t d = 0; d < k; d++) {
      const double *v = run->vectors + d * B;
      double dot = 0, sum = 0;
      for (int64_t i = 0; unit && i < B; i++) dot += G[i] * v[i];
      for (int64_t q = 0; q < span; q++) {
        double t = 0;
        for (int64_t i = 0; i < B; i++) t += G[B + q * B + i] * v[i];
        sum += t * t;
      }
      gradient[d] = unit ? dot * dot : NAN;
      class_means[d] = C ? sum : NAN;
    }
  }
  free(G);
  return rc;
}
