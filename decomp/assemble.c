/* Panel-by-panel assembly with reduce-scatter (see assemble.h). */
#include "hessrmt/assemble.h"

#include <stdlib.h>
#include <string.h>

#include "hessrmt/blockcyclic.h"
#include "hessrmt/error.h"

int64_t hr_assemble_workspace_bytes(int64_t n, int64_t nb, int npcol) {
  /* panel, packed send buffer, received piece */
  return (2 * n * nb * npcol + n * nb) * (int64_t)sizeof(double);
}

typedef struct {
  double *panel, *send, *recv;
  int *counts;
} buffers_t;

static void free_buffers(buffers_t *b) {
  free(b->panel); free(b->send); free(b->recv); free(b->counts);
}

static int alloc_buffers(const hr_dmat_t *H, int64_t width, buffers_t *b) {
  size_t n = (size_t)H->n;
  b->panel = malloc(n * (size_t)width * sizeof(double));
  b->send = malloc(n * (size_t)width * sizeof(double));
  b->recv = malloc((n * (size_t)H->nb + 1) * sizeof(double));
  b->counts = malloc((size_t)H->grid->size * sizeof(int));
  int rc = HR_OK;
  if (!b->panel || !b->send || !b->recv || !b->counts)
    rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                      "out of memory for assembly panels (%lld bytes)",
                      (long long)hr_assemble_workspace_bytes(
                          H->n, H->nb, H->grid->npcol));
  return hr_agree(H->grid->comm, rc);
}

/* Columns of process column q inside the panel starting at col0. */
static void block_of(const hr_dmat_t *H, int64_t ncols, int q, int64_t *first,
                     int64_t *count) {
  int64_t start = (int64_t)q * H->nb;
  *first = start;
  *count = start >= ncols ? 0 : (ncols - start < H->nb ? ncols - start : H->nb);
}

/* Lay the panel out in destination-rank order: rank r gets its local rows
 * of the columns its process column owns. */
static void pack(const hr_dmat_t *H, int64_t ncols, buffers_t *b) {
  const hr_grid_t *g = H->grid;
  size_t off = 0;
  for (int r = 0; r < g->size; r++) {
    int pr = g->coords[2 * r], pc = g->coords[2 * r + 1];
    int64_t first, count;
    block_of(H, ncols, pc, &first, &count);
    int64_t rows = hr_bc_local_count(H->n, H->nb, pr, g->nprow);
    for (int64_t t = 0; t < count; t++) {
      const double *col = b->panel + (size_t)(first + t) * (size_t)H->n;
      for (int64_t li = 0; li < rows; li++)
        b->send[off++] = col[hr_bc_local_to_global(li, H->nb, pr, g->nprow)];
    }
    b->counts[r] = (int)(rows * count);
  }
}

static void unpack(hr_dmat_t *H, int64_t col0, int64_t ncols,
                   const buffers_t *b) {
  int64_t first, count;
  block_of(H, ncols, H->grid->mycol, &first, &count);
  if (count == 0) return;
  int64_t lc = hr_bc_global_to_local(col0 + first, H->nb, H->grid->npcol);
  for (int64_t t = 0; t < count; t++)
    for (int64_t li = 0; li < H->local_rows; li++) {
      size_t k = (size_t)(lc + t) * (size_t)H->lld + (size_t)li;
      double v = b->recv[t * H->local_rows + li];
      if (H->precision == HR_PRECISION_DOUBLE) ((double *)H->data)[k] = v;
      else ((float *)H->data)[k] = (float)v;
    }
}

int hr_assemble_panels(hr_dmat_t *H, hr_panel_fn fn, void *ctx) {
  MPI_Comm comm = H->grid->comm;
  int64_t width = H->nb * H->grid->npcol;
  buffers_t b = {0};
  HR_CHECK(alloc_buffers(H, width, &b));
  int rc = HR_OK;
  /* Panels start at multiples of nb * npcol, so block q of a panel always
   * belongs to process column q. */
  for (int64_t col0 = 0; col0 < H->n && rc == HR_OK; col0 += width) {
    int64_t ncols = H->n - col0 < width ? H->n - col0 : width;
    rc = hr_agree(comm, fn(ctx, col0, ncols, b.panel));
    if (rc != HR_OK) break;
    pack(H, ncols, &b);
    int mpi = MPI_Reduce_scatter(b.send, b.recv, b.counts, MPI_DOUBLE, MPI_SUM,
                                 comm);
    if (mpi != MPI_SUCCESS)
      rc = hr_error_set(HR_ERR_MPI, __FILE__, __LINE__, __func__,
                        "MPI_Reduce_scatter failed during assembly");
    else
      unpack(H, col0, ncols, &b);
  }
  free_buffers(&b);
  return rc;
}
