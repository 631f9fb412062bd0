/* The low-rank exact path for batch Hessians (DESIGN.md, "Low-rank exact
 * path").  A batch Hessian has rank far below N.  Its range is captured by
 * Q, orthonormal, grown from H times blocks of random probes; the growth
 * stops only when H applied to a block of FRESH probes is reproduced by
 * Q Q^T to rounding, which is what makes the result exact rather than
 * approximate.  The eigenvalues of Q^T H Q are then the nonzero eigenvalues
 * of H, and the other N - r are zero.  Cost: about 2r Hessian-vector
 * products and O(N r^2) dense work, instead of an O(N^3) solve.
 *
 * The group's ranks split the batch's samples for the products (summed
 * with MPI_Allreduce); the dense linear algebra runs on the group's rank 0,
 * which broadcasts every decision and every new basis block so all ranks
 * take the same branches.  If the rank found passes N/2 the dense path is
 * cheaper and is used instead. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/lapack.h"
#include "hessrmt/progress.h"
#include "hessrmt/random.h"

enum { PROBE_BLOCK = 128 };
/* A fresh block is "reproduced to rounding" when what Q Q^T misses is below
 * this fraction of it: the dense solve cannot resolve eigenvalues below
 * ~eps N |H| either. */
static const double CONVERGED = 1e-12;

typedef struct {
  const hr_hessian_t *h;
  MPI_Comm comm;
  int leader;
  int64_t N, cap;         /* parameters; most basis columns kept */
  int64_t r;              /* basis columns so far */
  double *Q;              /* N x cap, column-major */
  double *Y;              /* N x PROBE_BLOCK */
  hr_model_work_t *work;
  int64_t chunk;
  int verbose;            /* progress lines (world rank 0, not --quiet) */
  char label[96];
  hr_progress_t progress;
} lowrank_t;

/* Y = (scaled) H V for b directions, summed over the group's samples. */
static int hvp(lowrank_t *L, const double *V, int64_t b, double *Y) {
  hr_hessian_problem_t pb = hr_hessian_problem(L->h);
  memset(Y, 0, (size_t)(L->N * b) * sizeof *Y);
  hr_problem_hvp(&pb, L->work, L->chunk, V, b, Y);
  for (int64_t i = 0; i < L->N * b; i++) Y[i] *= pb.scale;
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, Y, (int)(L->N * b), MPI_DOUBLE, MPI_SUM,
                       L->comm));
  return HR_OK;
}

/* Gaussian probes for block `round` of spectrum k: the same on every rank. */
static void probes(int64_t k, int64_t round, int64_t N, double *V) {
  for (int64_t j = 0; j < PROBE_BLOCK; j++)
    for (int64_t i = 0; i < N; i++)
      V[j * N + i] = hr_random_normal((uint64_t)k, 5000 + (uint64_t)round, i,
                                      j, HR_STREAM_FACTOR);
}

/* Y -= Q (Q^T Y), twice (classical Gram-Schmidt with reorthogonalisation). */
static void project_out(lowrank_t *L, double *Y, int64_t b, double *tmp) {
  if (L->r == 0) return;
  for (int pass = 0; pass < 2; pass++) {
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)L->r, (int)b,
                (int)L->N, 1.0, L->Q, (int)L->N, Y, (int)L->N, 0.0, tmp,
                (int)L->r);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)L->N, (int)b,
                (int)L->r, -1.0, L->Q, (int)L->N, tmp, (int)L->r, 1.0, Y,
                (int)L->N);
  }
}

static double frobenius(const double *A, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += A[i] * A[i];
  return sqrt(s);
}

/* Leader: orthonormal columns for the new directions in Y (pivoted QR,
 * keeping columns whose R_ii is above rounding).  Returns how many. */
static int64_t new_directions(lowrank_t *L, double *Y, int64_t b, double scale) {
  int m = (int)L->N, n = (int)b, info = 0, lwork = -1;
  int diag = m < n ? m : n;  /* R is min(m, n) on its diagonal */
  int *jpvt = calloc((size_t)n, sizeof *jpvt);
  double *tau = malloc((size_t)n * sizeof *tau), wq = 0;
  if (!jpvt || !tau) { free(jpvt); free(tau); return -1; }
  dgeqp3_(&m, &n, Y, &m, jpvt, tau, &wq, &lwork, &info);
  lwork = (int)wq + n + 1;  /* dorgqr below reuses it and needs >= n */
  double *work = malloc((size_t)lwork * sizeof *work);
  if (work) dgeqp3_(&m, &n, Y, &m, jpvt, tau, work, &lwork, &info);
  int kept = 0;
  while (work && info == 0 && kept < diag &&
         fabs(Y[(size_t)kept * (size_t)m + (size_t)kept]) > 1e-13 * scale)
    kept++;
  if (kept > 0) {
    dorgqr_(&m, &kept, &kept, Y, &m, tau, work, &lwork, &info);
    if (L->r + kept > L->cap) kept = (int)(L->cap - L->r);
    if (info == 0) memcpy(L->Q + L->r * L->N, Y, (size_t)kept * (size_t)m * sizeof *Y);
  }
  int failed = !work || info != 0;
  free(jpvt); free(tau); free(work);
  return failed ? -1 : kept;
}

/* Grow Q until a fresh block is reproduced; returns 1 if captured, 0 if
 * the rank passed the cap.  Collective over the group. */
