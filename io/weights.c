/* Model weight files (see weights.h). */
#include "hessrmt/weights.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "hessrmt/random.h"

/* "(3, 4)" or "(3,)", as numpy prints shapes. */
static const char *shape_text(int rank, int64_t rows, int64_t cols, char *buf,
                              size_t len) {
  if (rank == 2) snprintf(buf, len, "(%lld, %lld)", (long long)rows, (long long)cols);
  else if (rank == 1) snprintf(buf, len, "(%lld,)", (long long)rows);
  else snprintf(buf, len, "(%d dimensions)", rank);
  return buf;
}

/* Read one 1-D or 2-D dataset that must have exactly the given shape. */
static int read_param(hid_t file, const char *path, const char *name, int rank,
                      int64_t rows, int64_t cols, double *out) {
  if (H5Lexists(file, "layers", H5P_DEFAULT) <= 0 ||
      H5Oexists_by_name(file, name, H5P_DEFAULT) <= 0)
    HR_FAIL(HR_ERR_INPUT, "weights file '%s' has no dataset '%s' (expected "
            "layers/<l>/weight and layers/<l>/bias)", path, name);
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_IO, "cannot open '%s' in '%s'", name, path);
  hid_t space = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  int have = H5Sget_simple_extent_ndims(space);
  if (have >= 1 && have <= 2) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  int rc = HR_OK;
  if (have != rank || (int64_t)dims[0] != rows ||
      (rank == 2 && (int64_t)dims[1] != cols)) {
    char got[64], want[64];
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "'%s' in '%s' has shape %s but the model needs %s",
                      name, path,
                      shape_text(have, (int64_t)dims[0], (int64_t)dims[1], got, sizeof got),
                      shape_text(rank, rows, cols, want, sizeof want));
  } else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     out) < 0) {
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot read '%s' in '%s' as numbers", name, path);
  }
  H5Dclose(d);
  HR_CHECK(rc);
  int64_t count = rank == 2 ? rows * cols : rows;
  for (int64_t i = 0; i < count; i++)
    if (!isfinite(out[i]))
      HR_FAIL(HR_ERR_INPUT, "'%s' in '%s' holds a non-finite value at "
              "element %lld", name, path, (long long)i);
  return HR_OK;
}

static int read_all(const char *path, const hr_mlp_t *m, double *theta) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    HR_FAIL(HR_ERR_IO, "cannot open weights file '%s' (%s)", path,
            errno ? strerror(errno) : "not an HDF5 file?");
  int rc = HR_OK;
  char name[64];
  for (int l = 0; l < m->layers && rc == HR_OK; l++) {
    snprintf(name, sizeof name, "layers/%d/weight", l);
    rc = read_param(file, path, name, 2, m->width[l + 1], m->width[l],
                    theta + m->offset_w[l]);
    snprintf(name, sizeof name, "layers/%d/bias", l);
    if (rc == HR_OK && m->bias)
      rc = read_param(file, path, name, 1, m->width[l + 1], 0,
                      theta + m->offset_b[l]);
    else if (rc == HR_OK && H5Lexists(file, "layers", H5P_DEFAULT) > 0 &&
             H5Oexists_by_name(file, name, H5P_DEFAULT) > 0)
      rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                        "'%s' has biases (%s) but the model has none: drop "
                        "--no-bias", path, name);
  }
  snprintf(name, sizeof name, "layers/%d", m->layers);
  if (rc == HR_OK && H5Lexists(file, "layers", H5P_DEFAULT) > 0 &&
      H5Lexists(file, name, H5P_DEFAULT) > 0)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "'%s' has more layers than the model's %d", path,
                      m->layers);
  H5Fclose(file);
  return rc;
}

int hr_weights_read(MPI_Comm comm, const char *path, const hr_mlp_t *m,
                    double *theta) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  errno = 0;
  HR_CHECK(hr_agree(comm, rank == 0 ? read_all(path, m, theta) : HR_OK));
  HR_MPI(MPI_Bcast(theta, (int)m->nparams, MPI_DOUBLE, 0, comm));
  return HR_OK;
}

void hr_weights_init(const hr_mlp_t *m, uint64_t seed, double *theta) {
  for (int l = 0; l < m->layers; l++) {
    double bound = 1.0 / sqrt((double)m->width[l]);
    int64_t nw = m->width[l + 1] * m->width[l];
    for (int64_t i = 0; i < nw; i++)
      theta[m->offset_w[l] + i] =
          bound * (2.0 * hr_random_uniform(seed, 3000, l, i, HR_STREAM_ENTRY) - 1.0);
    if (m->bias)
      for (int64_t i = 0; i < m->width[l + 1]; i++)
        theta[m->offset_b[l] + i] =
            bound * (2.0 * hr_random_uniform(seed, 3001, l, i, HR_STREAM_ENTRY) - 1.0);
  }
}

int hr_weights_write(const char *path, const hr_mlp_t *m, const double *theta) {
  return hr_weights_write_extra(path, m, theta, NULL, NULL);
}

int hr_weights_write_extra(const char *path, const hr_mlp_t *m,
                           const double *theta, hr_weights_extra_fn extra,
                           void *ctx) {
  char partial[4200], name[64];
  snprintf(partial, sizeof partial, "%s.partial", path);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t file = H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) HR_FAIL(HR_ERR_IO, "cannot create weights file '%s'", partial);
  herr_t st = 0;
  for (int l = 0; l < m->layers && st >= 0; l++) {
    hsize_t w[2] = {(hsize_t)m->width[l + 1], (hsize_t)m->width[l]};
    snprintf(name, sizeof name, "layers/%d", l);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    st = g < 0 ? -1 : hr_h5_write_doubles(g, "weight", 2, w, theta + m->offset_w[l]);
    if (st >= 0 && m->bias) st = hr_h5_write_doubles(g, "bias", 1, w, theta + m->offset_b[l]);
    if (g >= 0) H5Gclose(g);
  }
  int rc = st >= 0 && extra ? extra(file, ctx) : HR_OK;
  if (H5Fclose(file) < 0) st = -1;
  if (st < 0 || rc != HR_OK) {
    remove(partial);
    if (rc != HR_OK) return rc;
    HR_FAIL(HR_ERR_IO, "cannot write weights to '%s'", partial);
  }
  if (rename(partial, path) != 0)
    HR_FAIL(HR_ERR_IO, "cannot rename '%s' to '%s': %s", partial, path,
            strerror(errno));
  return HR_OK;
}
