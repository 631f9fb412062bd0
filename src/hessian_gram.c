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

/* This rank's factor rows, sqrt(scale) G_s for each local sample. */
static int local_factor(const hr_hessian_t *h, double *G) {
  int64_t C = h->classes, N = h->model.nparams, S = h->data.count;
  int64_t chunk = S < 64 ? (S ? S : 1) : 64;
  hr_mlp_work_t *w;
  HR_CHECK(hr_mlp_work_create(&h->model, chunk, 1, &w));
  for (int64_t i = 0; i < S; i += chunk) {
    int64_t c = S - i < chunk ? S - i : chunk;
    hr_samples_t s = hr_hessian_samples(h, i, c);
    hr_mlp_gn_factor(&h->model, h->theta, &s, w, G + i * C * N);
  }
  hr_mlp_work_free(w);
  double r = sqrt(h->scale);
  for (int64_t i = 0; i < S * C * N; i++) G[i] *= r;
  return HR_OK;
}

/* All ranks' factor rows, in row order, on every rank of the group. */
static int gather_factor(MPI_Comm comm, const hr_hessian_t *h, const double *mine,
                         int64_t rows, double *G) {
  int size;
  MPI_Comm_size(comm, &size);
  int64_t C = h->classes, N = h->model.nparams;
  int *counts = malloc((size_t)size * sizeof *counts);
  int *displs = malloc((size_t)size * sizeof *displs);
  int ok = hr_agree(comm, counts && displs ? HR_OK : HR_ERR_MEMORY);
  if (ok != HR_OK) { free(counts); free(displs); return ok; }
  int local = (int)(h->data.count * C);
  MPI_Allgather(&local, 1, MPI_INT, counts, 1, MPI_INT, comm);
  int64_t offset = 0;
  for (int r = 0; r < size; r++) {
    displs[r] = (int)offset;
    offset += counts[r];
  }
  /* One factor row (N doubles) is the unit, so counts stay small. */
  MPI_Datatype row;
  MPI_Type_contiguous((int)N, MPI_DOUBLE, &row);
  MPI_Type_commit(&row);
  int rc = MPI_Allgatherv(mine, local, row, G, counts, displs, row, comm);
  MPI_Type_free(&row);
  free(counts);
  free(displs);
  if (rc != MPI_SUCCESS || offset != rows * C)
    HR_FAIL(HR_ERR_MPI, "gathering the Gauss-Newton factor failed");
  return HR_OK;
}

static double gram_entry(int64_t i, int64_t j, void *ctx) {
  const double *K = ((const double *const *)ctx)[0];
  int64_t m = (int64_t)((const double *const *)ctx)[1][0];
  return i >= j ? K[i * m + j] : K[j * m + i];  /* dsyrk filled the lower part */
}

/* Solve K (m x m) distributed on the group's grid into ev (m values). */
static int solve_gram_matrix(hr_ctx_t *ctx, hr_run_t *run, const double *K,
                             int64_t m, double *ev, double *checks) {
  int64_t nb = run->nblk;
  if (hr_eigensolver_check_nblk(run->solver, m, nb, run->grid.nprow,
                                run->grid.npcol) != HR_OK) {
    hr_error_clear();
    nb = hr_eigensolver_default_nblk(run->solver, m, run->grid.nprow,
                                     run->grid.npcol);
  }
  hr_dmat_t Kd;
  HR_CHECK(hr_agree(run->grid.comm,
                    hr_dmat_create(&run->grid, m, m, nb,
                                   (hr_precision_t)ctx->opts->precision, &Kd)));
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
  int64_t C = h->classes, N = h->model.nparams, m = rows * C;
  int rc = HR_OK;
  if (m > N || m < run->grid.size || m > INT_MAX)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "--method gram needs rows x classes (%lld) between the "
                      "group's %d ranks and N = %lld; use --method dense",
                      (long long)m, run->grid.size, (long long)N);
  HR_CHECK(hr_agree(comm, rc));
  /* A group of one rank already holds every row: no gather, no copy. */
  int alone = run->grid.size == 1;
  double *mine = malloc((size_t)(h->data.count * C * N + 1) * sizeof *mine);
  double *G = alone ? mine : malloc((size_t)(m * N) * sizeof *G);
  double *K = malloc((size_t)(m * m) * sizeof *K);
  rc = mine && G && K ? HR_OK
                      : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                     "out of memory for the %lld x %lld Gram "
                                     "factor", (long long)m, (long long)N);
  hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (rc == HR_OK) rc = local_factor(h, mine);
  rc = hr_agree(comm, rc);
  if (rc == HR_OK && !alone) rc = gather_factor(comm, h, mine, rows, G);
  /* Every rank forms all of K = G G^T: m^2 N flops, small beside the
   * factor's gather for the sizes where this path is chosen. */
  if (rc == HR_OK)
    cblas_dsyrk(CblasRowMajor, CblasLower, CblasNoTrans, (int)m, (int)N, 1.0, G,
                (int)N, 0.0, K, (int)m);
  hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (!alone) free(G);
  free(mine);
  if (rc == HR_OK) rc = solve_gram_matrix(ctx, run, K, m, evals, checks);
  free(K);
  HR_CHECK(rc);
  checks[HR_CHECK_RANK] = NAN;  /* counted on the full spectrum below */
  /* The other N - m eigenvalues of G^T G are exactly zero. */
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
