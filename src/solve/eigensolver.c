/* The eigensolver driver (see eigensolver.h). */
#include "hessrmt/eigensolver.h"

#include <elpa/elpa.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/blacs.h"
#include "hessrmt/blockcyclic.h"
#include "hessrmt/error.h"
#include "hessrmt/lapack.h"

/* ELPA calls report through an int out-argument; name the step. */
#define HR_ELPA(err, what)                                                  \
  do {                                                                      \
    if ((err) != ELPA_OK)                                                   \
      HR_FAIL(HR_ERR_SOLVER, "ELPA %s failed: %s", (what),                  \
              elpa_strerr(err));                                            \
  } while (0)

static int solve_elpa(hr_solver_t solver, hr_dmat_t *a, void *out,
                      hr_dmat_t *z);

static int is_elpa(hr_solver_t s) {
  return s == HR_SOLVER_ELPA1 || s == HR_SOLVER_ELPA2;
}

/* Does ELPA solve in single precision?  Its eigenvalues of diag(1, 2). */
static int probe_elpa_single(void) {
  hr_grid_t self;
  if (hr_grid_create(MPI_COMM_SELF, 1, 1, &self) != HR_OK) return 0;
  hr_dmat_t a;
  int ok = 0;
  if (hr_dmat_create(&self, 2, 2, 2, HR_PRECISION_SINGLE, &a) == HR_OK) {
    float *v = a.data;
    v[0] = 1.0f;
    v[3] = 2.0f;
    float ev[2] = {0, 0};
    ok = solve_elpa(HR_SOLVER_ELPA1, &a, ev, NULL) == HR_OK &&
         fabs(ev[0] - 1.0) < 1e-6 && fabs(ev[1] - 2.0) < 1e-6;
    hr_dmat_free(&a);
  }
  hr_grid_free(&self);
  hr_error_clear();
  return ok;
}

const char *hr_solver_name(hr_solver_t solver) {
  static const char *names[] = {"elpa2", "elpa1", "pdsyevr", "pdsyev", "lapack",
                                "auto"};
  return (unsigned)solver < sizeof names / sizeof names[0] ? names[solver] : "?";
}

int hr_eigensolver_init(hr_eigensolver_caps_t *caps) {
  if (elpa_init(ELPA_API_VERSION) != ELPA_OK)
    HR_FAIL(HR_ERR_SOLVER, "the ELPA library does not support API version %d "
            "that hessrmt was built against", ELPA_API_VERSION);
  caps->elpa_single = probe_elpa_single();
  return HR_OK;
}

hr_solver_t hr_eigensolver_resolve(hr_solver_t requested,
                                   hr_precision_t precision,
                                   const hr_eigensolver_caps_t *caps,
                                   int group_size, int vectors,
                                   const char **note) {
  *note = NULL;
  /* One rank: LAPACK's two-stage solve is the fastest (2.5x ELPA 2-stage
   * at N = 5,130 on one core) and the leanest.  More: ELPA 2-stage, which
   * hr_run_plan_memory may still trade for pdsyev when memory is short.
   * With eigenvectors ELPA 1-stage: ELPA 2-stage's back-transformation
   * runs Debian's generic kernel (its AVX2 and AVX-512 ones return wrong
   * vectors), 18.8 s against 6.5 s at N = 4,000 on two ranks; on one rank
   * LAPACK's dsyevd (10.8 s). */
  if (requested == HR_SOLVER_AUTO)
    requested = group_size == 1 ? HR_SOLVER_LAPACK
                : vectors       ? HR_SOLVER_ELPA1 : HR_SOLVER_ELPA2;
  if (precision == HR_PRECISION_SINGLE && is_elpa(requested) &&
      !caps->elpa_single) {
    *note = "this ELPA build has no single precision; solving with "
            "ScaLAPACK pssyevr instead";
    return HR_SOLVER_PDSYEVR;
  }
  return requested;
}

void hr_eigensolver_finalize(void) {
  int err;
  elpa_uninit(&err);
}

