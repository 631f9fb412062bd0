/* HDF5 helpers (see h5util.h). */
#include "hessrmt/h5util.h"

#include <hdf5.h>
#include <stdio.h>

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0) snprintf((char *)data, 256, "%s", e->desc ? e->desc : "");
  return 0;
}

const char *hr_h5_reason(char *buf) {
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, buf);
  return buf[0] ? buf : "unknown HDF5 error";
}
