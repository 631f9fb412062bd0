/* The run context passed down through a command: no global mutable state
 * (STYLE.md).  Commands receive it from main(). */
#ifndef HESSRMT_CONTEXT_H
#define HESSRMT_CONTEXT_H

#include <mpi.h>

#include "hessrmt/blas_core.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/options.h"
#include "hessrmt/timer.h"

typedef struct {
  MPI_Comm world;            /* all ranks of the job */
  int rank, size;            /* in world */
  const hr_options_t *opts;
  hr_timer_t timer;
  hr_eigensolver_caps_t caps; /* what the linked ELPA can do */
  const hr_blas_core_t *blas; /* the OpenBLAS kernels this process runs */
} hr_ctx_t;

/* The commands, one per src/cmd_*.c. */
int hr_cmd_ensemble(hr_ctx_t *ctx);
int hr_cmd_stats(hr_ctx_t *ctx);
int hr_cmd_train(hr_ctx_t *ctx);
int hr_cmd_relu_sim(hr_ctx_t *ctx);
int hr_cmd_lossfit(hr_ctx_t *ctx);
int hr_cmd_merge(hr_ctx_t *ctx);

#endif