int hr_eigensolver_check_nblk(hr_solver_t solver, int64_t n, int64_t nblk,
                              int nprow, int npcol) {
  int pmax = nprow > npcol ? nprow : npcol;
  if (nblk < 1)
    HR_FAIL(HR_ERR_INPUT, "block size --nblk %lld must be at least 1",
            (long long)nblk);
  /* ELPA (both stages, checked in testing) needs every process row and
   * column to own at least one block. */
  if (is_elpa(solver) && nblk * (pmax - 1) >= n) {
    int64_t largest = pmax > 1 ? (n - 1) / (pmax - 1) : n;
    HR_FAIL(HR_ERR_INPUT,
            "--nblk %lld is too large for N = %lld on a %dx%d grid: ELPA "
            "needs nblk * (max(P,Q) - 1) < N, so nblk <= %lld here; use a "
            "smaller --nblk, a smaller grid (more --groups), or "
            "--solver pdsyevr",
            (long long)nblk, (long long)n, nprow, npcol, (long long)largest);
  }
  return HR_OK;
}

int64_t hr_eigensolver_default_nblk(hr_solver_t solver, int64_t n, int nprow,
                                    int npcol) {
  int64_t nb = 64;
  int pmax = nprow > npcol ? nprow : npcol;
  while (nb > 1 && (nb * (pmax - 1) >= n || (!is_elpa(solver) && nb > n)))
    nb /= 2;
  return nb;
}

int64_t hr_eigensolver_workspace_bytes(hr_solver_t solver, int64_t n,
                                       int64_t nb, hr_precision_t precision,
                                       const hr_grid_t *grid) {
  int64_t el = precision == HR_PRECISION_DOUBLE ? 8 : 4;
  int64_t rows = hr_bc_local_count(n, nb, grid->myrow, grid->nprow);
  int64_t cols = hr_bc_local_count(n, nb, grid->mycol, grid->npcol);
  /* Measured peaks (VmHWM, eigenvalues only, N = 5,000 and 7,850 on 1x1,
   * 1x2 and 2x2 grids) beyond the matrix fit k * N * (local rows + local
   * cols) elements, with k = 1.3 for ELPA 2-stage, 1.0 for ELPA 1-stage
   * and about 0.9 for ScaLAPACK: the workspace shrinks like 1/sqrt(P), not
   * 1/P.  The factors below round those up. */
  if (solver == HR_SOLVER_LAPACK)  /* dsyev_2stage's work: about 104 N */
    return 160 * n * el;
  /* pdsyev with JOBZ = 'N' is pdsytrd (LWORK 5N + nb (local rows + 1))
   * and dsterf on the gathered tridiagonal: O(N + nb rows), measured 37
   * MiB over the matrix at N = 6,000 on one rank, all of it the fixed
   * baseline. */
  if (solver == HR_SOLVER_PDSYEV)
    return 16 * n * el + 4 * nb * (rows + cols) * el;
  double k = solver == HR_SOLVER_ELPA2 ? 1.4 : solver == HR_SOLVER_ELPA1 ? 1.1 : 1.0;
  return (int64_t)(k * (double)n * (double)(rows + cols) * (double)el) +
         16 * n * el;
}

/* ---- ELPA -------------------------------------------------------------- */

static int elpa_configure(elpa_t h, hr_solver_t solver, const hr_dmat_t *a) {
  int err;
  elpa_set(h, "na", (int)a->n, &err);                  HR_ELPA(err, "set na");
  elpa_set(h, "nev", (int)a->n, &err);                 HR_ELPA(err, "set nev");
  elpa_set(h, "local_nrows", (int)a->local_rows, &err); HR_ELPA(err, "set local_nrows");
  elpa_set(h, "local_ncols", (int)a->local_cols, &err); HR_ELPA(err, "set local_ncols");
  elpa_set(h, "nblk", (int)a->nb, &err);               HR_ELPA(err, "set nblk");
  elpa_set(h, "mpi_comm_parent", (int)MPI_Comm_c2f(a->grid->comm), &err);
  HR_ELPA(err, "set mpi_comm_parent");
  elpa_set(h, "process_row", a->grid->myrow, &err);    HR_ELPA(err, "set process_row");
  elpa_set(h, "process_col", a->grid->mycol, &err);    HR_ELPA(err, "set process_col");
  elpa_set(h, "blacs_context", a->grid->context, &err); HR_ELPA(err, "set blacs_context");
  HR_ELPA(elpa_setup(h), "setup");
  /* ELPA's default is 1-stage; 2-stage is the faster eigenvalues-only path. */
  elpa_set(h, "solver",
           solver == HR_SOLVER_ELPA2 ? ELPA_SOLVER_2STAGE : ELPA_SOLVER_1STAGE,
           &err);
  HR_ELPA(err, "set solver");
  return HR_OK;
}

