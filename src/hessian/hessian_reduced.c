/* The reduced path for batch Hessians (see hessian.h and model.h,
 * "input-span reduction").  For a batch of B rows the first linear layer's
 * h x dx weights (dx = inputs + 1 with a bias) enter the loss only through
 * the span of the batch's inputs, of dimension r <= min(B, dx); the batch
 * Hessian is then, exactly, the Hessian of a model of order
 * N - h dx + h r padded with zeros.  For the paper's 784-10-100-10 MLP at
 * B = 64 that is 2,750 instead of 9,960: an (N/order)^3 = 47 times cheaper
 * solve, formed by the dense path's Hessian-vector products on the small
 * model.
 *
 * The basis: a column-pivoted QR (dgeqp3) of the batch's x~ as columns,
 * computed on the group's rank 0 and broadcast so that every rank reduces
 * its own rows with the same Q.  Pivots below max(B, dx) eps |R_00| are
 * numerical zeros of the span (repeated or dependent rows): dropping them
 * drops directions on which H is zero to rounding. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/lapack.h"

int64_t hr_hessian_reduced_order(const hr_hessian_t *h, int64_t rows) {
  int64_t dx = hr_model_reduce_width(&h->model);
  if (dx == 0) return h->model.nparams;
  return hr_model_reduced_order(&h->model, rows < dx ? rows : dx);
}

/* This rank's rows as x~ = [x, 1] (S x dx, row-major). */
static void extended_rows(const hr_hessian_t *h, int64_t dx, double *xt) {
  int64_t D = h->dim;
  for (int64_t s = 0; s < h->data.count; s++) {
    memcpy(xt + s * dx, h->data.x + s * D, (size_t)D * sizeof *xt);
    if (dx > D) xt[s * dx + D] = 1.0;
  }
}

/* Q (dx x r, row-major) spanning the rows' x~ (rows x dx, row-major,
 * destroyed): column-pivoted QR of their transpose, the dx x rows
 * column-major matrix the same array already is. */
static int span_basis(double *xt, int64_t rows, int64_t dx, double *Q,
                      int64_t *rank) {
  int m = (int)dx, n = (int)rows, k = m < n ? m : n, lwork = -1, info = 0;
  int *jpvt = calloc((size_t)n, sizeof *jpvt);
  double *tau = malloc((size_t)k * sizeof *tau), wq = 0;
  if (!jpvt || !tau) {
    free(jpvt);
    free(tau);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the batch's QR");
  }
  dgeqp3_(&m, &n, xt, &m, jpvt, tau, &wq, &lwork, &info);
  lwork = (int)wq + 1;
  double *work = malloc((size_t)lwork * sizeof *work);
  if (work) dgeqp3_(&m, &n, xt, &m, jpvt, tau, work, &lwork, &info);
  int r = 0;
  if (work && info == 0) {
    double cut = (double)(m > n ? m : n) * DBL_EPSILON * fabs(xt[0]);
    while (r < k && fabs(xt[(size_t)r * (size_t)m + (size_t)r]) > cut) r++;
    if (r == 0) r = 1;  /* all-zero inputs: one direction, H zero on it */
    lwork = -1;
    dorgqr_(&m, &r, &r, xt, &m, tau, &wq, &lwork, &info);
    if (info == 0 && (int)wq + 1 > lwork) {
      free(work);
      lwork = (int)wq + 1;
      work = malloc((size_t)lwork * sizeof *work);
    }
    if (work && info == 0) dorgqr_(&m, &r, &r, xt, &m, tau, work, &lwork, &info);
  }
  int ok = work && info == 0;
  free(work);
  free(jpvt);
  free(tau);
  if (!ok)
    HR_FAIL(HR_ERR_SOLVER, "the QR of the batch's %d x %d inputs failed "
            "(info %d)", n, m, info);
  for (int64_t j = 0; j < dx; j++)
    for (int64_t c = 0; c < r; c++) Q[j * r + c] = xt[c * dx + j];
  *rank = r;
  return HR_OK;
}

/* The group's basis: gathered rows, QR on rank 0, broadcast.  Q holds
 * dx * min(rows, dx) doubles. */
static int group_basis(MPI_Comm comm, const double *mine, int64_t local,
                       int64_t rows, int64_t dx, double *Q, int64_t *rank) {
  int me;
  MPI_Comm_rank(comm, &me);
  double *all = malloc((size_t)(rows * dx) * sizeof *all);
  HR_CHECK(hr_agree(comm, all ? HR_OK : HR_ERR_MEMORY));
  int rc = hr_hessian_gather_rows(comm, mine, local, dx, all, rows);
  if (rc == HR_OK) rc = hr_agree(comm, me == 0 ? span_basis(all, rows, dx, Q,
                                                            rank) : HR_OK);
  free(all);
  HR_CHECK(rc);
  HR_MPI(MPI_Bcast(rank, 1, MPI_INT64_T, 0, comm));
  HR_MPI(MPI_Bcast(Q, (int)(dx * *rank), MPI_DOUBLE, 0, comm));
  return HR_OK;
}

int hr_hessian_reduced(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                       int64_t rows, double *evals, double *checks) {
  MPI_Comm comm = run->grid.comm;
  const hr_model_t *m = &h->model;
  int64_t dx = hr_model_reduce_width(m), S = h->data.count;
  int64_t kmax = rows < dx ? rows : dx, N = m->nparams;
  double *xt = malloc((size_t)(S * dx + 1) * sizeof *xt);
  double *Q = malloc((size_t)(dx * kmax) * sizeof *Q);
  double *theta = malloc((size_t)hr_model_reduced_order(m, kmax) * sizeof *theta);
  double *xr = malloc((size_t)(S * kmax + 1) * sizeof *xr);
  int rc = xt && Q && theta && xr
               ? HR_OK
               : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                              "out of memory for the reduced problem");
  rc = hr_agree(comm, rc);
  int64_t r = 0;
  hr_model_t reduced;
  hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (rc == HR_OK) {
    extended_rows(h, dx, xt);
    rc = group_basis(comm, xt, S, rows, dx, Q, &r);
  }
  if (rc == HR_OK) rc = hr_model_reduce_input(m, h->theta, Q, r, &reduced, theta);
  /* this rank's reduced inputs Q^T x~ (S x r) */
  if (rc == HR_OK && S > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, (int)r,
                (int)dx, 1.0, xt, (int)dx, Q, (int)r, 0.0, xr, (int)r);
  hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  free(xt);
  free(Q);
  if (rc == HR_OK) {
    hr_hessian_problem_t pb = hr_hessian_problem(h);
    pb.model = &reduced;
    pb.theta = theta;
    pb.x = xr;
    pb.dim = r;
    rc = hr_hessian_dense_problem(ctx, run, &pb, evals, checks);
  }
  free(theta);
  free(xr);
  HR_CHECK(rc);
  checks[HR_CHECK_RANK] = NAN;  /* counted on the full spectrum */
  /* H is exactly zero on the other N - order directions. */
  hr_hessian_add_zeros(evals, reduced.nparams, N);
  return HR_OK;
}
