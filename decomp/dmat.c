/* Distributed block-cyclic matrices (see dmat.h). */
#include "hessrmt/dmat.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/blacs.h"
#include "hessrmt/blockcyclic.h"
#include "hessrmt/error.h"

static size_t element_size(hr_precision_t p) {
  return p == HR_PRECISION_DOUBLE ? sizeof(double) : sizeof(float);
}

int64_t hr_dmat_local_bytes(int64_t m, int64_t n, int64_t nb,
                            hr_precision_t precision, const hr_grid_t *grid) {
  int64_t rows = hr_bc_local_count(m, nb, grid->myrow, grid->nprow);
  int64_t cols = hr_bc_local_count(n, nb, grid->mycol, grid->npcol);
  if (rows < 1) rows = 1;
  return rows * cols * (int64_t)element_size(precision);
}

int hr_dmat_create(const hr_grid_t *grid, int64_t m, int64_t n, int64_t nb,
                   hr_precision_t precision, hr_dmat_t *a) {
  memset(a, 0, sizeof *a);
  if (m > INT_MAX || n > INT_MAX || nb > INT_MAX)
    HR_FAIL(HR_ERR_INPUT, "matrix %lld x %lld is too large for ScaLAPACK "
            "descriptors (32-bit)", (long long)m, (long long)n);
  a->grid = grid;
  a->m = m;
  a->n = n;
  a->nb = nb;
  a->precision = precision;
  a->local_rows = hr_bc_local_count(m, nb, grid->myrow, grid->nprow);
  a->local_cols = hr_bc_local_count(n, nb, grid->mycol, grid->npcol);
  a->lld = a->local_rows > 1 ? a->local_rows : 1;
  if (a->lld > INT_MAX)
    HR_FAIL(HR_ERR_INPUT, "local leading dimension %lld exceeds 32 bits",
            (long long)a->lld);

  int im = (int)m, in = (int)n, inb = (int)nb, zero = 0, ctx = grid->context;
  int lld = (int)a->lld, info = 0;
  descinit_(a->desc, &im, &in, &inb, &inb, &zero, &zero, &ctx, &lld, &info);
  if (info != 0)
    HR_FAIL(HR_ERR_INTERNAL, "descinit failed (info %d) for %lld x %lld, nb "
            "%lld", info, (long long)m, (long long)n, (long long)nb);

  size_t count = (size_t)a->lld * (size_t)(a->local_cols > 0 ? a->local_cols : 1);
  a->data = calloc(count, element_size(precision));
  if (!a->data)
    HR_FAIL(HR_ERR_MEMORY, "out of memory allocating the %lld x %lld local "
            "block (%zu bytes) of a %lld x %lld matrix", (long long)a->lld,
            (long long)a->local_cols, count * element_size(precision),
            (long long)m, (long long)n);
  return HR_OK;
}

void hr_dmat_free(hr_dmat_t *a) {
  free(a->data);
  a->data = NULL;
}

int64_t hr_dmat_global_row(const hr_dmat_t *a, int64_t li) {
  return hr_bc_local_to_global(li, a->nb, a->grid->myrow, a->grid->nprow);
}

int64_t hr_dmat_global_col(const hr_dmat_t *a, int64_t lj) {
  return hr_bc_local_to_global(lj, a->nb, a->grid->mycol, a->grid->npcol);
}

void hr_dmat_fill(hr_dmat_t *a, hr_entry_fn entry, void *ctx) {
  for (int64_t lj = 0; lj < a->local_cols; lj++) {
    int64_t j = hr_dmat_global_col(a, lj);
    size_t col = (size_t)lj * (size_t)a->lld;
    for (int64_t li = 0; li < a->local_rows; li++) {
      double v = entry(hr_dmat_global_row(a, li), j, ctx);
      if (a->precision == HR_PRECISION_DOUBLE)
        ((double *)a->data)[col + (size_t)li] = v;
      else
        ((float *)a->data)[col + (size_t)li] = (float)v;
    }
  }
}