/* ELPA writes eigenvalues in the matrix's precision into `out`, and with
 * z (double precision only) the eigenvectors into it. */
static int solve_elpa(hr_solver_t solver, hr_dmat_t *a, void *out,
                      hr_dmat_t *z) {
  int err;
  elpa_t h = elpa_allocate(&err);
  HR_ELPA(err, "allocate");
  int rc = elpa_configure(h, solver, a);
  if (rc == HR_OK) {
    if (z)
      elpa_eigenvectors(h, (double *)a->data, (double *)out, (double *)z->data, &err);
    else if (a->precision == HR_PRECISION_DOUBLE)
      elpa_eigenvalues(h, (double *)a->data, (double *)out, &err);
    else
      elpa_eigenvalues(h, (float *)a->data, (float *)out, &err);
    if (err != ELPA_OK)
      rc = hr_error_set(HR_ERR_SOLVER, __FILE__, __LINE__, __func__,
                        "ELPA %s failed: %s", z ? "eigenvectors" : "eigenvalues",
                        elpa_strerr(err));
  }
  int derr;
  elpa_deallocate(h, &derr);
  return rc;
}

/* ---- ScaLAPACK --------------------------------------------------------- */

/* Allocate two workspaces and agree on the outcome before the collective
 * solve: a rank that skipped the solve for want of memory would leave the
 * others waiting inside it. */
static int alloc_agreed(MPI_Comm comm, void **a, size_t abytes, void **b,
                        size_t bbytes) {
  *a = malloc(abytes ? abytes : 1);
  *b = bbytes ? malloc(bbytes) : NULL;
  int rc = HR_OK;
  if (!*a || (bbytes && !*b)) {
    free(*a);
    free(*b);
    *a = *b = NULL;
    rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                      "out of memory for %zu bytes of eigensolver workspace",
                      abytes + bbytes);
  }
  return hr_agree(comm, rc);
}

/* Workspace sizes come from a query call (lwork = -1); the ScaLAPACK
 * drivers return them as floating-point numbers.  Single and double
 * differ only in types, so each driver is written once as a macro body. */
#define SOLVE_SYEVR(REAL, PXSYEVR)                                           \
  do {                                                                      \
    REAL vl = 0, vu = 0, wq = 0, zdummy = 0, *work, *w = out;               \
    int *iwork;                                                             \
    PXSYEVR("N", "A", "L", &n, a->data, &one, &one, a->desc, &vl, &vu,      \
            &one, &n, &m, &nz, w, &zdummy, &one, &one, a->desc, &wq,        \
            &lwork, &iq, &liwork, &info);                                   \
    lwork = (int)wq + 1;                                                    \
    liwork = iq + 1;                                                        \
    HR_CHECK(alloc_agreed(comm, (void **)&work, (size_t)lwork * sizeof(REAL), \
                          (void **)&iwork, (size_t)liwork * sizeof(int)));  \
    PXSYEVR("N", "A", "L", &n, a->data, &one, &one, a->desc, &vl, &vu,      \
            &one, &n, &m, &nz, w, &zdummy, &one, &one, a->desc, work,       \
            &lwork, iwork, &liwork, &info);                                 \
    free(work);                                                             \
    free(iwork);                                                            \
  } while (0)

#define SOLVE_SYEV(REAL, PXSYEV)                                             \
  do {                                                                      \
    REAL wq = 0, zdummy = 0, *work, *w = out;                               \
    void *unused;                                                           \
    PXSYEV("N", "L", &n, a->data, &one, &one, a->desc, w, &zdummy, &one,    \
           &one, a->desc, &wq, &lwork, &info);                              \
    lwork = (int)wq + 1;                                                    \
    HR_CHECK(alloc_agreed(comm, (void **)&work, (size_t)lwork * sizeof(REAL), \
                          &unused, 0));                                     \
    PXSYEV("N", "L", &n, a->data, &one, &one, a->desc, w, &zdummy, &one,    \
           &one, a->desc, work, &lwork, &info);                             \
    free(work);                                                             \
  } while (0)

