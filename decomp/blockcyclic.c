/* Block-cyclic index maps and row slices (see blockcyclic.h). */
#include "hessrmt/blockcyclic.h"

int64_t hr_bc_local_count(int64_t n, int64_t nb, int iproc, int nprocs) {
  int64_t nblocks = n / nb;               /* complete blocks */
  int64_t count = (nblocks / nprocs) * nb; /* whole rounds of the cycle */
  int64_t extra = nblocks % nprocs;        /* complete blocks left over */
  if (iproc < extra)
    count += nb;
  else if (iproc == extra)
    count += n % nb;                       /* the final partial block */
  return count;
}

int hr_bc_owner(int64_t g, int64_t nb, int nprocs) {
  return (int)((g / nb) % nprocs);
}

int64_t hr_bc_global_to_local(int64_t g, int64_t nb, int nprocs) {
  return (g / (nb * nprocs)) * nb + g % nb;
}

int64_t hr_bc_local_to_global(int64_t l, int64_t nb, int iproc, int nprocs) {
  return ((l / nb) * nprocs + iproc) * nb + l % nb;
}

void hr_row_slice(int64_t n, int part, int parts, int64_t *first,
                  int64_t *count) {
  int64_t base = n / parts, extra = n % parts;
  *count = base + (part < extra ? 1 : 0);
  *first = part * base + (part < extra ? part : extra);
}
