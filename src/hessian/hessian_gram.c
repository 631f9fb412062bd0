/* The Gram path: H0 = G^T G, with G (rows x N) the Gauss-Newton factor
 * rows of the spectrum's samples scaled by the reduction.  The nonzero
 * eigenvalues of G^T G are those of G G^T (rows x rows); the other N - rows
 * are exactly zero (DESIGN.md, "Gram shortcut").  A batch of 64 in 10
 * classes becomes a 640 x 640 problem instead of N x N. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"

/* This rank's factor rows in layer-wise form (model.h): deltas D
 * (count*C x dw) and layer inputs A (count x aw). */
static int local_layers(const hr_hessian_t *h, double *D, double *A) {
  const hr_model_t *m = &h->model;
  int64_t C = h->classes, S = h->data.count;
  int64_t dw = hr_model_gn_delta_width(m), aw = hr_model_gn_input_width(m);
  int64_t chunk = S < 64 ? (S ? S : 1) : 64;
  hr_model_work_t *w;
  HR_CHECK(hr_model_work_create(m, chunk, 1, &w));
  for (int64_t i = 0; i < S; i += chunk) {
    int64_t c = S - i < chunk ? S - i : chunk;
    hr_samples_t s = hr_hessian_samples(h, i, c);
    hr_model_gn_layers(m, h->theta, &s, w, D + i * C * dw, A + i * aw);
  }
  hr_model_work_free(w);
  return HR_OK;
}

static double gram_entry(int64_t i, int64_t j, void *ctx) {
  const double *K = ((const double *const *)ctx)[0];
  int64_t m = (int64_t)((const double *const *)ctx)[1][0];
  return i >= j ? K[i * m + j] : K[j * m + i];  /* dsyrk filled the lower part */
}

/* K (m x m, at most HR_GRAM_SERIAL_MAX; the lower triangle of a row-major
 * array = the upper triangle of the column-major one LAPACK sees) solved on
 * the group's first rank: a 640 x 640 one takes 25 ms, 2.5 times less than
 * ELPA on a 1 x 1 grid. */
static int solve_gram_serial(hr_ctx_t *ctx, hr_run_t *run, double *K,
                             int64_t m, double *ev, double *checks) {
  double trace = 0;
  for (int64_t i = 0; i < m; i++) trace += K[i * m + i];
  checks[HR_CHECK_TRACE] = trace;
  checks[HR_CHECK_ASYM] = 0.0;  /* one triangle is all there is */
  hr_timer_start(&ctx->timer, HR_PHASE_SOLVE);
  int rc = hr_eigensolver_serial_on_root(run->grid.comm, K, m, "U", ev);
  hr_timer_stop(&ctx->timer, HR_PHASE_SOLVE);
  return rc;
}

/* Solve K (m x m) distributed on the group's grid into ev (m values). */
static int solve_gram_matrix(hr_ctx_t *ctx, hr_run_t *run, const double *K,
                             int64_t m, double *ev, double *checks) {
  int64_t nb = hr_run_nblk_for(run, m);
  hr_dmat_t Kd;
  HR_CHECK(hr_agree(run->grid.comm,
                    hr_dmat_create(&run->grid, m, m, nb,
                                   run->set.precision, &Kd)));
  double mm = (double)m;
  const double *fill_ctx[2] = {K, &mm};
  hr_dmat_fill(&Kd, gram_entry, (void *)fill_ctx);
  int rc = hr_run_check_and_solve(ctx, run, &Kd, ev, &checks[HR_CHECK_TRACE],
                                  &checks[HR_CHECK_ASYM]);
  hr_dmat_free(&Kd);
  return rc;
}

int hr_hessian_gram(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                    int64_t rows, double *evals, double *checks) {
  MPI_Comm comm = run->grid.comm;
  /* a block's G is G restricted to its columns (whole tensors) */
  int64_t C = h->classes, N = h->block_count ? h->block_count : h->model.nparams;
  int64_t m = rows * C;
  int rc = HR_OK;
  if (m > N || m < run->grid.size || m > INT_MAX)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "--method gram needs rows x classes (%lld) between the "
                      "group's %d ranks and the order %lld; use --method dense",
                      (long long)m, run->grid.size, (long long)N);
  HR_CHECK(hr_agree(comm, rc));
  const hr_model_t *model = &h->model;
  int64_t dw = hr_model_gn_delta_width(model), aw = hr_model_gn_input_width(model);
  int64_t local = h->data.count;
  /* A group of one rank already holds every row: no gather, no copy. */
  int alone = run->grid.size == 1;
  double *myD = malloc((size_t)(local * C * dw + 1) * sizeof *myD);
  double *myA = malloc((size_t)(local * aw + 1) * sizeof *myA);
  double *D = alone ? myD : malloc((size_t)(m * dw) * sizeof *D);
  double *A = alone ? myA : malloc((size_t)(rows * aw) * sizeof *A);
  double *K = malloc((size_t)(m * m) * sizeof *K);
  double *Kd = malloc((size_t)(m * m) * sizeof *Kd);
  double *Ka = malloc((size_t)(rows * rows) * sizeof *Ka);
  rc = myD && myA && D && A && K && Kd && Ka
           ? HR_OK
           : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                          "out of memory for the %lld x %lld Gram matrix",
                          (long long)m, (long long)m);
  hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (rc == HR_OK) rc = local_layers(h, myD, myA);
  rc = hr_agree(comm, rc);
  if (rc == HR_OK && !alone) rc = hr_hessian_gather_rows(comm, myD, local * C, dw, D, m);
  if (rc == HR_OK && !alone) rc = hr_hessian_gather_rows(comm, myA, local, aw, A, rows);
  /* Every rank forms all of K: it is small, and this saves a reduction. */
  if (rc == HR_OK)
    hr_model_gram_from_layers(&h->model, D, A, rows, h->scale, h->block_first,
                              h->block_count, K, Kd, Ka);
  hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (!alone) {
    free(D);
    free(A);
  }
  free(myD);
  free(myA);
  free(Kd);
  free(Ka);
  if (rc == HR_OK)
    rc = m <= HR_GRAM_SERIAL_MAX ? solve_gram_serial(ctx, run, K, m, evals, checks)
                              : solve_gram_matrix(ctx, run, K, m, evals, checks);
  free(K);
  HR_CHECK(rc);
  checks[HR_CHECK_RANK] = NAN;  /* counted on the full spectrum below */
  /* The other N - m eigenvalues of G^T G (of a block's) are exactly zero. */
  hr_hessian_add_zeros(evals, m, N);
  return HR_OK;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void hr_hessian_add_zeros(double *evals, int64_t found, int64_t n) {
  for (int64_t i = found; i < n; i++) evals[i] = 0.0;
  qsort(evals, (size_t)n, sizeof *evals, compare_doubles);
}
