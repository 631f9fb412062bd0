/* Serial reading of spectra files (see spectra_read.h). */
#include "hessrmt/spectra_read.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/h5util.h"

/* rows_done, when present, must have one entry per spectrum: HDF5 would
 * write a longer one past the buffer. */
static int read_done(hid_t file, const char *path, hr_spectra_t *s) {
  s->done = malloc((size_t)(s->rows ? s->rows : 1));
  if (!s->done) HR_FAIL(HR_ERR_MEMORY, "out of memory reading rows_done");
  memset(s->done, 1, (size_t)s->rows);
  if (H5Lexists(file, "rows_done", H5P_DEFAULT) <= 0) return HR_OK;
  hid_t d = H5Dopen2(file, "rows_done", H5P_DEFAULT);
  hid_t space = d >= 0 ? H5Dget_space(d) : -1;
  hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (space >= 0) H5Sclose(space);
  herr_t st = -1;
  if (d >= 0 && count == s->rows)
    st = H5Dread(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->done);
  if (d >= 0) H5Dclose(d);
  if (count >= 0 && count != s->rows)
    HR_FAIL(HR_ERR_INPUT, "'%s': rows_done has %lld entries but there are %lld "
            "spectra", path, (long long)count, (long long)s->rows);
  if (st < 0) HR_FAIL(HR_ERR_IO, "cannot read rows_done of '%s'", path);
  return HR_OK;
}

static int read_values(hid_t file, const char *path, const char *dataset,
                       hr_spectra_t *s) {
  if (H5Lexists(file, dataset, H5P_DEFAULT) <= 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' has no dataset '%s'", path, dataset);
  hid_t d = H5Dopen2(file, dataset, H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_IO, "cannot open dataset '%s' in '%s'", dataset, path);
  hid_t space = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank == 1 || rank == 2) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  if (rank == 1) { dims[1] = dims[0]; dims[0] = 1; }
  int rc = HR_OK;
  if (rank != 1 && rank != 2) {
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "dataset '%s' in '%s' has %d dimensions; expected "
                      "(spectra x levels)", dataset, path, rank);
  } else {
    s->rows = (int64_t)dims[0];
    s->cols = (int64_t)dims[1];
    size_t total = (size_t)s->rows * (size_t)s->cols;
    s->values = malloc((total > 0 ? total : 1) * sizeof(double));
    if (!s->values)
      rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                        "out of memory for %lld x %lld eigenvalues",
                        (long long)s->rows, (long long)s->cols);
    else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                     s->values) < 0)
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot read dataset '%s' of '%s' as numbers",
                        dataset, path);
  }
  H5Dclose(d);
  return rc;
}

/* Whether the dataset is stored as 4-byte floats (a float32 spectrum
 * carries float32 noise whatever the file's attributes say). */
static int stored_single(hid_t file, const char *dataset) {
  hid_t d = H5Dopen2(file, dataset, H5P_DEFAULT);
  if (d < 0) return 0;
  hid_t t = H5Dget_type(d);
  int single = H5Tget_class(t) == H5T_FLOAT && H5Tget_size(t) == 4;
  H5Tclose(t);
  H5Dclose(d);
  return single;
}

/* checks/rank, when the file has it with one value per row. */
static int read_rank(hid_t file, hr_spectra_t *s) {
  if (H5Lexists(file, "checks", H5P_DEFAULT) <= 0 ||
      H5Lexists(file, "checks/rank", H5P_DEFAULT) <= 0)
    return HR_OK;
  hid_t d = H5Dopen2(file, "checks/rank", H5P_DEFAULT);
  if (d < 0) return HR_OK;
  hid_t space = H5Dget_space(d);
  hssize_t count = H5Sget_simple_extent_npoints(space);
  H5Sclose(space);
  herr_t st = -1;
  if (count == s->rows && s->rows > 0) {
    s->rank = malloc((size_t)s->rows * sizeof *s->rank);
    if (s->rank)
      st = H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->rank);
  }
  H5Dclose(d);
  if (st < 0) { free(s->rank); s->rank = NULL; }
  return HR_OK;
}

/* A rows x cols dataset of doubles, or NULL where the file has none. */
static int read_matrix(hid_t file, const char *path, const char *name,
                       int64_t rows, int64_t *cols, double **out) {
  *out = NULL;
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return HR_OK;
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_IO, "cannot open '%s' in '%s'", name, path);
  hid_t space = H5Dget_space(d);
  hsize_t dims[2] = {0, 0};
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank == 2) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  int rc = HR_OK;
  if (rank != 2 || (int64_t)dims[0] != rows) {
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__, "'%s' in "
                      "'%s' is not one row per spectrum", name, path);
  } else {
    *cols = (int64_t)dims[1];
    *out = malloc((size_t)(rows * *cols + 1) * sizeof **out);
    if (!*out)
      rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                        "out of memory for '%s'", name);
    else if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot read '%s' of '%s'", name, path);
  }
  H5Dclose(d);
  return rc;
}

static int read_slq(hid_t file, const char *path, hr_spectra_t *s) {
  int64_t c1 = 0, c2 = 0;
  HR_CHECK(read_matrix(file, path, "slq_nodes", s->rows, &c1, &s->slq_nodes));
  HR_CHECK(read_matrix(file, path, "slq_weights", s->rows, &c2, &s->slq_weights));
  if (!s->slq_nodes || !s->slq_weights || c1 != c2) {
    free(s->slq_nodes);
    free(s->slq_weights);
    s->slq_nodes = s->slq_weights = NULL;
    return HR_OK;
  }
  s->slq_cols = c1;
  s->slq_probes = 1;
  if (H5Aexists(file, "slq_probes") > 0) {
    hid_t a = H5Aopen(file, "slq_probes", H5P_DEFAULT);
    long long v = 1;
    if (H5Aread(a, H5T_NATIVE_LLONG, &v) >= 0 && v > 0) s->slq_probes = v;
    H5Aclose(a);
  }
  return HR_OK;
}

