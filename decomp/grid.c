/* BLACS grids and rank groups (see grid.h). */
#include "hessrmt/grid.h"

#include <stdlib.h>

#include "hessrmt/blacs.h"
#include "hessrmt/blockcyclic.h"
#include "hessrmt/error.h"

void hr_grid_shape_auto(int nranks, int *nprow, int *npcol) {
  int rows = 1;
  for (int r = 1; (int64_t)r * r <= nranks; r++)
    if (nranks % r == 0) rows = r;
  *nprow = rows;
  *npcol = nranks / rows;
}

int hr_grid_resolve_shape(int nranks, int req_rows, int req_cols, int *nprow,
                          int *npcol) {
  if (req_rows == 0 && req_cols == 0) {
    hr_grid_shape_auto(nranks, nprow, npcol);
    return HR_OK;
  }
  if ((int64_t)req_rows * req_cols != nranks)
    HR_FAIL(HR_ERR_INPUT,
            "--grid %dx%d needs %lld ranks per group but the group has %d; "
            "choose P x Q = %d, or --grid auto",
            req_rows, req_cols, (long long)req_rows * req_cols, nranks, nranks);
  *nprow = req_rows;
  *npcol = req_cols;
  return HR_OK;
}

int hr_grid_create(MPI_Comm comm, int nprow, int npcol, hr_grid_t *grid) {
  HR_MPI(MPI_Comm_dup(comm, &grid->comm));
  MPI_Comm_rank(grid->comm, &grid->rank);
  MPI_Comm_size(grid->comm, &grid->size);
  if (nprow * npcol != grid->size)
    HR_FAIL(HR_ERR_INTERNAL, "grid %dx%d does not match %d ranks", nprow,
            npcol, grid->size);
  grid->context = Csys2blacs_handle(grid->comm);
  grid->nprow = nprow;
  grid->npcol = npcol;
  Cblacs_gridinit(&grid->context, "C", nprow, npcol);
  int r, c;
  Cblacs_gridinfo(grid->context, &r, &c, &grid->myrow, &grid->mycol);
  if (r != nprow || c != npcol || grid->myrow < 0 || grid->mycol < 0)
    HR_FAIL(HR_ERR_INTERNAL, "BLACS made a %dx%d grid, asked for %dx%d", r, c,
            nprow, npcol);
  /* Which rank of comm sits where: BLACS decides, so ask rather than
   * assume an ordering. */
  grid->coords = malloc(2 * (size_t)grid->size * sizeof *grid->coords);
  if (!grid->coords) HR_FAIL(HR_ERR_MEMORY, "out of memory for grid coordinates");
  int mine[2] = {grid->myrow, grid->mycol};
  HR_MPI(MPI_Allgather(mine, 2, MPI_INT, grid->coords, 2, MPI_INT, grid->comm));
  return HR_OK;
}

void hr_grid_free(hr_grid_t *grid) {
  if (grid->comm == MPI_COMM_NULL) return;
  Cblacs_gridexit(grid->context);
  MPI_Comm_free(&grid->comm);
  free(grid->coords);
  grid->coords = NULL;
  grid->comm = MPI_COMM_NULL;
}

int hr_groups_split(MPI_Comm world, int count, hr_groups_t *groups) {
  int rank, size;
  MPI_Comm_rank(world, &rank);
  MPI_Comm_size(world, &size);
  if (count < 1 || count > size)
    HR_FAIL(HR_ERR_INPUT,
            "--groups %d needs at least %d ranks, but the job has %d; use "
            "--groups %d or fewer, or more ranks",
            count, count, size, size);
  /* Contiguous ranks per group keep a group on as few nodes as possible. */
  int color = -1;
  for (int g = 0; g < count && color < 0; g++) {
    int64_t first, n;
    hr_row_slice(size, g, count, &first, &n);
    if (rank >= first && rank < first + n) color = g;
  }
  groups->count = count;
  groups->index = color;
  HR_MPI(MPI_Comm_split(world, color, rank, &groups->comm));
  MPI_Comm_size(groups->comm, &groups->size);
  int group_rank;
  MPI_Comm_rank(groups->comm, &group_rank);
  HR_MPI(MPI_Comm_split(world, group_rank == 0 ? 0 : MPI_UNDEFINED, color,
                        &groups->leaders));
  return HR_OK;
}

void hr_groups_free(hr_groups_t *groups) {
  if (groups->comm != MPI_COMM_NULL) MPI_Comm_free(&groups->comm);
  if (groups->leaders != MPI_COMM_NULL) MPI_Comm_free(&groups->leaders);
  groups->comm = groups->leaders = MPI_COMM_NULL;
}

int64_t hr_groups_problem_count(int64_t total, int g, int count) {
  return total > g ? (total - g + count - 1) / count : 0;
}

int hr_comm_sum_doubles(MPI_Comm comm, double *x, int64_t n) {
  enum { PIECE = 1 << 28 };
  for (int64_t at = 0; at < n; at += PIECE) {
    int64_t len = n - at < PIECE ? n - at : PIECE;
    HR_MPI(MPI_Allreduce(MPI_IN_PLACE, x + at, (int)len, MPI_DOUBLE, MPI_SUM, comm));
  }
  return HR_OK;
}
