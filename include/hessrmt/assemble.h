/* Assembly of a distributed symmetric matrix from per-rank partial sums.
 *
 * Each rank holds a slice of the data and can compute its partial
 * contribution to any set of columns (a Hessian column is a sum over
 * samples).  hr_assemble_panels walks the columns in panels of
 * nb * npcol — one block for each process column — asks every rank for its
 * partial N x width panel, and sums the panels into their owners' local
 * blocks with one MPI_Reduce_scatter per panel, so no rank ever holds more
 * than N x width of the matrix beyond its own part. */
#ifndef HESSRMT_ASSEMBLE_H
#define HESSRMT_ASSEMBLE_H

#include <stdint.h>

#include "hessrmt/dmat.h"

/* Write this rank's partial sum for global columns [col0, col0 + ncols)
 * into panel (N x ncols, column-major, leading dimension N), overwriting. */
typedef int (*hr_panel_fn)(void *ctx, int64_t col0, int64_t ncols,
                           double *panel);

/* Fill square H.  Collective over H->grid->comm; failures (in fn too) are
 * agreed on. */
int hr_assemble_panels(hr_dmat_t *H, hr_panel_fn fn, void *ctx);

/* Bytes of the panel buffers hr_assemble_panels allocates per rank. */
int64_t hr_assemble_workspace_bytes(int64_t n, int64_t nb, int npcol);

#endif
