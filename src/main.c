/* hessrmt: the program's entry point.  Parses options (before MPI, so
 * --help and usage errors need no mpirun), starts MPI and the eigensolver
 * library, runs one command, and turns any error into one clear message
 * and a non-zero exit on every rank. */
#include <gsl/gsl_errno.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/blas_core.h"
#include "hessrmt/context.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/options.h"
#include "hessrmt/output_claim.h"

/* The launcher's rank before MPI_Init, so only rank 0 prints help and
 * usage errors; 0 when run without a launcher. */
static int launcher_rank(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK",
                               "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return atoi(v);
  }
  return 0;
}

/* The BLAS line of --version: which kernels a run would use. */
static void print_blas_line(const hr_blas_core_t *blas) {
  char core[128];
  printf("OpenBLAS core %s; CPU offers %s\n",
         hr_blas_core_describe(blas, core, sizeof core),
         hr_blas_isa_name(blas->cpu_isa));
  if (blas->warning[0]) printf("warning: %s\n", blas->warning);
}

static int run_command(hr_ctx_t *ctx) {
  switch (ctx->opts->command) {
    case HR_CMD_ENSEMBLE: return hr_cmd_ensemble(ctx);
    case HR_CMD_HESSIAN: return hr_cmd_hessian(ctx);
    case HR_CMD_STATS: return hr_cmd_stats(ctx);
    case HR_CMD_TRAIN: return hr_cmd_train(ctx);
    case HR_CMD_RELU_SIM: return hr_cmd_relu_sim(ctx);
    case HR_CMD_LOSSFIT: return hr_cmd_lossfit(ctx);
    case HR_CMD_MERGE: return hr_cmd_merge(ctx);
    default: HR_FAIL(HR_ERR_INTERNAL, "command not implemented");
  }
}

/* A library that ends the process itself - a Fortran STOP in ELPA or
 * ScaLAPACK when an ALLOCATE fails part-way, an exit() deep inside - would
 * leave the other ranks waiting in a collective for ever (HDF5's own exit
 * handler even waits in a collective close).  This handler, registered
 * after HDF5's so that it runs first, turns such an exit into an abort of
 * the whole job with a message. */
static int exiting_normally;

static void abort_on_foreign_exit(void) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (exiting_normally || !initialized || finalized) return;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  fprintf(stderr, "hessrmt: error on rank %d: a library ended the process "
          "(ELPA and ScaLAPACK stop like this when memory runs out part-way: "
          "lower the memory per rank with more ranks, or --solver pdsyev); "
          "aborting the job\n", rank);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, HR_ERR_MEMORY);
}

int main(int argc, char **argv) {
  /* First: this may execute the program again with faster BLAS kernels. */
  hr_blas_core_t blas;
  hr_blas_core_startup(argv, &blas);

  hr_options_t opts;
  int print = launcher_rank() == 0;
  int parsed = hr_options_parse(argc, argv, &opts, print, stdout);
  if (parsed == HR_PARSE_EXIT_OK) {
    if (opts.version_shown && print) print_blas_line(&blas);
    return 0;
  }

  MPI_Init(&argc, &argv);
  if (parsed != HR_PARSE_RUN) {
    /* Every rank found the same usage error.  Rank 0 reports it before any
     * rank exits: under mpirun the first non-zero exit kills the rest. */
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) fprintf(stderr, "hessrmt: error: %s\n", hr_error_message());
    fflush(stderr);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return parsed;
  }

  /* GSL's default handler aborts on any error; hessrmt checks the status
   * codes itself (a quadrature short of its tolerance is not fatal). */
  gsl_set_error_handler_off();
  H5open();  /* HDF5's exit handler first, so that ours runs before it */
  atexit(abort_on_foreign_exit);
  hr_ctx_t ctx = {.world = MPI_COMM_WORLD, .opts = &opts, .blas = &blas};
  MPI_Comm_rank(ctx.world, &ctx.rank);
  MPI_Comm_size(ctx.world, &ctx.size);
  /* Every rank found the same; one warning is enough. */
  if (ctx.rank == 0 && blas.warning[0])
    fprintf(stderr, "hessrmt: warning: %s\n", blas.warning);
  hr_timer_init(&ctx.timer);

  int rc = hr_agree(ctx.world, hr_eigensolver_init(&ctx.caps));
  /* Before any work: this run's outputs are its own until it ends. */
  hr_claims_t claims = {0};
  const char *outputs[HR_MAX_CLAIMS];
  int n_outputs = hr_options_outputs(&opts, outputs, HR_MAX_CLAIMS);
  if (rc == HR_OK)
    rc = hr_claims_take(ctx.world, outputs, n_outputs, opts.command_line, &claims);
  hr_provenance_t provenance = {0};
  if (rc == HR_OK) rc = hr_agree(ctx.world, hr_options_provenance(&opts, &provenance));
  ctx.provenance = &provenance;
  if (rc == HR_OK) rc = run_command(&ctx);
  hr_provenance_free(&provenance);

  if (rc != HR_OK) {
    if (!hr_error_is_agreed()) {
      /* Only this rank knows: the others may be inside a collective, so
       * the one exit that cannot hang is to abort the job. */
      hr_error_print(ctx.rank, opts.debug);
      fflush(stderr);
      exiting_normally = 1;  /* this abort has said why */
      MPI_Abort(ctx.world, rc);
    }
    if (ctx.rank == 0) hr_error_print(ctx.rank, opts.debug);
  }
  hr_claims_release(&claims);
  hr_eigensolver_finalize();
  exiting_normally = 1;
  MPI_Finalize();
  return rc;
}
