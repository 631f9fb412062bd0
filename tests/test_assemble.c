/* Panel assembly at 1, 2 and 4 ranks on every grid shape: each rank
 * contributes a different share w_r (summing to 1) of a known matrix
 * f(i, j); after the reduce-scatter every local element must equal f. */
#include <stdlib.h>

#include "check.h"
#include "hessrmt/assemble.h"
#include "hessrmt/error.h"

static double f(int64_t i, int64_t j) { return 1.0 + (double)i * 0.001 + (double)(j % 13) * (double)(i % 7); }

typedef struct { int64_t n; double share; } ctx_t;

static int partial(void *vctx, int64_t col0, int64_t ncols, double *panel) {
  const ctx_t *c = vctx;
  for (int64_t t = 0; t < ncols; t++)
    for (int64_t i = 0; i < c->n; i++)
      panel[t * c->n + i] = c->share * f(i, col0 + t);
  return HR_OK;
}

static int failing(void *vctx, int64_t col0, int64_t ncols, double *panel) {
  (void)vctx; (void)ncols; (void)panel;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank == 0 && col0 > 0)
    HR_FAIL(HR_ERR_INPUT, "injected failure at column %lld", (long long)col0);
  return HR_OK;
}

int main(int argc, char **argv) {
  test_start(argv);
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  static const int64_t sizes[] = {1, 5, 37, 130};
  static const int64_t blocks[] = {1, 4, 16, 64};
  for (int rows = 1; rows <= size; rows++) {
    if (size % rows) continue;
    hr_grid_t g;
    hr_grid_create(MPI_COMM_WORLD, rows, size / rows, &g);
    for (int si = 0; si < 4; si++)
      for (int bi = 0; bi < 4; bi++)
        for (int p = 0; p < 2; p++) {
          hr_dmat_t H;
          hr_dmat_create(&g, sizes[si], sizes[si], blocks[bi], p, &H);
          ctx_t c = {sizes[si], 2.0 * (rank + 1) / (size * (size + 1.0))};
          int rc = hr_assemble_panels(&H, partial, &c);
          EXPECT(rc == HR_OK, "assembly failed: %s", hr_error_message());
          double err = 0;
          for (int64_t lj = 0; lj < H.local_cols; lj++)
            for (int64_t li = 0; li < H.local_rows; li++)
              err = fmax(err, fabs(hr_dmat_get(&H, li, lj) -
                                   f(hr_dmat_global_row(&H, li),
                                     hr_dmat_global_col(&H, lj))));
          EXPECT(err <= (p ? 1e-4 : 1e-12), "n=%lld nb=%lld grid %dx%d prec %d: "
                 "error %.2e", (long long)sizes[si], (long long)blocks[bi],
                 g.nprow, g.npcol, p, err);
          hr_dmat_free(&H);
        }
    /* A failure on one rank part-way is agreed: every rank returns it. */
    hr_dmat_t H;
    hr_dmat_create(&g, 100, 100, 8, HR_PRECISION_DOUBLE, &H);
    int rc = hr_assemble_panels(&H, failing, NULL);
    EXPECT(rc == HR_ERR_INPUT, "injected failure returned %d on rank %d", rc, rank);
    hr_error_clear();
    hr_dmat_free(&H);
    hr_grid_free(&g);
  }
  int rc = test_finish("test_assemble", MPI_COMM_WORLD);
  MPI_Finalize();
  return rc;
}