int hr_dmat_trace(const hr_dmat_t *a, double *trace) {
  double local = 0.0;
  for (int64_t lj = 0; lj < a->local_cols; lj++) {
    int64_t j = hr_dmat_global_col(a, lj);
    if (hr_bc_owner(j, a->nb, a->grid->nprow) != a->grid->myrow) continue;
    local += hr_dmat_get(a, hr_bc_global_to_local(j, a->nb, a->grid->nprow), lj);
  }
  HR_MPI(MPI_Allreduce(&local, trace, 1, MPI_DOUBLE, MPI_SUM, a->grid->comm));
  return HR_OK;
}

int hr_dmat_max_abs(const hr_dmat_t *a, double *max_abs) {
  double local = 0.0;
  for (int64_t lj = 0; lj < a->local_cols; lj++)
    for (int64_t li = 0; li < a->local_rows; li++)
      local = fmax(local, fabs(hr_dmat_get(a, li, lj)));
  HR_MPI(MPI_Allreduce(&local, max_abs, 1, MPI_DOUBLE, MPI_MAX, a->grid->comm));
  return HR_OK;
}

void hr_dmat_scale(hr_dmat_t *a, double factor) {
  for (int64_t lj = 0; lj < a->local_cols; lj++) {
    size_t col = (size_t)lj * (size_t)a->lld;
    for (int64_t li = 0; li < a->local_rows; li++) {
      if (a->precision == HR_PRECISION_DOUBLE)
        ((double *)a->data)[col + (size_t)li] *= factor;
      else
        ((float *)a->data)[col + (size_t)li] *= (float)factor;
    }
  }
}

int hr_dmat_count_nonfinite(const hr_dmat_t *a, int64_t *count) {
  int64_t local = 0;
  for (int64_t lj = 0; lj < a->local_cols; lj++)
    for (int64_t li = 0; li < a->local_rows; li++)
      local += !isfinite(hr_dmat_get(a, li, lj));
  HR_MPI(MPI_Allreduce(&local, count, 1, MPI_INT64_T, MPI_SUM, a->grid->comm));
  return HR_OK;
}

/* ---- the matrix against its transpose, a row strip at a time ----------------
 * Strip s holds global rows [i0, i0 + w), w = nb * nprow, i0 = s * w.  T
 * (w x n, same grid and blocks) receives A(:, i0:i0+w)^T from pdtran; its
 * row block t then lives on the process row of A's row block i0/nb + t,
 * and column j on A's column j's owner, so T's local (lt, lj) is A's local
 * (s * nb + lt, lj): no further communication.  The workspace is nb local
 * rows of A, not a copy of it. */
typedef void (*strip_fn)(hr_dmat_t *a, const hr_dmat_t *t, int64_t s,
                         void *ctx);

static int for_each_strip(hr_dmat_t *a, strip_fn fn, void *ctx) {
  const hr_grid_t *g = a->grid;
  int64_t w = a->nb * g->nprow;
  hr_dmat_t t;
  int rc = hr_dmat_create(g, w < a->n ? w : a->n, a->n, a->nb, a->precision, &t);
  HR_CHECK(hr_agree(g->comm, rc));
  int in = (int)a->n, one = 1;
  for (int64_t s = 0; s * w < a->n; s++) {
    int64_t i0 = s * w;
    int rows = (int)(a->n - i0 < w ? a->n - i0 : w), ja = (int)i0 + 1;
    if (a->precision == HR_PRECISION_DOUBLE) {
      double alpha = 1.0, beta = 0.0;
      pdtran_(&rows, &in, &alpha, a->data, &one, &ja, a->desc, &beta, t.data,
              &one, &one, t.desc);
    } else {
      float alpha = 1.0f, beta = 0.0f;
      pstran_(&rows, &in, &alpha, a->data, &one, &ja, a->desc, &beta, t.data,
              &one, &one, t.desc);
    }
    fn(a, &t, s, ctx);
  }
  hr_dmat_free(&t);
  return HR_OK;
}

