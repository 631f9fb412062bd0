/* Memory planning: estimate before allocating, refuse with the numbers.
 * The default limit per rank is the node's available memory divided by the
 * ranks sharing that node. */
#ifndef HESSRMT_MEMORY_H
#define HESSRMT_MEMORY_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* What a rank holds before any of hessrmt's own arrays: MPI, ELPA,
 * OpenBLAS and HDF5 (29 MiB measured on one rank; more with more ranks). */
enum { HR_MEMORY_BASELINE = 64 * 1024 * 1024 };

/* The per-rank limit: `requested` bytes if non-zero, else MemAvailable of
 * this node over the ranks on it (the minimum over all ranks).  Collective. */
int hr_memory_limit(MPI_Comm world, int64_t requested, int64_t *limit);

/* Fail on every rank if any rank's estimate `need` exceeds `limit`; the
 * message gives both numbers and what the estimate covers.  Collective. */
int hr_memory_check(MPI_Comm world, int64_t need, int64_t limit,
                    const char *breakdown);

/* Peak resident memory of this process so far (VmHWM), 0 if unknown. */
int64_t hr_memory_peak_bytes(void);

/* Format bytes as "1.5 GiB" into buf, which is returned. */
const char *hr_format_bytes(double bytes, char *buf, size_t len);

#endif
