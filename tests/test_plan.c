/* Planning a matrix far larger than this machine: N = 200,000 on 256 ranks
 * (a 16 x 16 grid), without running it.  The block-cyclic index maps must
 * cover every row exactly once and invert each other; every rank's local
 * size and memory estimate must be computed in 64 bits (a 4 x 4 grid's
 * local block has more than INT_MAX elements); the lean
 * pdsyev plan must stay within 1.3x the matrix share plus the fixed
 * baseline while ELPA's would not, which is what --solver auto's switch
 * relies on; and sizes past ScaLAPACK's 32-bit descriptors are refused
 * with a message, not wrapped.  No MPI communication: the grids are
 * described, not created. */
#include <limits.h>
#include <string.h>

#include "check.h"
#include "hessrmt/blockcyclic.h"
#include "hessrmt/dmat.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/error.h"
#include "hessrmt/memory.h"

enum { P = 256 };
static const int64_t N = 200000;

static void test_grid_and_block(int *nprow, int *npcol, int64_t *nb) {
  hr_grid_shape_auto(P, nprow, npcol);
  EXPECT(*nprow == 16 && *npcol == 16, "256 ranks: grid %dx%d", *nprow, *npcol);
  *nb = hr_eigensolver_default_nblk(HR_SOLVER_ELPA2, N, *nprow, *npcol);
  EXPECT(*nb == 64, "default nblk %lld", (long long)*nb);
  EXPECT(hr_eigensolver_check_nblk(HR_SOLVER_ELPA2, N, *nb, *nprow, *npcol) ==
             HR_OK, "nblk accepted");
}

static void test_index_maps(int np, int64_t nb) {
  int64_t total = 0, largest = 0;
  for (int p = 0; p < np; p++) {
    int64_t c = hr_bc_local_count(N, nb, p, np);
    total += c;
    largest = c > largest ? c : largest;
  }
  EXPECT(total == N, "local rows over 16 process rows sum to %lld", (long long)total);
  EXPECT(largest == 12544, "largest local count %lld (196 blocks of 64)",
         (long long)largest);
  /* every index of a stride through N, and the ends */
  int64_t bad = 0;
  for (int64_t g = 0; g < N; g += (g < 200 || g > N - 200) ? 1 : 997) {
    int owner = hr_bc_owner(g, nb, np);
    int64_t l = hr_bc_global_to_local(g, nb, np);
    bad += owner < 0 || owner >= np || l >= hr_bc_local_count(N, nb, owner, np) ||
           hr_bc_local_to_global(l, nb, owner, np) != g;
  }
  EXPECT(bad == 0, "%lld indices do not round-trip", (long long)bad);
  /* on a 4 x 4 grid a rank's block holds 2.5e9 elements, past INT_MAX */
  hr_grid_t g;
  memset(&g, 0, sizeof g);
  g.nprow = g.npcol = 4;
  g.size = 16;
  int64_t rows = hr_bc_local_count(N, nb, 0, 4);
  EXPECT(rows * rows > INT_MAX &&
             hr_dmat_local_bytes(N, N, nb, HR_PRECISION_DOUBLE, &g) == rows * rows * 8,
         "a 4x4 grid's local block: %lld elements, sized in 64 bits",
         (long long)(rows * rows));
}

/* One rank's view of the grid, for the estimates (no communicator). */
static hr_grid_t fake_grid(int nprow, int npcol, int r, int c) {
  hr_grid_t g;
  memset(&g, 0, sizeof g);
  g.nprow = nprow;
  g.npcol = npcol;
  g.size = nprow * npcol;
  g.myrow = r;
  g.mycol = c;
  return g;
}

static void test_memory_plan(int nprow, int npcol, int64_t nb) {
  hr_ensemble_t e = {.kind = HR_KIND_GOE, .n = N, .seed = 1,
                     .wishart_ratio = 1.0, .beta = 1.0};
  int64_t lean = 0, elpa = 0, matrix = 0;
  char breakdown[512];
  for (int r = 0; r < nprow; r++)
    for (int c = 0; c < npcol; c++) {
      hr_grid_t g = fake_grid(nprow, npcol, r, c);
      int64_t m = hr_dmat_local_bytes(N, N, nb, HR_PRECISION_DOUBLE, &g);
      int64_t l = hr_ensemble_memory(&e, HR_SOLVER_PDSYEV, nb,
                                     HR_PRECISION_DOUBLE, &g, breakdown,
                                     sizeof breakdown);
      int64_t a = hr_ensemble_memory(&e, HR_SOLVER_ELPA2, nb,
                                     HR_PRECISION_DOUBLE, &g, breakdown,
                                     sizeof breakdown);
      matrix = m > matrix ? m : matrix;
      lean = l > lean ? l : lean;
      elpa = a > elpa ? a : elpa;
    }
  EXPECT(matrix == (int64_t)12544 * 12544 * 8,
         "largest local matrix %lld bytes", (long long)matrix);
  double share = 8.0 * (double)N * (double)N / P;
  EXPECT((double)lean <= 1.3 * share + HR_MEMORY_BASELINE,
         "pdsyev plan %.3g GB against 1.3 x %.3g GB + baseline", lean / 1e9,
         share / 1e9);
  EXPECT(elpa > 2 * lean, "ELPA's plan %.3g GB should be well above the lean "
         "one's %.3g GB", elpa / 1e9, lean / 1e9);
}

static void test_descriptor_limit(void) {
  hr_grid_t g = fake_grid(1, 1, 0, 0);
  hr_dmat_t a;
  int rc = hr_dmat_create(&g, (int64_t)INT_MAX + 1, 4, 64, HR_PRECISION_DOUBLE, &a);
  EXPECT(rc == HR_ERR_INPUT && strstr(hr_error_message(), "32-bit"),
         "N past INT_MAX: rc %d, '%s'", rc, hr_error_message());
  hr_error_clear();
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  int nprow, npcol;
  int64_t nb;
  test_grid_and_block(&nprow, &npcol, &nb);
  test_index_maps(nprow, nb);
  test_memory_plan(nprow, npcol, nb);
  test_descriptor_limit();
  return test_finish_serial("test_plan");
}
