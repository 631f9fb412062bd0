/* Model weight files (see weights.h). */
#include "hessrmt/weights.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "hessrmt/output.h"
#include "hessrmt/random.h"

/* "(3, 4)", "(6, 3, 5, 5)" or "(3,)", as PyTorch and numpy print shapes. */
static const char *shape_text(int rank, const hsize_t *dims, char *buf,
                              size_t len) {
  if (rank < 1 || rank > 4) {
    snprintf(buf, len, "(%d dimensions)", rank);
    return buf;
  }
  size_t used = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < rank && used < len; i++)
    used += (size_t)snprintf(buf + used, len - used, "%s%llu", i ? ", " : "",
                             (unsigned long long)dims[i]);
  if (used < len) snprintf(buf + used, len - used, rank == 1 ? ",)" : ")");
  return buf;
}

/* Read one dataset that must have exactly the given shape. */
static int read_param(hid_t file, const char *path, const char *name, int rank,
                      const hsize_t *want, double *out) {
  if (H5Lexists(file, "layers", H5P_DEFAULT) <= 0 ||
      H5Oexists_by_name(file, name, H5P_DEFAULT) <= 0)
    HR_FAIL(HR_ERR_INPUT, "weights file '%s' has no dataset '%s' (expected "
            "layers/<l>/weight and layers/<l>/bias)", path, name);
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_IO, "cannot open '%s' in '%s'", name, path);
  hid_t space = H5Dget_space(d);
  hsize_t dims[4] = {0, 0, 0, 0};
  int have = H5Sget_simple_extent_ndims(space);
  if (have >= 1 && have <= 4) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  int rc = HR_OK, same = have == rank;
  for (int i = 0; i < rank && same; i++) same = dims[i] == want[i];
  if (!same) {
    char got[96], need[96];
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "'%s' in '%s' has shape %s but the model needs %s",
                      name, path, shape_text(have, dims, got, sizeof got),
                      shape_text(rank, want, need, sizeof need));
  } else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     out) < 0) {
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot read '%s' in '%s' as numbers", name, path);
  }
  H5Dclose(d);
  HR_CHECK(rc);
  hsize_t count = 1;
  for (int i = 0; i < rank; i++) count *= want[i];
  for (hsize_t i = 0; i < count; i++)
    if (!isfinite(out[i]))
      HR_FAIL(HR_ERR_INPUT, "'%s' in '%s' holds a non-finite value at "
              "element %llu", name, path, (unsigned long long)i);
  return HR_OK;
}

/* PyTorch's shape of a layer's weight: (out, in) or (out, in, kh, kw). */
static int weight_shape(const hr_layer_t *L, hsize_t *dims) {
  dims[0] = (hsize_t)L->out.c;
  dims[1] = (hsize_t)L->in.c;
  if (L->kind == HR_LAYER_LINEAR) return 2;
  dims[2] = dims[3] = (hsize_t)L->kernel;
  return 4;
}

static int read_all(const char *path, const hr_model_t *m, double *theta) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    HR_FAIL(HR_ERR_IO, "cannot open weights file '%s' (%s)", path,
            errno ? strerror(errno) : "not an HDF5 file?");
  int rc = HR_OK;
  char name[64];
  for (int l = 0; l < m->nparam_layers && rc == HR_OK; l++) {
    const hr_layer_t *L = hr_model_param_layer(m, l);
    hsize_t dims[4];
    int rank = weight_shape(L, dims);
    snprintf(name, sizeof name, "layers/%d/weight", l);
    rc = read_param(file, path, name, rank, dims, theta + L->offset_w);
    snprintf(name, sizeof name, "layers/%d/bias", l);
    if (rc == HR_OK && L->nbias)
      rc = read_param(file, path, name, 1, dims, theta + L->offset_b);
    else if (rc == HR_OK && H5Lexists(file, "layers", H5P_DEFAULT) > 0 &&
             H5Oexists_by_name(file, name, H5P_DEFAULT) > 0)
      rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                        "'%s' has biases (%s) but the model has none: drop "
                        "--no-bias", path, name);
  }
  snprintf(name, sizeof name, "layers/%d", m->nparam_layers);
  if (rc == HR_OK && H5Lexists(file, "layers", H5P_DEFAULT) > 0 &&
      H5Lexists(file, name, H5P_DEFAULT) > 0)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "'%s' has more layers with parameters than the model's "
                      "%d", path, m->nparam_layers);
  H5Fclose(file);
  return rc;
}

