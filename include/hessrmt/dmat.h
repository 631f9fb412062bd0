/* A dense matrix in 2D block-cyclic layout on a BLACS grid, stored in
 * double or single precision (column-major local blocks, ScaLAPACK
 * descriptor).  Local sizes and offsets are 64-bit; they become ints only in
 * the descriptor, after a check. */
#ifndef HESSRMT_DMAT_H
#define HESSRMT_DMAT_H

#include <stddef.h>
#include <stdint.h>

#include "hessrmt/grid.h"
#include "hessrmt/precision.h"

typedef struct {
  const hr_grid_t *grid;
  int64_t m, n;                /* global rows, columns */
  int64_t nb;                  /* square blocks nb x nb */
  int64_t local_rows, local_cols, lld;
  hr_precision_t precision;
  int desc[9];                 /* ScaLAPACK descriptor */
  void *data;                  /* double* or float*, lld * local_cols */
} hr_dmat_t;

/* Bytes of one rank's local part of an m x n matrix, for estimates. */
int64_t hr_dmat_local_bytes(int64_t m, int64_t n, int64_t nb,
                            hr_precision_t precision, const hr_grid_t *grid);

/* Allocate (zeroed).  Not collective: allocation failure must be agreed on
 * by the caller. */
int hr_dmat_create(const hr_grid_t *grid, int64_t m, int64_t n, int64_t nb,
                   hr_precision_t precision, hr_dmat_t *a);
void hr_dmat_free(hr_dmat_t *a);

/* Set every local element to entry(i, j, ctx) of its global (i, j). */
typedef double (*hr_entry_fn)(int64_t i, int64_t j, void *ctx);
void hr_dmat_fill(hr_dmat_t *a, hr_entry_fn entry, void *ctx);

/* Element access by local position. */
static inline double hr_dmat_get(const hr_dmat_t *a, int64_t li, int64_t lj) {
  size_t k = (size_t)lj * (size_t)a->lld + (size_t)li;
  return a->precision == HR_PRECISION_DOUBLE ? ((const double *)a->data)[k]
                                              : ((const float *)a->data)[k];
}

/* Global index of local row li / local column lj. */
int64_t hr_dmat_global_row(const hr_dmat_t *a, int64_t li);
int64_t hr_dmat_global_col(const hr_dmat_t *a, int64_t lj);

/* Trace of a square matrix, on every rank of the grid.  Collective. */
int hr_dmat_trace(const hr_dmat_t *a, double *trace);

/* Multiply every local entry by factor (no communication). */
void hr_dmat_scale(hr_dmat_t *a, double factor);

/* Number of NaN or infinite entries over the whole matrix (collective). */
int hr_dmat_count_nonfinite(const hr_dmat_t *a, int64_t *count);

/* max |A - A^T| over all elements, on every rank.  Collective; works a
 * row strip at a time (pdtran), with nb local rows of workspace. */
int hr_dmat_asymmetry(hr_dmat_t *a, double *max_abs);

/* Copy the lower triangle onto the upper one, for solvers that read both
 * (ELPA); same workspace.  Collective. */
int hr_dmat_symmetrize_lower(hr_dmat_t *a);

/* Fill the lower-left corner (rows >= split, columns < split) from the
 * upper-right one; same workspace.  Collective. */
int hr_dmat_mirror_corner(hr_dmat_t *a, int64_t split);

/* Y += (this rank's share of) S V for the symmetric S whose lower
 * triangle A holds, k columns (V, Y: n x k, column-major, whole on every
 * rank); summing Y over the grid gives S V.  No communication. */
void hr_dmat_symv_lower(const hr_dmat_t *a, const double *V, int64_t k,
                        double *Y);

/* Global columns cols[0..k) of A, whole (m x k, column-major), on every
 * rank of the grid.  Collective; agreed. */
int hr_dmat_gather_columns(const hr_dmat_t *a, const int64_t *cols, int64_t k,
                           double *out);

/* max |A| over all elements, on every rank.  Collective. */
int hr_dmat_max_abs(const hr_dmat_t *a, double *max_abs);

#endif