/* Eigenvalues into `out`: evals itself in double, a float array in single. */
static int solve_scalapack(hr_solver_t solver, hr_dmat_t *a, void *out) {
  MPI_Comm comm = a->grid->comm;
  const int n = (int)a->n, one = 1;
  int m = n, nz = 0, info = 0, lwork = -1, liwork = -1, iq = 0;
  int dbl = a->precision == HR_PRECISION_DOUBLE;
  if (solver == HR_SOLVER_PDSYEVR && dbl) SOLVE_SYEVR(double, pdsyevr_);
  else if (solver == HR_SOLVER_PDSYEVR) SOLVE_SYEVR(float, pssyevr_);
  else if (dbl) SOLVE_SYEV(double, pdsyev_);
  else SOLVE_SYEV(float, pssyev_);
  (void)nz;
  if (info != 0 || m != n)
    HR_FAIL(HR_ERR_SOLVER, "%s failed: info = %d, %d of %d eigenvalues",
            solver == HR_SOLVER_PDSYEVR ? "pdsyevr" : "pdsyev", info, m, n);
  return HR_OK;
}

/* ---- LAPACK, on a one-rank grid ------------------------------------------ */

#define SOLVE_2STAGE(REAL, XSYEV)                                            \
  do {                                                                      \
    REAL wq = 0, *work;                                                     \
    void *unused;                                                           \
    XSYEV("N", "L", &n, a->data, &lda, out, &wq, &lwork, &info);            \
    lwork = (int)wq + 1;                                                    \
    HR_CHECK(alloc_agreed(comm, (void **)&work, (size_t)lwork * sizeof(REAL), \
                          &unused, 0));                                     \
    XSYEV("N", "L", &n, a->data, &lda, out, work, &lwork, &info);           \
    free(work);                                                             \
  } while (0)

static int check_one_rank(const hr_dmat_t *a) {
  if (a->grid->size != 1)
    HR_FAIL(HR_ERR_USAGE, "--solver lapack solves on one rank, but the group "
            "has %d: use --groups equal to the ranks, or another --solver",
            a->grid->size);
  return HR_OK;
}

static int solve_lapack(hr_dmat_t *a, void *out) {
  MPI_Comm comm = a->grid->comm;
  HR_CHECK(check_one_rank(a));
  const int n = (int)a->n, lda = (int)a->lld;
  int lwork = -1, info = 0;
  if (a->precision == HR_PRECISION_DOUBLE) SOLVE_2STAGE(double, dsyev_2stage_);
  else SOLVE_2STAGE(float, ssyev_2stage_);
  if (info != 0)
    HR_FAIL(HR_ERR_SOLVER, "dsyev_2stage failed on a %d x %d matrix: info = "
            "%d", n, n, info);
  return HR_OK;
}

static int solve_with(hr_solver_t solver, hr_dmat_t *a, void *out) {
  if (is_elpa(solver)) return solve_elpa(solver, a, out, NULL);
  if (solver == HR_SOLVER_LAPACK) return solve_lapack(a, out);
  return solve_scalapack(solver, a, out);
}

static int solve_in_precision(hr_solver_t solver, hr_dmat_t *a,
                              double *evals) {
  if (a->precision == HR_PRECISION_DOUBLE) return solve_with(solver, a, evals);
  float *ev = NULL;
  void *unused;
  HR_CHECK(alloc_agreed(a->grid->comm, (void **)&ev,
                        (size_t)a->n * sizeof *ev, &unused, 0));
  int rc = solve_with(solver, a, ev);
  for (int64_t i = 0; i < a->n; i++) evals[i] = ev[i];
  free(ev);
  return rc;
}


/* ---- eigenvalues and eigenvectors ------------------------------------------
 * Double precision.  Both libraries' vector matrix is N x N in the same
 * layout whatever subset is asked for, and ELPA counts its nev from the
 * bottom of the spectrum, so the vectors of both ends take all of them:
 * the back-transformation of the rest is the price, not memory. */

