/* The low-rank exact path for batch Hessians (see hessian.h). */
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"

int hr_hessian_lowrank(hr_ctx_t *ctx, hr_run_t *run, hr_hessian_t *h,
                       int64_t k, double *evals, double *checks) {
  (void)ctx; (void)h; (void)k; (void)evals; (void)checks;
  return hr_agree(run->grid.comm,
                  hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                               "--method lowrank is not available yet"));
}
