/* The run context passed down through a command: no global mutable state
 * (STYLE.md).  Commands receive it from main(). */
#ifndef HESSRMT_CONTEXT_H
#define HESSRMT_CONTEXT_H

#include <mpi.h>

#include "hessrmt/blas_core.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/provenance.h"
#include "hessrmt/timer.h"

/* The command line as parsed (options.h).  Opaque here: only the front
 * end (src/main.c, src/core/options.c) and the commands (src/commands/)
 * include options.h and read it; the modules below them get their own
 * settings structs, which the front end fills. */
struct hr_options;

typedef struct {
  MPI_Comm world;            /* all ranks of the job */
  int rank, size;            /* in world */
  const struct hr_options *opts;
  const hr_provenance_t *provenance;  /* what every output file records */
  hr_timer_t timer;
  hr_eigensolver_caps_t caps; /* what the linked ELPA can do */
  const hr_blas_core_t *blas; /* the OpenBLAS kernels this process runs */
} hr_ctx_t;

/* The commands, one per src/commands/cmd_*.c. */
int hr_cmd_ensemble(hr_ctx_t *ctx);
int hr_cmd_stats(hr_ctx_t *ctx);
int hr_cmd_train(hr_ctx_t *ctx);
int hr_cmd_relu_sim(hr_ctx_t *ctx);
int hr_cmd_lossfit(hr_ctx_t *ctx);
int hr_cmd_merge(hr_ctx_t *ctx);

#endif
