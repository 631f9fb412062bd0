/* A minimal assertion kit for hessrmt's C tests.  Each EXPECT counts a pass
 * or prints a failure with its location; test_finish() prints the closing
 * "N passed, N failed" line and returns the exit status (summed over the
 * ranks of an MPI test). */
#ifndef HESSRMT_TESTS_CHECK_H
#define HESSRMT_TESTS_CHECK_H

#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "hessrmt/blas_core.h"

typedef struct {
  long passed, failed;
} test_counts_t;

static test_counts_t test_counts;

#define EXPECT(cond, ...)                                            \
  do {                                                               \
    if (cond) {                                                      \
      test_counts.passed++;                                          \
    } else {                                                         \
      test_counts.failed++;                                          \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
      fprintf(stderr, __VA_ARGS__);                                  \
      fputc('\n', stderr);                                           \
    }                                                                \
  } while (0)

/* The first call of every test's main(), as of hessrmt's: OpenBLAS's
 * generic fallback kernels are slow and have crashed tests (blas_core.h);
 * this may execute the test again with the fast ones. */
static inline void test_start(char **argv) {
  hr_blas_core_t blas;
  hr_blas_core_startup(argv, &blas);
  if (blas.warning[0]) fprintf(stderr, "warning: %s\n", blas.warning);
}

/* |a - b| <= tol, with NaN failing. */
#define EXPECT_NEAR(a, b, tol, ...) \
  EXPECT(fabs((double)(a) - (double)(b)) <= (tol), __VA_ARGS__)

/* max |a - b| / max |b| over n values (relative to 1 when b is all zero). */
static inline double test_max_rel_diff(const double *a, const double *b, int64_t n) {
  double d = 0, s = 0;
  for (int64_t i = 0; i < n; i++) {
    d = fmax(d, fabs(a[i] - b[i]));
    s = fmax(s, fabs(b[i]));
  }
  return d / (s > 0 ? s : 1);
}

/* For tests without MPI. */
static inline int test_finish_serial(const char *name) {
  printf("%s: %ld passed, %ld failed\n", name, test_counts.passed,
         test_counts.failed);
  return test_counts.failed ? 1 : 0;
}

/* Collective: sums the counts over comm; rank 0 prints. */
static inline int test_finish(const char *name, MPI_Comm comm) {
  long local[2] = {test_counts.passed, test_counts.failed}, total[2];
  MPI_Allreduce(local, total, 2, MPI_LONG, MPI_SUM, comm);
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0)
    printf("%s: %ld passed, %ld failed\n", name, total[0], total[1]);
  return total[1] ? 1 : 0;
}

#endif