static int vectors_scalapack(hr_solver_t solver, hr_dmat_t *a, double *w,
                             hr_dmat_t *z) {
  MPI_Comm comm = a->grid->comm;
  const int n = (int)a->n, one = 1;
  int m = n, nz = n, info = 0, lwork = -1, liwork = -1, iq = 0;
  double vl = 0, vu = 0, wq = 0, *work = NULL;
  int *iwork = NULL;
  if (solver == HR_SOLVER_PDSYEVR) {
    pdsyevr_("V", "A", "L", &n, a->data, &one, &one, a->desc, &vl, &vu, &one,
             &n, &m, &nz, w, z->data, &one, &one, z->desc, &wq, &lwork, &iq,
             &liwork, &info);
    lwork = (int)wq + 1;
    liwork = iq + 1;
    HR_CHECK(alloc_agreed(comm, (void **)&work, (size_t)lwork * sizeof *work,
                          (void **)&iwork, (size_t)liwork * sizeof *iwork));
    pdsyevr_("V", "A", "L", &n, a->data, &one, &one, a->desc, &vl, &vu, &one,
             &n, &m, &nz, w, z->data, &one, &one, z->desc, work, &lwork,
             iwork, &liwork, &info);
  } else {
    pdsyev_("V", "L", &n, a->data, &one, &one, a->desc, w, z->data, &one,
            &one, z->desc, &wq, &lwork, &info);
    lwork = (int)wq + 1;
    void *unused;
    HR_CHECK(alloc_agreed(comm, (void **)&work, (size_t)lwork * sizeof *work,
                          &unused, 0));
    pdsyev_("V", "L", &n, a->data, &one, &one, a->desc, w, z->data, &one,
            &one, z->desc, work, &lwork, &info);
  }
  free(work);
  free(iwork);
  if (info != 0 || m != n || nz != n)
    HR_FAIL(HR_ERR_SOLVER, "%s failed: info = %d, %d of %d eigenpairs",
            hr_solver_name(solver), info, nz, n);
  return HR_OK;
}

/* One rank: LAPACK's divide and conquer (the two-stage driver computes no
 * vectors), the vectors overwriting the matrix, then copied into z. */
static int vectors_lapack(hr_dmat_t *a, double *evals, hr_dmat_t *z) {
  HR_CHECK(check_one_rank(a));
  const int n = (int)a->n, lda = (int)a->lld;
  int lwork = -1, liwork = -1, iq = 0, info = 0;
  double wq = 0, *work = NULL;
  int *iwork = NULL;
  dsyevd_("V", "L", &n, a->data, &lda, evals, &wq, &lwork, &iq, &liwork, &info);
  lwork = (int)wq + 1;
  liwork = iq + 1;
  HR_CHECK(alloc_agreed(a->grid->comm, (void **)&work,
                        (size_t)lwork * sizeof *work, (void **)&iwork,
                        (size_t)liwork * sizeof *iwork));
  dsyevd_("V", "L", &n, a->data, &lda, evals, work, &lwork, iwork, &liwork,
          &info);
  free(work);
  free(iwork);
  if (info != 0)
    HR_FAIL(HR_ERR_SOLVER, "dsyevd failed on a %d x %d matrix: info = %d", n,
            n, info);
  memcpy(z->data, a->data, (size_t)a->lld * (size_t)a->local_cols * sizeof(double));
  return HR_OK;
}

int64_t hr_eigensolver_vectors_workspace_bytes(hr_solver_t solver, int64_t n,
                                               int64_t nb, const hr_grid_t *grid) {
  int64_t rows = hr_bc_local_count(n, nb, grid->myrow, grid->nprow);
  int64_t cols = hr_bc_local_count(n, nb, grid->mycol, grid->npcol);
  /* dsyevd with vectors: LWORK 1 + 6N + 2N^2.  The distributed drivers'
   * documented LWORK with vectors is about one more local matrix beyond
   * O(N) terms; ELPA's back-transformation buffers are taken as twice its
   * eigenvalue-only workspace. */
  if (solver == HR_SOLVER_LAPACK) return (2 * n * n + 6 * n) * 8;
  if (is_elpa(solver))
    return 2 * hr_eigensolver_workspace_bytes(solver, n, nb, HR_PRECISION_DOUBLE,
                                              grid);
  return rows * cols * 8 + 24 * n * 8 + 4 * nb * (rows + cols) * 8;
}

/* The checks, the mirrored triangle for ELPA, and the solve, for
 * eigenvalues (z NULL) or with eigenvectors; the outcome agreed. */
