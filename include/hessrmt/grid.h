/* BLACS process grids and rank groups.
 *
 * A grid is a communicator plus a BLACS context arranged as nprow x npcol
 * (column-major rank order, as in ELPA's own tests).  Rank groups split the
 * world into G disjoint communicators, each with its own grid, so many
 * independent problems (ensemble members, mini-batch Hessians) are solved
 * side by side: problem k goes to group k mod G, so P ranks finish K
 * problems in about K/G rounds. */
#ifndef HESSRMT_GRID_H
#define HESSRMT_GRID_H

#include <mpi.h>
#include <stdint.h>

typedef struct {
  MPI_Comm comm;      /* the ranks of this grid (owned: freed with it) */
  int rank, size;     /* in comm */
  int context;        /* BLACS context */
  int nprow, npcol;   /* grid shape */
  int myrow, mycol;   /* my coordinates */
  int *coords;        /* (row, col) of each rank of comm, 2 * size ints */
} hr_grid_t;

typedef struct {
  int count;          /* number of groups G */
  int index;          /* my group, 0 <= index < G */
  int size;           /* ranks in my group */
  MPI_Comm comm;      /* my group (owned) */
  MPI_Comm leaders;   /* rank 0 of each group, in group order; MPI_COMM_NULL
                         on other ranks (owned) */
} hr_groups_t;

/* The most nearly square factorisation nprow x npcol = nranks with
 * nprow <= npcol (ELPA and ScaLAPACK run best on square grids). */
void hr_grid_shape_auto(int nranks, int *nprow, int *npcol);

/* Check a requested shape against the rank count (0 x 0 = auto) and
 * resolve it.  Not collective. */
int hr_grid_resolve_shape(int nranks, int req_rows, int req_cols, int *nprow,
                          int *npcol);

/* Create a grid over a duplicate of comm.  Collective over comm. */
int hr_grid_create(MPI_Comm comm, int nprow, int npcol, hr_grid_t *grid);
void hr_grid_free(hr_grid_t *grid);

/* Split world into `count` groups of contiguous ranks whose sizes differ by
 * at most one.  Collective over world. */
int hr_groups_split(MPI_Comm world, int count, hr_groups_t *groups);
void hr_groups_free(hr_groups_t *groups);

/* Number of problems of `total` that group g solves (k = g, g+G, ...). */
int64_t hr_groups_problem_count(int64_t total, int g, int count);

/* x (n doubles) summed over comm in place, in pieces an int can count.
 * Collective; HR_ERR_MPI (not agreed) if a reduction fails. */
int hr_comm_sum_doubles(MPI_Comm comm, double *x, int64_t n);

#endif
