/* Eigenvalues (and, on request, eigenvectors) of a symmetric matrix in block-cyclic layout, through
 * ELPA (1- or 2-stage), ScaLAPACK (pdsyevr, pdsyev) or, on a one-rank
 * grid, LAPACK's two-stage dsyev, in double or single precision.  Only the
 * lower triangle is read (for ELPA, which reads both, it is first mirrored
 * onto the upper one); the matrix is destroyed. */
#ifndef HESSRMT_EIGENSOLVER_H
#define HESSRMT_EIGENSOLVER_H

#include <stdint.h>

#include "hessrmt/dmat.h"
#include "hessrmt/precision.h"

/* Names in the order of the enum (the front end's --solver choices). */
#define HR_SOLVER_NAMES "elpa2|elpa1|pdsyevr|pdsyev|lapack|auto"
typedef enum {
  HR_SOLVER_ELPA2, HR_SOLVER_ELPA1, HR_SOLVER_PDSYEVR, HR_SOLVER_PDSYEV,
  HR_SOLVER_LAPACK, HR_SOLVER_AUTO
} hr_solver_t;

/* "elpa2", "pdsyevr", ... */
const char *hr_solver_name(hr_solver_t solver);

/* What the linked libraries can do, found out at start-up. */
typedef struct {
  int elpa_single;  /* ELPA built with single precision (Debian's is not) */
} hr_eigensolver_caps_t;

/* Once per process, after MPI_Init / before MPI_Finalize.  Probes the
 * capabilities with a tiny solve on MPI_COMM_SELF (same answer on every
 * rank, so no communication). */
int hr_eigensolver_init(hr_eigensolver_caps_t *caps);
void hr_eigensolver_finalize(void);

/* The solver that will actually run on groups of group_size ranks, for
 * eigenvalues only or (vectors) with eigenvectors.  auto: lapack on one
 * rank, else elpa2 (elpa1 with eigenvectors).  ELPA without single precision
 * support falls back to ScaLAPACK's pssyevr (documented in the README);
 * *note then says so, else it is NULL. */
hr_solver_t hr_eigensolver_resolve(hr_solver_t requested,
                                   hr_precision_t precision,
                                   const hr_eigensolver_caps_t *caps,
                                   int group_size, int vectors,
                                   const char **note);

/* Check nblk for a solver, matrix order and grid; the message says what
 * would work.  ELPA 2-stage needs nblk * (max(nprow, npcol) - 1) < n. */
int hr_eigensolver_check_nblk(hr_solver_t solver, int64_t n, int64_t nblk,
                              int nprow, int npcol);

/* The default block size: the largest of 64, 32, ..., 1 that the check
 * accepts. */
int64_t hr_eigensolver_default_nblk(hr_solver_t solver, int64_t n, int nprow,
                                    int npcol);

/* Estimated extra bytes per rank the solver allocates beyond the matrix. */
int64_t hr_eigensolver_workspace_bytes(hr_solver_t solver, int64_t n,
                                       int64_t nb, hr_precision_t precision,
                                       const hr_grid_t *grid);

/* All n eigenvalues, ascending, into evals (length n, on every rank of the
 * grid).  Collective over a->grid->comm; a failure is agreed on. */
int hr_eigensolver_solve(hr_solver_t solver, hr_dmat_t *a, double *evals);

/* All n eigenvalues, ascending, and their eigenvectors: column j of z (a
 * matrix of a's order and layout) belongs to evals[j].  Double precision
 * only.  ELPA computes all N vectors (its subset is the lowest nev, and
 * both ends are wanted), pdsyevr and pdsyev with JOBZ = 'V', one rank
 * LAPACK's dsyevd.  Collective; agreed. */
int hr_eigensolver_solve_vectors(hr_solver_t solver, hr_dmat_t *a,
                                 double *evals, hr_dmat_t *z);

/* Estimated extra bytes per rank of the vector solve beyond the matrix and
 * z. */
int64_t hr_eigensolver_vectors_workspace_bytes(hr_solver_t solver, int64_t n,
                                               int64_t nb, const hr_grid_t *grid);

/* All n eigenvalues, ascending, of a small symmetric matrix held whole by
 * one rank (column-major, the `uplo` triangle referenced: "L" or "U";
 * destroyed), with LAPACK's dsyevd.  For matrices too small to be worth
 * distributing: the projected and Gram matrices of the batch paths.  NaN
 * or infinite entries are refused before the solve, as for hr_eigensolver_
 * solve's matrices. */
int hr_eigensolver_serial(double *a, int64_t n, const char *uplo,
                          double *evals);

/* The same on rank 0 of comm (only its `a` is read), the outcome agreed on
 * and the eigenvalues broadcast to every rank.  Collective. */
int hr_eigensolver_serial_on_root(MPI_Comm comm, double *a, int64_t n,
                                  const char *uplo, double *evals);

#endif