static int grow_basis(lowrank_t *L, int64_t k, int *captured) {
  double *V = malloc((size_t)(L->N * PROBE_BLOCK) * sizeof *V);
  double *tmp = malloc((size_t)(L->cap * PROBE_BLOCK + 1) * sizeof *tmp);
  HR_CHECK(hr_agree(L->comm, V && tmp ? HR_OK : HR_ERR_MEMORY));
  int rc = HR_OK;
  *captured = 0;
  snprintf(L->label, sizeof L->label, "low-rank basis (falls back to dense "
           "past %lld), rank so far", (long long)L->cap);
  hr_progress_begin(&L->progress, L->verbose, L->label, 0);
  for (int64_t round = 0; rc == HR_OK; round++) {
    probes(k, round, L->N, V);
    rc = hvp(L, V, PROBE_BLOCK, L->Y);
    if (rc != HR_OK) break;
    /* state[0]: converged?  state[1]: columns added. */
    int64_t state[2] = {0, 0};
    if (L->leader) {
      double before = frobenius(L->Y, L->N * PROBE_BLOCK);
      project_out(L, L->Y, PROBE_BLOCK, tmp);
      double after = frobenius(L->Y, L->N * PROBE_BLOCK);
      state[0] = before == 0.0 || after <= CONVERGED * before;
      if (!state[0]) state[1] = new_directions(L, L->Y, PROBE_BLOCK, before);
    }
    HR_MPI(MPI_Bcast(state, 2, MPI_INT64_T, 0, L->comm));
    if (state[1] < 0) {  /* the leader's QR failed: everyone stops together */
      rc = hr_error_set(HR_ERR_SOLVER, __FILE__, __LINE__, __func__,
                        "QR of the low-rank probe block failed (out of "
                        "memory or a LAPACK error)");
      break;
    }
    if (state[1] > 0)
      HR_MPI(MPI_Bcast(L->Q + L->r * L->N, (int)(state[1] * L->N), MPI_DOUBLE,
                       0, L->comm));
    L->r += state[1];
    hr_progress_step(&L->progress, L->r);
    if (state[0]) { *captured = 1; break; }
    if (L->r >= L->cap || state[1] == 0) break;  /* too big, or stalled */
  }
  free(V);
  free(tmp);
  return rc;
}

/* T = Q^T H Q, block by block of Q, then its eigenvalues on the leader. */
static int projected_spectrum(lowrank_t *L, double *evals) {
  int64_t r = L->r, N = L->N;
  double *T = malloc((size_t)(r * r + 1) * sizeof *T);
  HR_CHECK(hr_agree(L->comm, T ? HR_OK : HR_ERR_MEMORY));
  int rc = HR_OK;
  hr_progress_begin(&L->progress, L->verbose, "projecting H onto the basis, "
                    "columns", r);
  for (int64_t j = 0; j < r && rc == HR_OK; j += PROBE_BLOCK) {
    int64_t b = r - j < PROBE_BLOCK ? r - j : PROBE_BLOCK;
    rc = hvp(L, L->Q + j * N, b, L->Y);
    if (rc == HR_OK && L->leader)
      cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, (int)r, (int)b,
                  (int)N, 1.0, L->Q, (int)N, L->Y, (int)N, 0.0, T + j * r,
                  (int)r);
    hr_progress_step(&L->progress, j + b);
  }
  rc = hr_agree(L->comm, rc);
  /* only the leader (rank 0 of the group) filled T */
  if (rc == HR_OK) rc = hr_eigensolver_serial_on_root(L->comm, T, r, "L", evals);
  free(T);
  return rc;
}

static void lowrank_free(lowrank_t *L) {
  free(L->Q);
  free(L->Y);
  hr_model_work_free(L->work);
}

int hr_hessian_lowrank(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                       int64_t k, double *evals, double *checks) {
  lowrank_t L = {.h = h, .comm = run->grid.comm, .leader = run->grid.rank == 0,
                 .N = h->model.nparams,
                 .verbose = ctx->rank == 0 && !run->set.quiet};
  L.cap = L.N / 2;
  L.chunk = h->data.count < 64 ? (h->data.count ? h->data.count : 1) : 64;
  L.Q = malloc((size_t)(L.N * L.cap + 1) * sizeof *L.Q);
  L.Y = malloc((size_t)(L.N * PROBE_BLOCK) * sizeof *L.Y);
  int rc = L.Q && L.Y ? hr_model_work_create(&h->model, L.chunk, PROBE_BLOCK, &L.work)
                      : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                                     "out of memory for the low-rank basis "
                                     "(%lld x %lld)", (long long)L.N,
                                     (long long)L.cap);
  rc = hr_agree(L.comm, rc);
  int captured = 0;
  hr_timer_start(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (rc == HR_OK) rc = grow_basis(&L, k, &captured);
  hr_timer_stop(&ctx->timer, HR_PHASE_ASSEMBLE);
  if (rc == HR_OK && captured) {
    hr_timer_start(&ctx->timer, HR_PHASE_SOLVE);
    rc = projected_spectrum(&L, evals);
    hr_timer_stop(&ctx->timer, HR_PHASE_SOLVE);
  }
  int64_t r = L.r;
  lowrank_free(&L);
  HR_CHECK(rc);
  if (!captured) {
    if (run->grid.rank == 0 && !run->set.quiet)
      fprintf(stderr, "hessrmt: spectrum %lld: rank above N/2 = %lld, so the "
              "dense path is faster; using it\n", (long long)k,
              (long long)(h->model.nparams / 2));
    return hr_hessian_dense(ctx, run, h, evals, checks);
  }
  hr_hessian_add_zeros(evals, r, h->model.nparams);
  /* The basis may hold a few directions whose eigenvalues are at rounding
   * level; the rank recorded is the numerical one, as for the dense path. */
  checks[HR_CHECK_RANK] = NAN;
  /* No matrix is assembled, so there is no independent trace or symmetry
   * to check: the trace of Q^T H Q would equal its eigenvalue sum by
   * construction. */
  checks[HR_CHECK_ASYM] = NAN;
  checks[HR_CHECK_TRACE] = NAN;
  return HR_OK;
}