static int solve_checked(hr_solver_t solver, hr_dmat_t *a, double *evals,
                         hr_dmat_t *z) {
  int rc = hr_eigensolver_check_nblk(solver, a->n, a->nb, a->grid->nprow,
                                     a->grid->npcol);
  HR_CHECK(hr_agree(a->grid->comm, rc));
  /* ELPA reads both triangles; the others only the lower one. */
  if (is_elpa(solver)) HR_CHECK(hr_dmat_symmetrize_lower(a));
  rc = !z                           ? solve_in_precision(solver, a, evals)
       : is_elpa(solver)            ? solve_elpa(solver, a, evals, z)
       : solver == HR_SOLVER_LAPACK ? vectors_lapack(a, evals, z)
                                    : vectors_scalapack(solver, a, evals, z);
  HR_CHECK(hr_agree(a->grid->comm, rc));
  for (int64_t i = 0; i < a->n; i++)
    if (!isfinite(evals[i]))
      HR_FAIL(HR_ERR_SOLVER, "the solver returned a non-finite eigenvalue "
              "(index %lld); is the matrix finite?", (long long)i);
  return HR_OK;
}

int hr_eigensolver_solve(hr_solver_t solver, hr_dmat_t *a, double *evals) {
  if (a->m != a->n)
    HR_FAIL(HR_ERR_INTERNAL, "eigenvalues of a non-square %lld x %lld matrix",
            (long long)a->m, (long long)a->n);
  return solve_checked(solver, a, evals, NULL);
}

int hr_eigensolver_solve_vectors(hr_solver_t solver, hr_dmat_t *a,
                                 double *evals, hr_dmat_t *z) {
  if (a->m != a->n || a->precision != HR_PRECISION_DOUBLE ||
      z->precision != HR_PRECISION_DOUBLE || z->n != a->n || z->nb != a->nb)
    HR_FAIL(HR_ERR_INTERNAL, "eigenvectors need square double-precision "
            "matrices of one layout");
  return solve_checked(solver, a, evals, z);
}

int hr_eigensolver_serial(double *a, int64_t n64, const char *uplo,
                          double *evals) {
  if (n64 > INT_MAX)
    HR_FAIL(HR_ERR_INPUT, "a %lld x %lld matrix is too large for a serial "
            "solve", (long long)n64, (long long)n64);
  int n = (int)n64, lwork = -1, liwork = -1, iq = 0, info = 0;
  int64_t bad = 0;
  int lower = uplo[0] == 'L';
  for (int64_t j = 0; j < n; j++)
    for (int64_t i = lower ? j : 0; i < (lower ? n : j + 1); i++)
      bad += !isfinite(a[j * n + i]);
  if (bad > 0)
    HR_FAIL(HR_ERR_INPUT, "the %d x %d matrix has %lld NaN or infinite "
            "entries (overflow: are the data or weights far too large?)", n,
            n, (long long)bad);
  double wq = 0;
  dsyevd_("N", uplo, &n, a, &n, evals, &wq, &lwork, &iq, &liwork, &info);
  lwork = (int)wq + 1;
  liwork = iq + 1;
  double *work = malloc((size_t)lwork * sizeof *work);
  int *iwork = malloc((size_t)liwork * sizeof *iwork);
  if (work && iwork)
    dsyevd_("N", uplo, &n, a, &n, evals, work, &lwork, iwork, &liwork, &info);
  int ok = work && iwork && info == 0;
  free(work);
  free(iwork);
  if (!ok)
    HR_FAIL(HR_ERR_SOLVER, "dsyevd failed on a %d x %d matrix (info %d)", n,
            n, info);
  for (int i = 0; i < n; i++)
    if (!isfinite(evals[i]))
      HR_FAIL(HR_ERR_INPUT, "dsyevd returned a non-finite eigenvalue (index "
              "%d) for a %d x %d matrix: it has NaN or infinite entries "
              "(overflow: are the data or weights far too large?)", i, n, n);
  return HR_OK;
}

int hr_eigensolver_serial_on_root(MPI_Comm comm, double *a, int64_t n,
                                  const char *uplo, double *evals) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int rc = rank == 0 ? hr_eigensolver_serial(a, n, uplo, evals) : HR_OK;
  HR_CHECK(hr_agree(comm, rc));
  HR_MPI(MPI_Bcast(evals, (int)n, MPI_DOUBLE, 0, comm));
  return HR_OK;
}
