/* Synthetic Gaussian classes, the embedded default dataset.
 *
 *   label_i  = floor(U(seed; 1000, i, 0) * classes)
 *   mu_c[j]  = separation * Z(seed; 1001, c, j) / sqrt(dim)
 *   x_ij     = mu_{label_i}[j] + Z(seed; 1002, i, j)
 *
 * with U and Z Philox draws (random.h) indexed by the global row i, so a
 * rank holding rows [first, first + count) generates exactly what a single
 * rank would have for those rows: the data do not depend on the slicing. */
#include <math.h>
#include <stdlib.h>

#include "hessrmt/error.h"
#include "hessrmt/random.h"
#include "readers.h"

/* Streams 2 and 3 and matrix keys 1000-1002 keep these draws apart from the
 * ensemble's (HR_STREAM_ENTRY / HR_STREAM_FACTOR with small keys). */
enum {
  SYN_STREAM_LABEL = 2,
  SYN_STREAM_VALUE = 3,
  SYN_KEY_LABEL = 1000,
  SYN_KEY_MEAN = 1001,
  SYN_KEY_NOISE = 1002,
};

int hr_synthetic_check(const hr_dataset_spec_t *spec) {
  /* Philox counters take 32-bit row and column indices. */
  const int64_t max = INT64_C(0xffffffff);
  if (spec->n < 1 || spec->n > max || spec->dim < 1 || spec->dim > max)
    HR_FAIL(HR_ERR_INPUT, "synthetic data need 1 <= n, dim <= %lld (got n = "
            "%lld, dim = %lld)", (long long)max, (long long)spec->n,
            (long long)spec->dim);
  if (spec->classes < 1)
    HR_FAIL(HR_ERR_INPUT, "synthetic data need at least one class (got %d)",
            spec->classes);
  if (!isfinite(spec->separation))
    HR_FAIL(HR_ERR_INPUT, "synthetic class separation must be finite");
  return HR_OK;
}

static int32_t label_of(const hr_dataset_spec_t *spec, int64_t i) {
  double u = hr_random_uniform(spec->seed, SYN_KEY_LABEL, i, 0,
                               (hr_stream_t)SYN_STREAM_LABEL);
  int32_t c = (int32_t)(u * spec->classes);
  return c < spec->classes ? c : spec->classes - 1;  /* u < 1, but be safe */
}

/* Class means, classes x dim: only the classes present are needed, but all
 * of them are cheap next to the rows. */
static int class_means(const hr_dataset_spec_t *spec, double **mu) {
  int64_t total;
  HR_CHECK(hr_mul_checked(spec->classes, spec->dim, "synthetic",
                          "classes x dim", &total));
  HR_CALLOC(*mu, total);
  double scale = spec->separation / sqrt((double)spec->dim);
  for (int64_t c = 0; c < spec->classes; c++)
    for (int64_t j = 0; j < spec->dim; j++)
      (*mu)[c * spec->dim + j] =
          scale * hr_random_normal(spec->seed, SYN_KEY_MEAN, c, j,
                                   (hr_stream_t)SYN_STREAM_VALUE);
  return HR_OK;
}

int hr_synthetic_rows(const hr_dataset_spec_t *spec, int64_t first,
                      int64_t count, double *x, int32_t *labels) {
  double *mu;
  HR_CHECK(class_means(spec, &mu));
  for (int64_t r = 0; r < count; r++) {
    int64_t i = first + r;
    labels[r] = label_of(spec, i);
    const double *m = mu + (size_t)labels[r] * (size_t)spec->dim;
    double *row = x + (size_t)r * (size_t)spec->dim;
    for (int64_t j = 0; j < spec->dim; j++)
      row[j] = m[j] + hr_random_normal(spec->seed, SYN_KEY_NOISE, i, j,
                                       (hr_stream_t)SYN_STREAM_VALUE);
  }
  free(mu);
  return HR_OK;
}
