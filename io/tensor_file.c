/* Files of named tensors (see tensor_file.h). */
#include "hessrmt/tensor_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "hessrmt/output.h"

const char *hr_tensor_shape_text(int rank, const int64_t *dims, char *buf,
                                 size_t len) {
  if (rank < 1 || rank > 4) {
    snprintf(buf, len, "(%d dimensions)", rank);
    return buf;
  }
  size_t used = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < rank && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "",
                             (long long)dims[i]);
  if (used < len) snprintf(buf + used, len - used, rank == 1 ? ",)" : ")");
  return buf;
}

int hr_tensor_file_open(const char *path, hr_tensor_file_t *tf) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  snprintf(tf->path, sizeof tf->path, "%s", path);
  errno = 0;
  tf->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (tf->file < 0)
    HR_FAIL(HR_ERR_IO, "cannot open weights file '%s' (%s)", path,
            errno ? strerror(errno) : "not an HDF5 file?");
  return HR_OK;
}

void hr_tensor_file_close(hr_tensor_file_t *tf) {
  if (tf->file >= 0) H5Fclose(tf->file);
  tf->file = H5I_INVALID_HID;
}

int hr_tensor_file_exists(const hr_tensor_file_t *tf, const char *name) {
  /* Every level must exist before H5Oexists_by_name may be asked. */
  char prefix[256];
  for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/')) {
    snprintf(prefix, sizeof prefix, "%.*s", (int)(p - name), name);
    if (H5Lexists(tf->file, prefix, H5P_DEFAULT) <= 0) return 0;
  }
  return H5Lexists(tf->file, name, H5P_DEFAULT) > 0 &&
         H5Oexists_by_name(tf->file, name, H5P_DEFAULT) > 0;
}

int hr_tensor_file_shape(const hr_tensor_file_t *tf, const char *name,
                         int *rank, int64_t dims[4]) {
  hid_t d = H5Dopen2(tf->file, name, H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_IO, "cannot open '%s' in '%s'", name, tf->path);
  hid_t space = H5Dget_space(d);
  hsize_t h[4] = {0, 0, 0, 0};
  int r = H5Sget_simple_extent_ndims(space);
  if (r >= 1 && r <= 4) H5Sget_simple_extent_dims(space, h, NULL);
  H5Sclose(space);
  H5Dclose(d);
  *rank = r;
  for (int i = 0; i < 4; i++) dims[i] = (int64_t)h[i];
  return HR_OK;
}

int hr_tensor_file_read(const hr_tensor_file_t *tf, const char *name,
                        int64_t count, double *out) {
  hid_t d = H5Dopen2(tf->file, name, H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_IO, "cannot open '%s' in '%s'", name, tf->path);
  herr_t st = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
  H5Dclose(d);
  if (st < 0)
    HR_FAIL(HR_ERR_IO, "cannot read '%s' in '%s' as numbers", name, tf->path);
  for (int64_t i = 0; i < count; i++)
    if (!isfinite(out[i]))
      HR_FAIL(HR_ERR_INPUT, "'%s' in '%s' holds a non-finite value at "
              "element %lld", name, tf->path, (long long)i);
  return HR_OK;
}

int hr_tensor_file_model(const hr_tensor_file_t *tf, char *spec, size_t len,
                         int *bias) {
  spec[0] = '\0';
  *bias = -1;
  if (H5Aexists(tf->file, "model_spec") > 0)
    HR_CHECK(hr_h5_read_string_attr(tf->file, "model_spec", spec, len));
  if (H5Aexists(tf->file, "model_bias") > 0) {
    hid_t a = H5Aopen(tf->file, "model_bias", H5P_DEFAULT);
    int v = 1;
    if (H5Aread(a, H5T_NATIVE_INT, &v) >= 0) *bias = v != 0;
    H5Aclose(a);
  }
  return HR_OK;
}

static herr_t write_tensor(hid_t file, const hr_tensor_t *t) {
  /* layers/0/weight: the group layers/0, then the dataset weight in it */
  const char *slash = strrchr(t->name, '/');
  hid_t g = file;
  if (slash) {
    char group[256];
    snprintf(group, sizeof group, "%.*s", (int)(slash - t->name), t->name);
    g = H5Lexists(file, group, H5P_DEFAULT) > 0 ? H5Gopen2(file, group, H5P_DEFAULT)
                                                : H5I_INVALID_HID;
    if (g < 0) {
      hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
      H5Pset_create_intermediate_group(lcpl, 1);
      g = H5Gcreate2(file, group, lcpl, H5P_DEFAULT, H5P_DEFAULT);
      H5Pclose(lcpl);
    }
    if (g < 0) return -1;
  }
  hsize_t dims[4];
  for (int i = 0; i < t->rank; i++) dims[i] = (hsize_t)t->dims[i];
  herr_t st = hr_h5_write_doubles(g, slash ? slash + 1 : t->name, t->rank, dims,
                                  t->data);
  if (g != file) H5Gclose(g);
  return st;
}

int hr_tensor_file_write(const char *path, const hr_tensor_t *t, int n,
                         const char *spec, int bias, int64_t bytes,
                         hr_tensor_extra_fn extra, void *ctx) {
  char partial[4200];
  snprintf(partial, sizeof partial, "%s.partial", path);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  /* A full disk is found before HDF5 meets it. */
  HR_CHECK(hr_output_check_space_serial(partial, bytes));
  hid_t file = H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) {
    remove(partial);
    HR_FAIL(HR_ERR_IO, "cannot create weights file '%s'%s", partial,
            hr_output_full_note(partial));
  }
  herr_t st = 0;
  for (int i = 0; i < n && st >= 0; i++) st = write_tensor(file, &t[i]);
  /* The model itself, so that --weights alone defines it. */
  if (st >= 0 && (hr_h5_write_string_attr(file, "model_spec", spec) != HR_OK ||
                  hr_h5_write_attr(file, "model_bias", H5T_NATIVE_INT, &bias) != HR_OK))
    st = -1;
  int rc = st >= 0 && extra ? extra(file, ctx) : HR_OK;
  if (H5Fclose(file) < 0) st = -1;
  if (st < 0 || rc != HR_OK) {
    remove(partial);
    if (rc != HR_OK) return rc;
    HR_FAIL(HR_ERR_IO, "cannot write weights to '%s'%s", partial,
            hr_output_full_note(partial));
  }
  if (rename(partial, path) != 0)
    HR_FAIL(HR_ERR_IO, "cannot rename '%s' to '%s': %s", partial, path,
            strerror(errno));
  return HR_OK;
}
