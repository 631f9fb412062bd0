/* The summary printed after a run: each spectrum read back from the file
 * (see hr_summary_print in spectra_run.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "hessrmt/error.h"
#include "hessrmt/rmt.h"
#include "hessrmt/spectra_read.h"
#include "hessrmt/spectra_run.h"
#include "hessrmt/stats.h"

/* Mean r~ over the levels above the cut (the structural zeros of a
 * rank-deficient Hessian would otherwise dominate the ratios). */
static void ratio_of_nonzero(const double *v, int64_t n, double cut,
                             double *mean, double *se, int64_t *used,
                             int64_t *rank) {
  double *kept = malloc((size_t)n * sizeof *kept);
  int64_t m = 0;
  for (int64_t i = 0; kept && i < n; i++)
    if (fabs(v[i]) > cut) kept[m++] = v[i];
  *rank = m;
  hr_spacing_ratio_mean(kept ? kept : v, kept ? m : n, mean, se, used);
  free(kept);
}

typedef struct {
  double mean, se;
  int64_t used, rank;
} row_stats_t;

static row_stats_t row_stats(const double *v, int64_t n) {
  row_stats_t st;
  ratio_of_nonzero(v, n, hr_zero_cut(v, n, DBL_EPSILON), &st.mean, &st.se, &st.used, &st.rank);
  return st;
}

static void print_row(FILE *out, int64_t r, const double *v, int64_t n,
                      const row_stats_t *st, const double *exact) {
  fprintf(out, "%6lld %14.6g %14.6g %8lld %10.5f %9.5f", (long long)r, v[0],
          v[n - 1], (long long)st->rank, st->mean, st->se);
  if (exact) {
    double err = 0, scale = fabs(exact[n - 1]);
    for (int64_t i = 0; i < n; i++) err = fmax(err, fabs(v[i] - exact[i]));
    fprintf(out, "   %.3e", err / scale);
  }
  fprintf(out, "\n");
}

static int summary_print(const char *path, const double *exact, FILE *out) {
  hr_spectra_t s;
  HR_CHECK(hr_spectra_load(path, "hessian_evals", &s));
  fprintf(out, "wrote %s: hessian_evals %lld x %lld\n", path,
          (long long)s.rows, (long long)s.cols);
  fprintf(out, "%6s %14s %14s %8s %10s %9s%s\n", "row", "min eigval",
          "max eigval", "nonzero", "mean r~", "+/-",
          exact ? "   max |err|/max|exact|" : "");
  double pooled = 0, weight = 0;
  for (int64_t r = 0; r < s.rows; r++) {
    const double *v = s.values + r * s.cols;
    row_stats_t st = row_stats(v, s.cols);
    if (st.used > 0) { pooled += st.mean * (double)st.used; weight += (double)st.used; }
    if (r < 10 || r == s.rows - 1) print_row(out, r, v, s.cols, &st, exact);
    if (r == 9 && s.rows > 11) fprintf(out, "%6s\n", "...");
  }
  if (weight > 0)
    fprintf(out, "mean r~ over all spectra (nonzero levels): %.5f (reference: "
            "Poisson 0.38629, GOE 0.5307, GUE 0.5996)\n", pooled / weight);
  hr_spectra_free(&s);
  return HR_OK;
}

static int report(const hr_run_t *run, const double *exact) {
  const char *path = run->file.path;
  HR_CHECK(summary_print(path, exact, stdout));
  if (!run->with_stats) return HR_OK;
  fprintf(stdout, "\n");
  int rc = hr_stats_run(&run->stats, &path, 1, stdout);
  if (rc == HR_ERR_INPUT) {
    fprintf(stderr, "hessrmt: warning: no statistics for %s: %s\n", path,
            hr_error_message());
    rc = HR_OK;
  }
  return rc;
}

int hr_run_report(const hr_ctx_t *ctx, const hr_run_t *run, const double *exact) {
  int rc = HR_OK;
  if (ctx->rank == 0) {
    rc = report(run, exact);
    fflush(stdout);
  }
  return hr_agree(ctx->world, rc);
}
