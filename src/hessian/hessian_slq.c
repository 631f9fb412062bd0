/* Stochastic Lanczos quadrature of a Hessian (see hessian.h): the density
 * estimate PyHessian and Ghorbani et al. report instead of the spectrum,
 * computed here from the same rows so that stats can say how far it is
 * from the exact one. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/lapack.h"
#include "hessrmt/random.h"

typedef struct {
  hr_hessian_problem_t pb;
  MPI_Comm comm;
  int64_t N, chunk;
  hr_model_work_t *work;
} slq_ctx_t;

/* w = H v over the group's rows. */
static int hvp(slq_ctx_t *c, const double *v, double *w) {
  memset(w, 0, (size_t)c->N * sizeof *w);
  hr_problem_hvp(&c->pb, c->work, c->chunk, v, 1, w);
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, w, (int)c->N, MPI_DOUBLE, MPI_SUM, c->comm));
  cblas_dscal((int)c->N, c->pb.scale, w, 1);
  return HR_OK;
}

/* One probe: Lanczos with full reorthogonalisation (twice: the classical
 * Gram-Schmidt pass repeated keeps the basis orthogonal to rounding), then
 * the Gauss quadrature of the tridiagonal matrix.  Returns the steps
 * taken (fewer when the Krylov space closes). */
static int probe(slq_ctx_t *c, uint64_t seed, int64_t k, int p, int steps,
                 double *V, double *w, double *alpha, double *beta, int *taken) {
  int64_t N = c->N;
  double norm = 1.0 / sqrt((double)N);
  for (int64_t i = 0; i < N; i++)
    V[i] = (hr_random_uniform(seed, 7000 + (uint64_t)p, (uint64_t)k, (uint64_t)i,
                              HR_STREAM_ENTRY) < 0.5 ? -1.0 : 1.0) * norm;
  int m = 0;
  for (int j = 0; j < steps; j++) {
    double *v = V + j * N;
    HR_CHECK(hvp(c, v, w));
    alpha[j] = cblas_ddot((int)N, w, 1, v, 1);
    m = j + 1;
    if (j + 1 == steps) break;
    for (int pass = 0; pass < 2; pass++)
      for (int i = 0; i <= j; i++)
        cblas_daxpy((int)N, -cblas_ddot((int)N, w, 1, V + i * N, 1), V + i * N, 1,
                    w, 1);
    beta[j] = cblas_dnrm2((int)N, w, 1);
    double scale = fabs(alpha[j]) + (j ? beta[j - 1] : 0.0);
    if (!(beta[j] > 1e-12 * (scale > 0 ? scale : 1.0))) break;  /* closed */
    memcpy(V + (j + 1) * N, w, (size_t)N * sizeof *w);
    cblas_dscal((int)N, 1.0 / beta[j], V + (j + 1) * N, 1);
  }
  *taken = m;
  return HR_OK;
}

static int quadrature(int m, double *alpha, double *beta, double *z,
                      double *work, double *nodes, double *weights) {
  int info = 0;
  dstev_("V", &m, alpha, beta, z, &m, work, &info);
  if (info != 0)
    HR_FAIL(HR_ERR_SOLVER, "dstev failed (info %d) on the Lanczos matrix", info);
  for (int j = 0; j < m; j++) {
    nodes[j] = alpha[j];
    weights[j] = z[j * m] * z[j * m];
  }
  return HR_OK;
}

int hr_hessian_slq(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h, int64_t k,
                   int steps, int probes, double *nodes, double *weights) {
  slq_ctx_t c = {hr_hessian_problem(h), run->grid.comm, h->model.nparams, 0, NULL};
  c.chunk = c.pb.count < 128 ? (c.pb.count ? c.pb.count : 1) : 128;
  int64_t N = c.N;
  double *V = malloc((size_t)(N * steps) * sizeof *V);
  double *w = malloc((size_t)N * sizeof *w);
  double *tri = malloc((size_t)(2 * steps + steps * steps + 2 * steps) * sizeof *tri);
  int rc = V && w && tri ? hr_model_work_create(c.pb.model, c.chunk, 1, &c.work)
                         : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                        "out of memory for %d Lanczos vectors of %lld",
                                        steps, (long long)N);
  rc = hr_agree(run->grid.comm, rc);
  hr_timer_start(&ctx->timer, HR_PHASE_CHECK);
  for (int p = 0; rc == HR_OK && p < probes; p++) {
    double *alpha = tri, *beta = tri + steps, *z = tri + 2 * steps;
    double *work = z + steps * steps;
    int m = 0;
    rc = hr_agree(run->grid.comm, probe(&c, 0x51a9u, k, p, steps, V, w, alpha,
                                        beta, &m));
    double *nd = nodes + (int64_t)p * steps, *wt = weights + (int64_t)p * steps;
    for (int j = 0; j < steps; j++) { nd[j] = NAN; wt[j] = 0.0; }
    if (rc == HR_OK)
      rc = hr_agree(run->grid.comm, quadrature(m, alpha, beta, z, work, nd, wt));
  }
  hr_timer_stop(&ctx->timer, HR_PHASE_CHECK);
  hr_model_work_free(c.work);
  free(V);
  free(w);
  free(tri);
  return rc;
}
