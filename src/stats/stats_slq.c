/* How far the stochastic Lanczos quadrature density is from the exact
 * spectrum (see hr_stats_slq_t in stats.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/rmt.h"
#include "hessrmt/stats.h"
#include "hessrmt/stats_slq.h"

typedef struct {
  double x, w;
} atom_t;

static int by_x(const void *a, const void *b) {
  double x = ((const atom_t *)a)->x, y = ((const atom_t *)b)->x;
  return (x > y) - (x < y);
}

/* W1 and KS between the exact measure (n levels, ascending, 1/n each) and
 * the estimate (m atoms, weights normalised to 1). */
static void distances(const double *exact, int64_t n, atom_t *atoms, int64_t m,
                      double *w1, double *ks) {
  qsort(atoms, (size_t)m, sizeof *atoms, by_x);
  double total = 0;
  for (int64_t j = 0; j < m; j++) total += atoms[j].w;
  double Fa = 0, Fb = 0, area = 0, gap = 0, last = 0;
  int64_t i = 0, j = 0;
  int started = 0;
  while (i < n || j < m) {
    double x = j >= m || (i < n && exact[i] <= atoms[j].x) ? exact[i] : atoms[j].x;
    if (started) area += fabs(Fa - Fb) * (x - last);
    while (i < n && exact[i] <= x) { Fa += 1.0 / (double)n; i++; }
    while (j < m && atoms[j].x <= x) { Fb += atoms[j].w / total; j++; }
    gap = fmax(gap, fabs(Fa - Fb));
    last = x;
    started = 1;
  }
  double range = exact[n - 1] - exact[0];
  *w1 = range > 0 ? area / range : area;
  *ks = gap;
}

/* The estimate of row r: its finite nodes with their weights. */
static int64_t row_atoms(const hr_spectra_t *sp, int64_t r, atom_t *atoms) {
  int64_t m = 0;
  for (int64_t j = 0; j < sp->slq_cols; j++) {
    double x = sp->slq_nodes[r * sp->slq_cols + j];
    double w = sp->slq_weights[r * sp->slq_cols + j];
    if (isfinite(x) && w > 0) atoms[m++] = (atom_t){x, w};
  }
  return m;
}

static int keep_first(const hr_spectra_t *sp, int64_t r, const double *exact,
                      const atom_t *atoms, int64_t m, hr_stats_slq_t *q) {
  q->exact = malloc((size_t)sp->cols * sizeof *q->exact);
  q->nodes = malloc((size_t)(m + 1) * sizeof *q->nodes);
  q->weights = malloc((size_t)(m + 1) * sizeof *q->weights);
  if (!q->exact || !q->nodes || !q->weights)
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the SLQ figure");
  memcpy(q->exact, exact, (size_t)sp->cols * sizeof *exact);
  for (int64_t j = 0; j < m; j++) {
    q->nodes[j] = atoms[j].x;
    q->weights[j] = atoms[j].w / (double)q->probes;
  }
  q->n_exact = sp->cols;
  q->n_nodes = m;
  double range = exact[sp->cols - 1] - exact[0];
  q->sigma = sqrt(1e-5 * fmax(1.0, range));
  (void)r;
  return HR_OK;
}


int hr_stats_slq(const hr_spectra_t *sp, hr_stats_slq_t *q) {
  memset(q, 0, sizeof *q);
  if (!sp->slq_nodes || sp->cols < 2) return HR_OK;
  q->present = 1;
  q->probes = sp->slq_probes;
  q->steps = sp->slq_cols / (sp->slq_probes ? sp->slq_probes : 1);
  atom_t *atoms = malloc((size_t)(sp->slq_cols + 1) * sizeof *atoms);
  double *exact = malloc((size_t)sp->cols * sizeof *exact);
  int rc = atoms && exact ? HR_OK
      : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                     "out of memory for the SLQ distances");
  for (int64_t r = 0; rc == HR_OK && r < sp->rows; r++) {
    if (!sp->done[r]) continue;
    int64_t m = row_atoms(sp, r, atoms);
    if (m == 0) continue;
    memcpy(exact, sp->values + r * sp->cols, (size_t)sp->cols * sizeof *exact);
    hr_sort_doubles(exact, sp->cols);
    double w1, ks;
    distances(exact, sp->cols, atoms, m, &w1, &ks);
    if (q->spectra == 0) rc = keep_first(sp, r, exact, atoms, m, q);
    q->w1_mean += w1;
    q->ks_mean += ks;
    q->w1_max = fmax(q->w1_max, w1);
    q->ks_max = fmax(q->ks_max, ks);
    q->spectra++;
  }
  if (q->spectra) {
    q->w1_mean /= (double)q->spectra;
    q->ks_mean /= (double)q->spectra;
  }
  free(atoms);
  free(exact);
  return rc;
}

void hr_stats_slq_free(hr_stats_slq_t *q) {
  free(q->exact);
  free(q->nodes);
  free(q->weights);
  q->exact = q->nodes = q->weights = NULL;
}

double hr_stats_slq_density(const hr_stats_slq_t *q, double x) {
  double sum = 0, s2 = q->sigma * q->sigma;
  for (int64_t j = 0; j < q->n_nodes; j++) {
    double d = x - q->nodes[j];
    sum += q->weights[j] * exp(-d * d / (2 * s2));
  }
  return sum / sqrt(2 * M_PI * s2);
}
