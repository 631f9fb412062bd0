/* hessrmt stats: the statistics of spectra files, serially on rank 0.  The
 * pipeline itself is the statistics module's (stats_run.c). */
#include <stdio.h>

#include "hessrmt/options.h"
#include "hessrmt/context.h"
#include "hessrmt/error.h"
#include "hessrmt/stats.h"

int hr_cmd_stats(hr_ctx_t *ctx) {
  const hr_options_t *o = ctx->opts;
  hr_stats_job_t job;
  hr_options_stats_job(o, &job);
  HR_CHECK(hr_stats_check_outputs(ctx->world, job.json, job.plots));
  int rc = HR_OK;
  if (ctx->rank == 0) {
    rc = hr_stats_run(&job, o->inputs, o->n_inputs, stdout);
    fflush(stdout);
  }
  return hr_agree(ctx->world, rc);
}
