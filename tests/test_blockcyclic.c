/* Block-cyclic index maps and row slices, exhaustively for small sizes and
 * against ScaLAPACK's own numroc / indxg2p / indxg2l / indxl2g, which are
 * an independent implementation of the same layout. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "hessrmt/blockcyclic.h"

int numroc_(const int *n, const int *nb, const int *iproc, const int *isrc,
            const int *nprocs);
int indxg2p_(const int *g, const int *nb, const int *iproc, const int *isrc,
             const int *nprocs);
int indxg2l_(const int *g, const int *nb, const int *iproc, const int *isrc,
             const int *nprocs);
int indxl2g_(const int *l, const int *nb, const int *iproc, const int *isrc,
             const int *nprocs);

static void check_layout(int64_t n, int64_t nb, int nprocs) {
  int64_t total = 0;
  int *owned = calloc((size_t)n, sizeof *owned);
  const int in = (int)n, inb = (int)nb, zero = 0;
  for (int p = 0; p < nprocs; p++) {
    int64_t count = hr_bc_local_count(n, nb, p, nprocs);
    EXPECT(count == numroc_(&in, &inb, &p, &zero, &nprocs),
           "local count n=%lld nb=%lld p=%d/%d: %lld vs numroc", (long long)n,
           (long long)nb, p, nprocs, (long long)count);
    total += count;
    for (int64_t l = 0; l < count; l++) {
      int64_t g = hr_bc_local_to_global(l, nb, p, nprocs);
      int l1 = (int)l + 1;
      EXPECT(g + 1 == indxl2g_(&l1, &inb, &p, &zero, &nprocs),
             "l2g differs from indxl2g");
      if (g < 0 || g >= n) {
        EXPECT(0, "local %lld on %d maps outside [0,%lld)", (long long)l, p,
               (long long)n);
        continue;
      }
      owned[g]++;
      /* round trip global -> (owner, local) -> global */
      EXPECT(hr_bc_owner(g, nb, nprocs) == p, "owner of %lld", (long long)g);
      EXPECT(hr_bc_global_to_local(g, nb, nprocs) == l, "g2l of %lld",
             (long long)g);
    }
  }
  EXPECT(total == n, "local counts sum to %lld, not %lld", (long long)total,
         (long long)n);
  for (int64_t g = 0; g < n; g++) {
    int g1 = (int)g + 1;
    EXPECT(owned[g] == 1, "global %lld owned %d times", (long long)g, owned[g]);
    EXPECT(hr_bc_owner(g, nb, nprocs) == indxg2p_(&g1, &inb, &zero, &zero, &nprocs),
           "owner differs from indxg2p");
    EXPECT(hr_bc_global_to_local(g, nb, nprocs) + 1 ==
               indxg2l_(&g1, &inb, &zero, &zero, &nprocs),
           "g2l differs from indxg2l");
  }
  free(owned);
}

static void check_row_slices(int64_t n, int parts) {
  int64_t next = 0, smallest = n, largest = 0;
  for (int p = 0; p < parts; p++) {
    int64_t first, count;
    hr_row_slice(n, p, parts, &first, &count);
    EXPECT(first == next, "slice %d of %lld rows starts at %lld, not %lld", p,
           (long long)n, (long long)first, (long long)next);
    next = first + count;
    if (count < smallest) smallest = count;
    if (count > largest) largest = count;
  }
  EXPECT(next == n, "slices cover %lld of %lld rows", (long long)next, (long long)n);
  EXPECT(largest - smallest <= 1, "slice sizes differ by %lld",
         (long long)(largest - smallest));
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  static const int64_t sizes[] = {1, 2, 7, 64, 100, 129, 1000};
  static const int64_t blocks[] = {1, 3, 16, 64, 200};
  for (int procs = 1; procs <= 6; procs++)
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
      for (size_t j = 0; j < sizeof blocks / sizeof *blocks; j++)
        check_layout(sizes[i], blocks[j], procs);

  /* 64-bit: a dimension beyond 2^31 elements in total must not overflow. */
  int64_t big = 3000000000LL;
  EXPECT(hr_bc_local_count(big, 64, 0, 1) == big, "64-bit local count");
  EXPECT(hr_bc_local_to_global(hr_bc_global_to_local(big - 1, 64, 3), 64,
                               hr_bc_owner(big - 1, 64, 3), 3) == big - 1,
         "64-bit round trip");

  for (int parts = 1; parts <= 9; parts++)
    for (int64_t n = 0; n <= 40; n++) check_row_slices(n, parts);
  check_row_slices(60000, 7);
  return test_finish_serial("test_blockcyclic");
}
