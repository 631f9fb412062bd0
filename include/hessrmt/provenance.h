/* Provenance written into every output file: program version, command line,
 * every option's value, the run's layout, the per-phase timings, and the
 * identity string that --resume checks.  The front end (options.c) records
 * the command line into an hr_provenance_t once; the writers here need no
 * options. */
#ifndef HESSRMT_PROVENANCE_H
#define HESSRMT_PROVENANCE_H

#include <mpi.h>
#include <stddef.h>

#include "hessrmt/blas_core.h"
#include "hessrmt/spectra_file.h"
#include "hessrmt/timer.h"

typedef struct {
  const char *command;        /* "hessian", ... */
  const char *command_line;
  char identity[8192];        /* "command=...;name=value;..." of the options
                                 that define the result */
  int count;                  /* every option: name and value as given */
  const char **names;
  char **values;
} hr_provenance_t;

void hr_provenance_free(hr_provenance_t *p);

/* Version, command line, options, identity, ranks (the size of the file's
 * communicator's world: `ranks`), the BLAS kernels.  Collective; agreed. */
int hr_provenance_write(hr_spectra_file_t *f, const hr_provenance_t *p,
                        int ranks, const hr_blas_core_t *blas);

/* time_<phase>_max / time_<phase>_min attributes.  Collective; agreed. */
int hr_provenance_write_timings(hr_spectra_file_t *f,
                                const hr_timing_summary_t *s);

#endif
