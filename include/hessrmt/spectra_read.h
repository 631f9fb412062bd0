/* Reading spectra files serially (rank 0, or without mpirun): ours, or the
 * HDF5 files the paper's scripts wrote (dataset hessian_evals, one spectrum
 * per row). */
#ifndef HESSRMT_SPECTRA_READ_H
#define HESSRMT_SPECTRA_READ_H

#include <stdint.h>

typedef struct {
  int64_t rows, cols;
  double *values;          /* rows x cols, row-major */
  unsigned char *done;     /* rows; all 1 when the file has no rows_done */
  double *rank;            /* rows: checks/rank (numerical rank); NULL if absent */
  /* hessian --slq: each row's Lanczos nodes and weights (rows x slq_cols,
   * NaN nodes where a probe stopped early); NULL if absent */
  double *slq_nodes, *slq_weights;
  int64_t slq_cols, slq_probes;
  /* --eigenvectors: evec_count = 2K vectors of length evec_n per row in
   * hessian_evecs (read a row at a time: hr_spectra_read_vectors); their
   * residuals and, from hessian, overlaps (rows x 2K; NULL if absent) */
  int64_t evec_count, evec_n;
  double *evec_residual, *evec_overlap_gradient, *evec_overlap_classes;
  /* What the data are, from our files' attributes; "" when absent (files
   * written by other programs). */
  char command[32];        /* "hessian", "ensemble" */
  char precision[16];      /* options/precision: "double", "single" */
  int stored_single;       /* the dataset is float32 */
  char model[128], part[32], method[32], kind[32];
} hr_spectra_t;

/* Load dataset `dataset` (2-D, or 1-D as one row) of path.  Not
 * collective. */
int hr_spectra_load(const char *path, const char *dataset, hr_spectra_t *s);
void hr_spectra_free(hr_spectra_t *s);

/* Row `row` of path's hessian_evecs (count x n doubles, vector after
 * vector).  Not collective. */
int hr_spectra_read_vectors(const char *path, int64_t row, int64_t count,
                            int64_t n, double *out);

#endif
