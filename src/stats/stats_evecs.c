/* Eigenvector statistics (see stats_evecs.h). */
#include "hessrmt/stats_evecs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_sf_gamma.h>

#include "hessrmt/error.h"
#include "hessrmt/rmt.h"

/* At most this many pooled components per end go into the KS test: a
 * stride through them beyond it (the distance's noise is already ~3e-4). */
enum { PT_MAX_COMPONENTS = 1 << 22 };

/* The Porter-Thomas variable y = N v_i^2 of a vector uniform on the unit
 * sphere of R^N: v_i^2 is Beta(1/2, (N-1)/2), so y -> chi-squared with
 * one degree of freedom as N grows.  The exact law, so that small N is not
 * mistaken for a deviation, and squared, so that the sign convention of
 * the stored vectors (largest component positive) does not enter. */
static double porter_thomas_cdf(double y, void *np) {
  double n = *(const double *)np, x = y / n;
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return gsl_sf_beta_inc(0.5, 0.5 * (n - 1), x);
}

typedef struct {
  double *pool[HR_EVEC_ENDS];  /* N v_i^2, strided */
  int64_t pooled[HR_EVEC_ENDS], stride;
  double *ipr, *eigenvalue;    /* per vector, summed over the spectra */
  double ipr_sum[HR_EVEC_ENDS], ipr_sq[HR_EVEC_ENDS];
  int64_t ipr_count[HR_EVEC_ENDS];
} accum_t;

/* One spectrum's 2K vectors V (vector after vector) with its eigenvalues
 * `evals` (ascending, n) and its residuals res (2K or NULL). */
static void add_row(hr_stats_evecs_t *e, accum_t *a, const double *V,
                    const double *evals, const double *res) {
  int64_t n = e->n, k2 = 2 * e->k;
  double scale = fmax(fabs(evals[0]), fabs(evals[n - 1]));
  for (int64_t d = 0; d < k2; d++) {
    const double *v = V + d * n;
    int end = d >= e->k;
    double ipr = 0;
    for (int64_t i = 0; i < n; i++) ipr += v[i] * v[i] * v[i] * v[i];
    a->ipr[d] += ipr;
    a->eigenvalue[d] += evals[d < e->k ? d : n - k2 + d];
    a->ipr_sum[end] += ipr;
    a->ipr_sq[end] += ipr * ipr;
    a->ipr_count[end]++;
    for (int64_t i = 0; i < n; i += a->stride)
      if (a->pooled[end] < PT_MAX_COMPONENTS)
        a->pool[end][a->pooled[end]++] = (double)n * v[i] * v[i];
    if (res && scale > 0) e->residual_max = fmax(e->residual_max, res[d] / scale);
    for (int64_t q = 0; q <= d; q++) {
      double dot = 0;
      for (int64_t i = 0; i < n; i++) dot += v[i] * V[q * n + i];
      e->orthogonality_max = fmax(e->orthogonality_max, fabs(dot - (q == d)));
    }
  }
}

/* Each end's verdict: Porter-Thomas when the KS distance is within its 1%
 * critical value (or 0.02: with millions of components any real vector
 * would fail a pure significance test) and the IPR within 20% of
 * 3/(N+2); localised when the IPR is more than twice it. */
static void conclude(hr_stats_evecs_t *e, accum_t *a) {
  for (int end = 0; end < HR_EVEC_ENDS; end++) {
    int64_t m = a->ipr_count[end];
    double mean = m ? a->ipr_sum[end] / (double)m : NAN;
    double var = m > 1 ? (a->ipr_sq[end] - m * mean * mean) / (double)(m - 1) : NAN;
    e->end[end].ipr_mean = mean;
    e->end[end].ipr_sem = m > 1 ? sqrt(fmax(var, 0) / (double)m) : NAN;
    e->end[end].ipr_ratio = mean / e->ipr_goe;
    int64_t c = a->pooled[end];
    e->end[end].components = c;
    double n = (double)e->n;
    e->end[end].pt_ks = c ? hr_ks_distance(a->pool[end], c, porter_thomas_cdf, &n) : NAN;
    e->end[end].pt_p = c ? hr_ks_pvalue(e->end[end].pt_ks, c) : NAN;
    e->end[end].pt_critical = c ? 1.63 / sqrt((double)c) : NAN;
    double ratio = e->end[end].ipr_ratio;
    int porter_thomas = e->end[end].pt_ks <= fmax(0.02, e->end[end].pt_critical);
    e->end[end].verdict = ratio > 2.0                       ? "localised"
                          : porter_thomas && fabs(ratio - 1) < 0.2 ? "Porter-Thomas (GOE-like)"
                                                               : "not Porter-Thomas";
  }
}

