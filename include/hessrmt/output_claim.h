/* A run owns the outputs it writes.  Two runs given the same -o (a job
 * array whose tasks all write one file, say) would otherwise both write
 * PATH.partial and rename each other's work.  So before any work a run
 * claims each of its outputs: rank 0 holds an fcntl write lock on
 * PATH.lock, which also names the run (host, pid, start time, command).
 * fcntl locks work on NFS and on the cluster file systems that support
 * POSIX locks, and the kernel (or the NFS server, once the client is gone)
 * releases them when the process dies: a lock left by a killed run never
 * blocks the next one, and --resume of a dead run's partial proceeds.  The
 * lock is on its own file because a POSIX lock is dropped when its process
 * closes any descriptor of the locked file, as HDF5 and MPI-IO do. */
#ifndef HESSRMT_OUTPUT_CLAIM_H
#define HESSRMT_OUTPUT_CLAIM_H

#include <mpi.h>

#define HR_MAX_CLAIMS 6

typedef struct {
  int count;
  int fd[HR_MAX_CLAIMS];            /* rank 0; -1 where not held */
  char lock[HR_MAX_CLAIMS][4200];   /* PATH.lock */
} hr_claims_t;

/* Claims each of paths[0..n) (empty strings and repeats are skipped).  A
 * path another live run holds is refused, on every rank, naming the path
 * and that run.  Where the file system has no locks the run goes on, with
 * a warning that a second run would not be noticed.  Collective; agreed. */
int hr_claims_take(MPI_Comm comm, const char *const *paths, int n,
                   const char *command_line, hr_claims_t *claims);

/* Releases them and removes the lock files.  Rank 0's part is local; safe
 * to call on every rank, and more than once. */
void hr_claims_release(hr_claims_t *claims);

#endif