/* Local rows of strip s on this rank: [*first, *first + *count). */
static void strip_rows(const hr_dmat_t *a, const hr_dmat_t *t, int64_t s,
                       int64_t *first, int64_t *count) {
  *first = s * a->nb;
  int64_t left = a->local_rows - *first;
  *count = left < 0 ? 0 : left < t->local_rows ? left : t->local_rows;
}

static void strip_asymmetry(hr_dmat_t *a, const hr_dmat_t *t, int64_t s,
                            void *ctx) {
  double *worst = ctx;
  int64_t first, count;
  strip_rows(a, t, s, &first, &count);
  for (int64_t lj = 0; lj < a->local_cols; lj++)
    for (int64_t lt = 0; lt < count; lt++)
      *worst = fmax(*worst, fabs(hr_dmat_get(a, first + lt, lj) -
                                 hr_dmat_get(t, lt, lj)));
}

/* Mirror entries (i, j) from (j, i): those above the diagonal (split < 0),
 * or those of the corner i >= split > j. */
static void strip_mirror(hr_dmat_t *a, const hr_dmat_t *t, int64_t s,
                         void *ctx) {
  int64_t split = *(const int64_t *)ctx, first, count;
  strip_rows(a, t, s, &first, &count);
  for (int64_t lj = 0; lj < a->local_cols; lj++) {
    int64_t j = hr_dmat_global_col(a, lj);
    if (split >= 0 && j >= split) continue;
    for (int64_t lt = 0; lt < count; lt++) {
      int64_t i = hr_dmat_global_row(a, first + lt);
      if (split < 0 ? i >= j : i < split) continue;
      size_t k = (size_t)lj * (size_t)a->lld + (size_t)(first + lt);
      size_t kt = (size_t)lj * (size_t)t->lld + (size_t)lt;
      if (a->precision == HR_PRECISION_DOUBLE)
        ((double *)a->data)[k] = ((const double *)t->data)[kt];
      else
        ((float *)a->data)[k] = ((const float *)t->data)[kt];
    }
  }
}

int hr_dmat_asymmetry(hr_dmat_t *a, double *max_abs) {
  double local = 0.0;
  HR_CHECK(for_each_strip(a, strip_asymmetry, &local));
  HR_MPI(MPI_Allreduce(&local, max_abs, 1, MPI_DOUBLE, MPI_MAX, a->grid->comm));
  return HR_OK;
}

int hr_dmat_symmetrize_lower(hr_dmat_t *a) {
  int64_t split = -1;
  return for_each_strip(a, strip_mirror, &split);
}

int hr_dmat_mirror_corner(hr_dmat_t *a, int64_t split) {
  return for_each_strip(a, strip_mirror, &split);
}

void hr_dmat_symv_lower(const hr_dmat_t *a, const double *V, int64_t k,
                        double *Y) {
  int64_t n = a->n;
  for (int64_t lj = 0; lj < a->local_cols; lj++) {
    int64_t j = hr_dmat_global_col(a, lj);
    for (int64_t li = 0; li < a->local_rows; li++) {
      int64_t i = hr_dmat_global_row(a, li);
      if (i < j) continue;
      double v = hr_dmat_get(a, li, lj);
      for (int64_t d = 0; d < k; d++) {
        Y[d * n + i] += v * V[d * n + j];
        if (i > j) Y[d * n + j] += v * V[d * n + i];
      }
    }
  }
}

int hr_dmat_gather_columns(const hr_dmat_t *a, const int64_t *cols, int64_t k,
                           double *out) {
  int64_t m = a->m;
  memset(out, 0, (size_t)(m * k) * sizeof *out);
  for (int64_t d = 0; d < k; d++) {
    int64_t j = cols[d];
    if (hr_bc_owner(j, a->nb, a->grid->npcol) != a->grid->mycol) continue;
    int64_t lj = hr_bc_global_to_local(j, a->nb, a->grid->npcol);
    for (int64_t li = 0; li < a->local_rows; li++)
      out[d * m + hr_dmat_global_row(a, li)] = hr_dmat_get(a, li, lj);
  }
  /* Each entry has one owner, the others hold zero: a sum gathers it. */
  return hr_agree(a->grid->comm, hr_comm_sum_doubles(a->grid->comm, out, m * k));
}
