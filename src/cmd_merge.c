/* Placeholder: being written. */
#include "hessrmt/context.h"
#include "hessrmt/error.h"

int hr_cmd_merge(hr_ctx_t *ctx) {
  (void)ctx;
  HR_FAIL(HR_ERR_USAGE, "this command is not implemented yet");
}
