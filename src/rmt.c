/* Random-matrix statistics (see rmt.h). */
#include "hessrmt/rmt.h"

#include <math.h>

void hr_spacing_ratio_mean(const double *levels, int64_t n, double *mean,
                           double *stderr_mean, int64_t *count) {
  double sum = 0.0, sum2 = 0.0;
  int64_t used = 0;
  for (int64_t i = 1; i + 1 < n; i++) {
    double prev = levels[i] - levels[i - 1], next = levels[i + 1] - levels[i];
    if (!(prev > 0.0) || !(next > 0.0)) continue;
    double r = next / prev;
    double rt = r < 1.0 ? r : 1.0 / r;
    sum += rt;
    sum2 += rt * rt;
    used++;
  }
  *count = used;
  *mean = used ? sum / (double)used : NAN;
  double var = used > 1 ? (sum2 - sum * sum / (double)used) / (double)(used - 1) : NAN;
  *stderr_mean = used > 1 ? sqrt(var / (double)used) : NAN;
}
