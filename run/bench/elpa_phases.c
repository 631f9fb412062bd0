/* Where ELPA's one-rank eigenvalue time goes, against LAPACK's.
 *
 * On one process, for a GOE-like matrix of order N: elpa2 and elpa1
 * eigenvalues (what hessrmt calls), ELPA's tridiagonal solver alone
 * (elpa_solve_tridiagonal, the last stage of both), and LAPACK's
 * tridiagonal reduction (dsytrd) and eigenvalue-only tridiagonal solver
 * (dsterf) -- together what numpy's eigvalsh does for eigenvalues only.
 *
 *   mpicc -O2 run/bench/elpa_phases.c -o elpa_phases \
 *       $(pkg-config --cflags --libs elpa) -llapack -lblas
 *   OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ./elpa_phases 5130
 * It does not choose OpenBLAS's kernels as hessrmt does: on a CPU that
 * OpenBLAS does not know, set OPENBLAS_CORETYPE to the core that
 * `hessrmt --version` names, or it times the generic Prescott kernels.
 */
#include <elpa/elpa.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dsytrd_(const char *uplo, const int *n, double *a, const int *lda,
             double *d, double *e, double *tau, double *work,
             const int *lwork, int *info);
void dsterf_(const int *n, double *d, double *e, int *info);

static void random_symmetric(int n, double *a) {
  srand(7);
  for (int j = 0; j < n; j++)
    for (int i = 0; i <= j; i++) {
      double v = (double)rand() / RAND_MAX - 0.5;
      a[(size_t)j * n + i] = a[(size_t)i * n + j] = v;
    }
}

static elpa_t elpa_one_rank(int n, int solver) {
  int err;
  elpa_t h = elpa_allocate(&err);
  elpa_set(h, "na", n, &err);
  elpa_set(h, "nev", n, &err);
  elpa_set(h, "local_nrows", n, &err);
  elpa_set(h, "local_ncols", n, &err);
  elpa_set(h, "nblk", 64, &err);
  elpa_set(h, "mpi_comm_parent", (int)MPI_Comm_c2f(MPI_COMM_WORLD), &err);
  elpa_set(h, "process_row", 0, &err);
  elpa_set(h, "process_col", 0, &err);
  if (elpa_setup(h) != ELPA_OK) exit(1);
  elpa_set(h, "solver", solver, &err);
  return h;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int n = argc > 1 ? atoi(argv[1]) : 4000, err, info;
  if (elpa_init(20221109) != ELPA_OK) return 1;
  size_t nn = (size_t)n * n;
  double *a = malloc(nn * sizeof *a), *ev = malloc((size_t)n * sizeof *ev);
  double *d = malloc((size_t)n * sizeof *d), *e = malloc((size_t)n * sizeof *e);
  double *q = malloc(nn * sizeof *q), *tau = malloc((size_t)n * sizeof *tau);
  double t;
  for (int s = 0; s < 2; s++) {
    int solver = s == 0 ? ELPA_SOLVER_2STAGE : ELPA_SOLVER_1STAGE;
    elpa_t h = elpa_one_rank(n, solver);
    random_symmetric(n, a);
    t = MPI_Wtime();
    elpa_eigenvalues(h, a, ev, &err);
    printf("elpa%d eigenvalues           %8.2f s\n", 2 - s, MPI_Wtime() - t);
    elpa_deallocate(h, &err);
  }
  /* LAPACK: reduction, then eigenvalues of the tridiagonal. */
  random_symmetric(n, a);
  int lwork = -1;
  double wq;
  dsytrd_("L", &n, a, &n, d, e, tau, &wq, &lwork, &info);
  lwork = (int)wq;
  double *work = malloc((size_t)lwork * sizeof *work);
  t = MPI_Wtime();
  dsytrd_("L", &n, a, &n, d, e, tau, work, &lwork, &info);
  printf("LAPACK dsytrd (reduction)   %8.2f s\n", MPI_Wtime() - t);
  double *d2 = malloc((size_t)n * sizeof *d2), *e2 = malloc((size_t)n * sizeof *e2);
  memcpy(d2, d, (size_t)n * sizeof *d);
  memcpy(e2, e, (size_t)n * sizeof *e);
  t = MPI_Wtime();
  dsterf_(&n, d2, e2, &info);
  printf("LAPACK dsterf (tridiagonal) %8.2f s\n", MPI_Wtime() - t);
  /* ELPA's tridiagonal stage on the same tridiagonal matrix. */
  elpa_t h = elpa_one_rank(n, ELPA_SOLVER_1STAGE);
  t = MPI_Wtime();
  elpa_solve_tridiagonal(h, d, e, q, &err);
  printf("ELPA solve_tridiagonal      %8.2f s\n", MPI_Wtime() - t);
  elpa_deallocate(h, &err);
  elpa_uninit(&err);
  MPI_Finalize();
  return 0;
}
