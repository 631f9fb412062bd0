/* HDF5 helpers (see h5util.h). */
#include "hessrmt/h5util.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

#include "hessrmt/error.h"

static herr_t innermost(unsigned n, const H5E_error2_t *e, void *data) {
  if (n == 0) snprintf((char *)data, 256, "%s", e->desc ? e->desc : "");
  return 0;
}

const char *hr_h5_reason(char *buf) {
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, innermost, buf);
  return buf[0] ? buf : "unknown HDF5 error";
}

/* Read a string attribute whose stored type is `stored` (a string type). */
static herr_t read_string(hid_t a, hid_t stored, char *buf, size_t len) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_cset(t, H5Tget_cset(stored));
  herr_t st;
  if (H5Tis_variable_str(stored) > 0) {
    char *value = NULL;
    H5Tset_size(t, H5T_VARIABLE);
    st = H5Aread(a, t, &value);
    if (st >= 0 && value) {
      snprintf(buf, len, "%s", value);
      H5free_memory(value);
    }
  } else {
    size_t size = H5Tget_size(stored);
    char *value = calloc(size + 1, 1);
    H5Tset_size(t, size + 1);
    H5Tset_strpad(t, H5T_STR_NULLTERM);
    st = value ? H5Aread(a, t, value) : -1;
    if (st >= 0) snprintf(buf, len, "%s", value);
    free(value);
  }
  H5Tclose(t);
  return st;
}

int hr_h5_read_string_attr(hid_t loc, const char *name, char *buf, size_t len) {
  buf[0] = '\0';
  if (H5Aexists(loc, name) <= 0) return HR_OK;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) HR_FAIL(HR_ERR_IO, "cannot open attribute '%s'", name);
  hid_t stored = H5Aget_type(a);
  char why[256] = "";
  herr_t st = H5Tget_class(stored) == H5T_STRING ? read_string(a, stored, buf, len) : -2;
  if (st == -1) hr_h5_reason(why);
  H5Tclose(stored);
  H5Aclose(a);
  if (st == -2) HR_FAIL(HR_ERR_INPUT, "attribute '%s' is not a string", name);
  if (st < 0) HR_FAIL(HR_ERR_IO, "cannot read attribute '%s': %s", name, why);
  return HR_OK;
}

int hr_h5_write_attr(hid_t loc, const char *name, hid_t type, const void *value) {
  if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = a >= 0 ? H5Awrite(a, type, value) : -1;
  char why[256] = "";
  if (st < 0) hr_h5_reason(why);
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  if (st < 0) HR_FAIL(HR_ERR_IO, "cannot write attribute '%s': %s", name, why);
  return HR_OK;
}

int hr_h5_write_string_attr(hid_t loc, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  int rc = hr_h5_write_attr(loc, name, t, &value);
  H5Tclose(t);
  return rc;
}

herr_t hr_h5_write_doubles(hid_t loc, const char *name, int rank,
                           const hsize_t *dims, const double *values) {
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT,
                       H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = d >= 0 ? H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                                H5P_DEFAULT, values) : -1;
  if (d >= 0) H5Dclose(d);
  H5Sclose(space);
  return st;
}
