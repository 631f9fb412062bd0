/* Index arithmetic of the ScaLAPACK 2D block-cyclic layout, and contiguous
 * row slices of a dataset.  Pure functions (no MPI, 0-based indices, 64-bit
 * sizes) so they can be tested exhaustively and used for any global size.
 *
 * One dimension of length n is cut into blocks of nb; block b lives on
 * process (b + src) mod nprocs.  ScaLAPACK's numroc/indxg2p/indxg2l/indxl2g
 * compute the same with 32-bit ints and 1-based indices. */
#ifndef HESSRMT_BLOCKCYCLIC_H
#define HESSRMT_BLOCKCYCLIC_H

#include <stdint.h>

/* Number of the n global indices owned by process iproc (numroc). */
int64_t hr_bc_local_count(int64_t n, int64_t nb, int iproc, int nprocs);

/* Process that owns global index g (indxg2p, source process 0). */
int hr_bc_owner(int64_t g, int64_t nb, int nprocs);

/* Local index of global index g on its owner (indxg2l). */
int64_t hr_bc_global_to_local(int64_t g, int64_t nb, int nprocs);

/* Global index of local index l on process iproc (indxl2g). */
int64_t hr_bc_local_to_global(int64_t l, int64_t nb, int iproc, int nprocs);

/* Rows [*first, *first + *count) of n rows for part `part` of `parts`:
 * contiguous, sizes differ by at most one, earlier parts get the extra. */
void hr_row_slice(int64_t n, int part, int parts, int64_t *first,
                  int64_t *count);

#endif