/* The shape of hessian_evecs, and the per-vector checks beside it. */
static int read_evecs(hid_t file, const char *path, hr_spectra_t *s) {
  if (H5Lexists(file, "hessian_evecs", H5P_DEFAULT) <= 0) return HR_OK;
  hid_t d = H5Dopen2(file, "hessian_evecs", H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_IO, "cannot open 'hessian_evecs' in '%s'", path);
  hid_t space = H5Dget_space(d);
  hsize_t dims[3] = {0, 0, 0};
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank == 3) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  H5Dclose(d);
  if (rank != 3 || (int64_t)dims[0] != s->rows || (int64_t)dims[2] != s->cols)
    HR_FAIL(HR_ERR_INPUT, "'hessian_evecs' in '%s' is not spectra x 2K x N "
            "beside its %lld x %lld eigenvalues", path, (long long)s->rows,
            (long long)s->cols);
  s->evec_count = (int64_t)dims[1];
  s->evec_n = (int64_t)dims[2];
  int64_t c = 0;
  HR_CHECK(read_matrix(file, path, "checks/evec_residual", s->rows, &c,
                       &s->evec_residual));
  HR_CHECK(read_matrix(file, path, "evec_overlap_gradient", s->rows, &c,
                       &s->evec_overlap_gradient));
  HR_CHECK(read_matrix(file, path, "evec_overlap_classes", s->rows, &c,
                       &s->evec_overlap_classes));
  return HR_OK;
}

int hr_spectra_read_vectors(const char *path, int64_t row, int64_t count,
                            int64_t n, double *out) {
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) HR_FAIL(HR_ERR_IO, "cannot open '%s'", path);
  hid_t d = H5Dopen2(file, "hessian_evecs", H5P_DEFAULT);
  hid_t fspace = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
  hsize_t start[3] = {(hsize_t)row, 0, 0}, extent[3] = {1, (hsize_t)count, (hsize_t)n};
  hsize_t mdims[1] = {(hsize_t)(count * n)};
  hid_t mspace = H5Screate_simple(1, mdims, NULL);
  herr_t st = fspace >= 0 ? H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start,
                                                NULL, extent, NULL) : -1;
  if (st >= 0) st = H5Dread(d, H5T_NATIVE_DOUBLE, mspace, fspace, H5P_DEFAULT, out);
  H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (d >= 0) H5Dclose(d);
  H5Fclose(file);
  if (st < 0)
    HR_FAIL(HR_ERR_IO, "cannot read row %lld of 'hessian_evecs' in '%s'",
            (long long)row, path);
  return HR_OK;
}

/* Provenance attributes; absent ones stay "". */
static int read_description(hid_t file, hr_spectra_t *s) {
  HR_CHECK(hr_h5_read_string_attr(file, "command", s->command, sizeof s->command));
  HR_CHECK(hr_h5_read_string_attr(file, "model", s->model, sizeof s->model));
  HR_CHECK(hr_h5_read_string_attr(file, "part", s->part, sizeof s->part));
  HR_CHECK(hr_h5_read_string_attr(file, "method_used", s->method, sizeof s->method));
  if (H5Lexists(file, "options", H5P_DEFAULT) <= 0) return HR_OK;
  hid_t g = H5Gopen2(file, "options", H5P_DEFAULT);
  if (g < 0) return HR_OK;
  int rc = hr_h5_read_string_attr(g, "precision", s->precision, sizeof s->precision);
  if (rc == HR_OK) rc = hr_h5_read_string_attr(g, "kind", s->kind, sizeof s->kind);
  H5Gclose(g);
  return rc;
}

int hr_spectra_load(const char *path, const char *dataset, hr_spectra_t *s) {
  memset(s, 0, sizeof *s);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0)
    HR_FAIL(HR_ERR_IO, "cannot open '%s' as an HDF5 file (missing, "
            "unreadable or not HDF5)", path);
  int rc = read_values(file, path, dataset, s);
  if (rc == HR_OK) s->stored_single = stored_single(file, dataset);
  if (rc == HR_OK) rc = read_done(file, path, s);
  if (rc == HR_OK) rc = read_rank(file, s);
  if (rc == HR_OK) rc = read_description(file, s);
  if (rc == HR_OK) rc = read_slq(file, path, s);
  if (rc == HR_OK && strcmp(dataset, "hessian_evals") == 0)
    rc = read_evecs(file, path, s);
  H5Fclose(file);
  if (rc != HR_OK) hr_spectra_free(s);
  return rc;
}

void hr_spectra_free(hr_spectra_t *s) {
  free(s->values);
  free(s->done);
  free(s->rank);
  free(s->slq_nodes);
  free(s->slq_weights);
  s->slq_nodes = s->slq_weights = NULL;
  free(s->evec_residual);
  free(s->evec_overlap_gradient);
  free(s->evec_overlap_classes);
  s->evec_residual = s->evec_overlap_gradient = s->evec_overlap_classes = NULL;
  s->values = NULL;
  s->done = NULL;
  s->rank = NULL;
}
