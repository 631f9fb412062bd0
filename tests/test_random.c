/* Philox4x32-10 against the published known-answer vectors of Random123
 * (kat_vectors), and the moments of the derived uniform and normal draws. */
#include <stdint.h>

#include "check.h"
#include "hessrmt/random.h"

static void check_kat(uint64_t key, const uint32_t ctr[4], const uint32_t want[4]) {
  uint32_t out[4];
  hr_philox4x32(key, ctr[0], ctr[1], ctr[2], ctr[3], out);
  for (int w = 0; w < 4; w++)
    EXPECT(out[w] == want[w], "philox word %d: %08x, expected %08x", w,
           out[w], want[w]);
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  /* Random123 kat_vectors: philox4x32 10 rounds. */
  check_kat(0, (const uint32_t[]){0, 0, 0, 0},
            (const uint32_t[]){0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  check_kat(0xffffffffffffffffULL,
            (const uint32_t[]){0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
            (const uint32_t[]){0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  check_kat(((uint64_t)0x299f31d0 << 32) | 0xa4093822,
            (const uint32_t[]){0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
            (const uint32_t[]){0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});

  /* Moments over 10^6 draws: mean 1/2, var 1/12; normal mean 0, var 1,
   * fourth moment 3.  Tolerances are 6 standard errors. */
  const int64_t n = 1000000;
  double su = 0, su2 = 0, sz = 0, sz2 = 0, sz4 = 0;
  for (int64_t i = 0; i < n; i++) {
    double u = hr_random_uniform(42, 3, i % 1000, i / 1000, HR_STREAM_ENTRY);
    double z = hr_random_normal(42, 3, i % 1000, i / 1000, HR_STREAM_FACTOR);
    EXPECT(u > 0.0 && u < 1.0, "uniform %g outside (0,1)", u);
    su += u; su2 += u * u;
    sz += z; sz2 += z * z; sz4 += z * z * z * z;
  }
  double m = su / n, v = su2 / n - m * m;
  EXPECT_NEAR(m, 0.5, 6 * sqrt(1.0 / 12 / n), "uniform mean %g", m);
  EXPECT_NEAR(v, 1.0 / 12, 6 * sqrt(1.0 / 180 / n), "uniform variance %g", v);
  double zm = sz / n, zv = sz2 / n, z4 = sz4 / n;
  EXPECT_NEAR(zm, 0.0, 6 / sqrt((double)n), "normal mean %g", zm);
  EXPECT_NEAR(zv, 1.0, 6 * sqrt(2.0 / n), "normal variance %g", zv);
  EXPECT_NEAR(z4, 3.0, 6 * sqrt(96.0 / n), "normal 4th moment %g", z4);

  /* Streams and matrix indices give different draws for the same (i, j). */
  EXPECT(hr_random_normal(1, 0, 5, 6, HR_STREAM_ENTRY) !=
             hr_random_normal(1, 0, 5, 6, HR_STREAM_FACTOR), "streams differ");
  EXPECT(hr_random_normal(1, 0, 5, 6, HR_STREAM_ENTRY) !=
             hr_random_normal(1, 1, 5, 6, HR_STREAM_ENTRY), "matrices differ");
  EXPECT(hr_random_normal(1, 0, 5, 6, HR_STREAM_ENTRY) ==
             hr_random_normal(1, 0, 5, 6, HR_STREAM_ENTRY), "repeatable");
  return test_finish_serial("test_random");
}