/* The spec and bias attributes of an open weights file ("" if absent). */
static int read_spec(hid_t file, char *spec, size_t len, int *bias) {
  spec[0] = '\0';
  *bias = -1;
  if (H5Aexists(file, "model_spec") > 0)
    HR_CHECK(hr_h5_read_string_attr(file, "model_spec", spec, len));
  if (H5Aexists(file, "model_bias") > 0) {
    hid_t a = H5Aopen(file, "model_bias", H5P_DEFAULT);
    int v = 1;
    if (H5Aread(a, H5T_NATIVE_INT, &v) >= 0) *bias = v != 0;
    H5Aclose(a);
  }
  return HR_OK;
}

int hr_weights_read_spec(MPI_Comm comm, const char *path, char *spec,
                         size_t len, int *bias) {
  int rank, rc = HR_OK;
  MPI_Comm_rank(comm, &rank);
  char buf[1024] = "";
  int b = -1;
  if (rank == 0) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    errno = 0;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0)
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot open weights file '%s' (%s)", path,
                        errno ? strerror(errno) : "not an HDF5 file?");
    else {
      rc = read_spec(file, buf, sizeof buf, &b);
      H5Fclose(file);
    }
  }
  HR_CHECK(hr_agree(comm, rc));
  HR_MPI(MPI_Bcast(buf, sizeof buf, MPI_CHAR, 0, comm));
  HR_MPI(MPI_Bcast(&b, 1, MPI_INT, 0, comm));
  snprintf(spec, len, "%s", buf);
  *bias = b;
  return HR_OK;
}

int hr_weights_read(MPI_Comm comm, const char *path, const hr_model_t *m,
                    double *theta) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  errno = 0;
  HR_CHECK(hr_agree(comm, rank == 0 ? read_all(path, m, theta) : HR_OK));
  HR_MPI(MPI_Bcast(theta, (int)m->nparams, MPI_DOUBLE, 0, comm));
  return HR_OK;
}

void hr_weights_init(const hr_model_t *m, uint64_t seed, double *theta) {
  for (int l = 0; l < m->nparam_layers; l++) {
    const hr_layer_t *L = hr_model_param_layer(m, l);
    /* fan_in: in for linear, in * kh * kw for conv */
    double bound = 1.0 / sqrt((double)(L->nweight / L->out.c));
    for (int64_t i = 0; i < L->nweight; i++)
      theta[L->offset_w + i] =
          bound * (2.0 * hr_random_uniform(seed, 3000, l, i, HR_STREAM_ENTRY) - 1.0);
    for (int64_t i = 0; i < L->nbias; i++)
      theta[L->offset_b + i] =
          bound * (2.0 * hr_random_uniform(seed, 3001, l, i, HR_STREAM_ENTRY) - 1.0);
  }
}

int hr_weights_write(const char *path, const hr_model_t *m, const double *theta) {
  return hr_weights_write_extra(path, m, theta, NULL, NULL);
}

int hr_weights_write_extra(const char *path, const hr_model_t *m,
                           const double *theta, hr_weights_extra_fn extra,
                           void *ctx) {
  char partial[4200], name[64];
  snprintf(partial, sizeof partial, "%s.partial", path);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  /* A full disk is found before HDF5 meets it (the weights, the history
   * and the metadata fit in N doubles and a MiB). */
  HR_CHECK(hr_output_check_space_serial(partial, m->nparams * 8 * 2 + (1 << 20)));
  hid_t file = H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) {
    remove(partial);
    HR_FAIL(HR_ERR_IO, "cannot create weights file '%s'%s", partial,
            hr_output_full_note(partial));
  }
  herr_t st = 0;
  for (int l = 0; l < m->nparam_layers && st >= 0; l++) {
    const hr_layer_t *L = hr_model_param_layer(m, l);
    hsize_t w[4];
    int rank = weight_shape(L, w);
    snprintf(name, sizeof name, "layers/%d", l);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Pclose(lcpl);
    st = g < 0 ? -1 : hr_h5_write_doubles(g, "weight", rank, w, theta + L->offset_w);
    if (st >= 0 && L->nbias) st = hr_h5_write_doubles(g, "bias", 1, w, theta + L->offset_b);
    if (g >= 0) H5Gclose(g);
  }
  /* The model itself, so that --weights alone defines it. */
  if (st >= 0 && (hr_h5_write_string_attr(file, "model_spec", m->spec) != HR_OK ||
                  hr_h5_write_attr(file, "model_bias", H5T_NATIVE_INT, &m->bias) != HR_OK))
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
