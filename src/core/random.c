/* Philox4x32-10 and the draws built on it (see random.h). */
#include "hessrmt/random.h"

#include <math.h>

/* Multipliers and Weyl key increments of Philox4x32 (Salmon et al. 2011). */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox_round(uint32_t ctr[4], const uint32_t key[2]) {
  uint64_t p0 = (uint64_t)PHILOX_M0 * ctr[0];
  uint64_t p1 = (uint64_t)PHILOX_M1 * ctr[2];
  uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
  uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
  uint32_t next[4] = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
  ctr[0] = next[0];
  ctr[1] = next[1];
  ctr[2] = next[2];
  ctr[3] = next[3];
}

void hr_philox4x32(uint64_t key64, uint32_t a, uint32_t b, uint32_t c,
                   uint32_t stream, uint32_t out[4]) {
  uint32_t key[2] = {(uint32_t)key64, (uint32_t)(key64 >> 32)};
  uint32_t ctr[4] = {a, b, c, stream};
  for (int round = 0; round < 10; round++) {
    philox_round(ctr, key);
    key[0] += PHILOX_W0;
    key[1] += PHILOX_W1;
  }
  for (int w = 0; w < 4; w++) out[w] = ctr[w];
}

/* 53 bits from two words, shifted by half a step so 0 is never drawn. */
static double to_unit(uint32_t hi, uint32_t lo) {
  uint64_t bits = ((uint64_t)hi << 21) ^ (uint64_t)(lo >> 11);
  bits &= (UINT64_C(1) << 53) - 1;
  return ((double)bits + 0.5) / 9007199254740992.0; /* 2^53 */
}

/* Counter words: (i, j, low 32 bits of k, high bits of k above an 8-bit
 * stream number), so every (k, i, j, stream) has its own counter. */
static void draw(uint64_t seed, uint64_t k, int64_t i, int64_t j,
                 hr_stream_t stream, uint32_t out[4]) {
  hr_philox4x32(seed, (uint32_t)i, (uint32_t)j, (uint32_t)k,
                ((uint32_t)(k >> 32) << 8) | (uint32_t)stream, out);
}

double hr_random_uniform(uint64_t seed, uint64_t k, int64_t i, int64_t j,
                         hr_stream_t stream) {
  uint32_t w[4];
  draw(seed, k, i, j, stream, w);
  return to_unit(w[0], w[1]);
}

double hr_random_normal(uint64_t seed, uint64_t k, int64_t i, int64_t j,
                        hr_stream_t stream) {
  uint32_t w[4];
  draw(seed, k, i, j, stream, w);
  double u1 = to_unit(w[0], w[1]), u2 = to_unit(w[2], w[3]);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