static double row_mean_or_nan(const double *m, const unsigned char *done,
                              int64_t rows, int64_t cols, int64_t d) {
  if (!m) return NAN;
  double sum = 0;
  int64_t used = 0;
  for (int64_t r = 0; r < rows; r++)
    if (done[r] && !isnan(m[r * cols + d])) { sum += m[r * cols + d]; used++; }
  return used ? sum / (double)used : NAN;
}

/* The vectors kept for the report: all 2K, or the HR_EVEC_SHOWN / 2
 * nearest each end of the spectrum. */
static void keep_shown(hr_stats_evecs_t *e, const accum_t *a,
                       const hr_spectra_t *sp) {
  int64_t k2 = 2 * e->k, half = HR_EVEC_SHOWN / 2;
  double spectra = (double)(e->spectra ? e->spectra : 1);
  e->shown = 0;
  for (int64_t d = 0; d < k2; d++) {
    if (k2 > HR_EVEC_SHOWN && d >= half && d < k2 - half) continue;
    int i = e->shown++;
    e->index[i] = d < e->k ? d : e->n - k2 + d;
    e->eigenvalue[i] = a->eigenvalue[d] / spectra;
    e->ipr[i] = a->ipr[d] / spectra;
    e->overlap_gradient[i] = row_mean_or_nan(sp->evec_overlap_gradient, sp->done,
                                             sp->rows, k2, d);
    e->overlap_classes[i] = row_mean_or_nan(sp->evec_overlap_classes, sp->done,
                                            sp->rows, k2, d);
  }
}

int hr_stats_evecs(const char *path, const hr_spectra_t *sp,
                   hr_stats_evecs_t *e) {
  memset(e, 0, sizeof *e);
  if (!sp->evec_count) return HR_OK;
  e->present = 1;
  e->k = sp->evec_count / 2;
  e->n = sp->evec_n;
  e->ipr_goe = 3.0 / ((double)e->n + 2.0);
  int64_t k2 = sp->evec_count, n = e->n, rows_done = 0;
  for (int64_t r = 0; r < sp->rows; r++) rows_done += sp->done[r];
  accum_t a;
  memset(&a, 0, sizeof a);
  int64_t per_end = e->k * n * rows_done;
  a.stride = per_end > PT_MAX_COMPONENTS
                 ? (per_end + PT_MAX_COMPONENTS - 1) / PT_MAX_COMPONENTS : 1;
  int64_t pool = per_end < PT_MAX_COMPONENTS ? per_end : PT_MAX_COMPONENTS;
  double *V = malloc((size_t)(k2 * n) * sizeof *V);
  a.ipr = calloc((size_t)k2, sizeof *a.ipr);
  a.eigenvalue = calloc((size_t)k2, sizeof *a.eigenvalue);
  for (int end = 0; end < HR_EVEC_ENDS; end++)
    a.pool[end] = malloc((size_t)(pool + 1) * sizeof(double));
  int rc = V && a.ipr && a.eigenvalue && a.pool[0] && a.pool[1]
               ? HR_OK
               : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                              "out of memory for %lld eigenvectors of order %lld",
                              (long long)k2, (long long)n);
  for (int64_t r = 0; r < sp->rows && rc == HR_OK; r++) {
    if (!sp->done[r]) continue;
    rc = hr_spectra_read_vectors(path, r, k2, n, V);
    if (rc == HR_OK)
      add_row(e, &a, V, sp->values + r * sp->cols,
              sp->evec_residual ? sp->evec_residual + r * k2 : NULL);
    e->spectra++;
  }
  if (rc == HR_OK) {
    keep_shown(e, &a, sp);
    conclude(e, &a);
  }
  free(V);
  free(a.ipr);
  free(a.eigenvalue);
  for (int end = 0; end < HR_EVEC_ENDS; end++) free(a.pool[end]);
  return rc;
}
