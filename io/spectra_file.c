/* The spectra file (see spectra_file.h). */
#include "hessrmt/spectra_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "hessrmt/output.h"


#define HR_H5(call, ...)                                                      \
  do {                                                                        \
    if ((call) < 0) {                                                         \
      char hr_h5_buf_[256];                                                   \
      char hr_h5_what_[1024];                                                 \
      snprintf(hr_h5_what_, sizeof hr_h5_what_, __VA_ARGS__);                 \
      HR_FAIL(HR_ERR_IO, "%s: %s", hr_h5_what_, hr_h5_reason(hr_h5_buf_));       \
    }                                                                         \
  } while (0)

/* Room for the metadata written after the datasets (attributes, the
 * timings, the closing layout): a few KiB in practice; a generous bound. */
#define CLOSING_METADATA_BYTES (1 << 20)

static hid_t file_type(hr_precision_t p) {
  return p == HR_PRECISION_DOUBLE ? H5T_IEEE_F64LE : H5T_IEEE_F32LE;
}

static void init_handles(hr_spectra_file_t *f) {
  f->file = f->evals = f->done = H5I_INVALID_HID;
  for (int i = 0; i < HR_SPECTRA_MAX_CHECKS; i++) f->checks[i] = H5I_INVALID_HID;
  for (int i = 0; i < HR_SPECTRA_MAX_EXTRAS; i++) f->extra[i] = H5I_INVALID_HID;
}

static int setup_struct(MPI_Comm comm, const char *path, int64_t count,
                        int64_t n, hr_precision_t precision, int ncheck,
                        const hr_spectra_extras_t *extras,
                        hr_spectra_file_t *f) {
  memset(f, 0, sizeof *f);
  init_handles(f);
  if (extras) f->extras = *extras;
  if (f->extras.count > HR_SPECTRA_MAX_EXTRAS)
    HR_FAIL(HR_ERR_INTERNAL, "too many extra datasets (%d)", f->extras.count);
  f->comm = comm;
  f->count = count;
  f->n = n;
  f->precision = precision;
  f->ncheck = ncheck;
  if (ncheck > HR_SPECTRA_MAX_CHECKS)
    HR_FAIL(HR_ERR_INTERNAL, "too many check datasets (%d)", ncheck);
  snprintf(f->path, sizeof f->path, "%s", path);
  HR_CHECK(hr_output_partial_path(path, f->partial, sizeof f->partial));
  /* We report HDF5 failures ourselves, once, in words. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  return HR_OK;
}

static hid_t parallel_fapl(MPI_Comm comm) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
      H5Pset_all_coll_metadata_ops(fapl, 1) < 0 ||
      H5Pset_coll_metadata_write(fapl, 1) < 0) {
    H5Pclose(fapl);
    return H5I_INVALID_HID;
  }
  return fapl;
}

int hr_spectra_extras_add(hr_spectra_extras_t *e, const char *name,
                          int64_t rows, int64_t cols) {
  if (e->count >= HR_SPECTRA_MAX_EXTRAS) {
    hr_error_set(HR_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                 "too many extra datasets for '%s'", name);
    return -1;
  }
  e->item[e->count] = (hr_spectra_extra_t){name, rows, cols};
  return e->count++;
}

int64_t hr_spectra_extras_offset(const hr_spectra_extras_t *e, int i) {
  int64_t at = 0;
  for (int j = 0; j < i && j < e->count; j++)
    at += e->item[j].rows * e->item[j].cols;
  return at;
}

/* A 1-, 2- or 3-D dataset, allocated at creation, unwritten parts = fill. */
static int create_dataset(hid_t loc, const char *name, hid_t type, int rank,
                          const hsize_t *dims, const void *fill, hid_t *out) {
  hid_t space = H5Screate_simple(rank, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);  /* "blocks/1": its group too */
  int ok = space >= 0 && dcpl >= 0 && lcpl >= 0 &&
           H5Pset_create_intermediate_group(lcpl, 1) >= 0 &&
           H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) >= 0 &&
           H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) >= 0 &&
           H5Pset_fill_value(dcpl, type, fill) >= 0;
  *out = ok ? H5Dcreate2(loc, name, type, space, lcpl, dcpl, H5P_DEFAULT)
            : H5I_INVALID_HID;
  char why[256] = "";
  if (*out < 0) hr_h5_reason(why);  /* before any close clears the stack */
  if (lcpl >= 0) H5Pclose(lcpl);
  if (space >= 0) H5Sclose(space);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (*out < 0) HR_FAIL(HR_ERR_IO, "cannot create dataset '%s': %s", name, why);
  return HR_OK;
}

static int create_contents(hr_spectra_file_t *f, const char *const *names) {
  hsize_t dims[2] = {(hsize_t)f->count, (hsize_t)f->n};
  double nan_d = NAN;
  float nan_f = NAN;
  unsigned char zero = 0;
  const void *nan = f->precision == HR_PRECISION_DOUBLE ? (const void *)&nan_d
                                                        : (const void *)&nan_f;
  HR_CHECK(create_dataset(f->file, "hessian_evals", file_type(f->precision), 2,
                          dims, nan, &f->evals));
  HR_CHECK(create_dataset(f->file, "rows_done", H5T_STD_U8LE, 1, dims, &zero,
                          &f->done));
  if (f->ncheck == 0 && f->extras.count == 0) return HR_OK;
  hid_t g = H5Gcreate2(f->file, "checks", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  HR_H5(g, "cannot create group 'checks'");
  int rc = HR_OK;
  for (int i = 0; i < f->ncheck && rc == HR_OK; i++)
    rc = create_dataset(g, names[i], H5T_IEEE_F64LE, 1, dims, &nan_d,
                        &f->checks[i]);
  H5Gclose(g);
  for (int i = 0; i < f->extras.count && rc == HR_OK; i++) {
    const hr_spectra_extra_t *x = &f->extras.item[i];
    hsize_t edims[3] = {(hsize_t)f->count, (hsize_t)x->rows, (hsize_t)x->cols};
    if (x->rows == 1) edims[1] = (hsize_t)x->cols;
    rc = create_dataset(f->file, x->name, H5T_IEEE_F64LE, x->rows == 1 ? 2 : 3,
                        edims, &nan_d, &f->extra[i]);
  }
  return rc;
}

int hr_spectra_create(MPI_Comm comm, const char *path, int64_t count,
                      int64_t n, hr_precision_t precision,
                      const char *const *check_names, int ncheck,
                      const hr_spectra_extras_t *extras, hr_spectra_file_t *f) {
  HR_CHECK(setup_struct(comm, path, count, n, precision, ncheck, extras, f));
  HR_CHECK(hr_output_check_writable(comm, path));
  /* Every dataset is allocated now (H5D_ALLOC_TIME_EARLY), so the file's
   * size is known: rows, flags, checks, and room for the metadata. */
  int64_t elem = precision == HR_PRECISION_DOUBLE ? 8 : 4;
  int64_t bytes = count * n * elem + count * (1 + 8 * (int64_t)ncheck) +
                  8 * count * hr_spectra_extras_offset(&f->extras, f->extras.count) +
                  CLOSING_METADATA_BYTES;
  HR_CHECK(hr_output_check_space(comm, f->partial, bytes));
  int rc = HR_OK;
  hid_t fapl = parallel_fapl(comm);
  f->file = fapl >= 0 ? H5Fcreate(f->partial, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)
                      : H5I_INVALID_HID;
  char why[256] = "";
  if (f->file < 0) hr_h5_reason(why);
  if (fapl >= 0) H5Pclose(fapl);
  if (f->file < 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot create '%s': %s", f->partial, why);
  HR_CHECK(hr_agree(comm, rc));
  rc = hr_agree(comm, create_contents(f, check_names));
  if (rc != HR_OK) hr_spectra_abandon(f, 0);
  return rc;
}

/* ---- resume ------------------------------------------------------------ */

/* Open a dataset of the partial file, checking its shape: rows (cols 0),
 * rows x cols (inner 0) or rows x inner x cols. */
static int open_dataset_checked(hid_t loc, const char *name, int64_t rows,
                                int64_t inner, int64_t cols, hid_t *out) {
  *out = H5Dopen2(loc, name, H5P_DEFAULT);
  HR_H5(*out, "the partial file has no dataset '%s'", name);
  hid_t space = H5Dget_space(*out);
  hsize_t dims[3] = {0, 0, 0};
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank >= 1 && rank <= 3) H5Sget_simple_extent_dims(space, dims, NULL);
  H5Sclose(space);
  int want = cols ? (inner ? 3 : 2) : 1;
  int64_t expect[3] = {rows, inner ? inner : cols, cols};
  int same = rank == want;
  for (int d = 0; d < want && same; d++) same = (int64_t)dims[d] == expect[d];
  if (!same)
    HR_FAIL(HR_ERR_INPUT, "dataset '%s' in the partial file has another shape "
            "than this run needs (%lld x %lld%s)", name, (long long)rows,
            (long long)(inner ? inner : cols), inner ? " x ..." : "");
  return HR_OK;
}

static int open_contents(hr_spectra_file_t *f, const char *const *names,
                         const char *identity) {
  char stored[4096];
  HR_CHECK(hr_h5_read_string_attr(f->file, "identity", stored, sizeof stored));
  if (strcmp(stored, identity) != 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' was made with other arguments, so --resume "
            "cannot continue it.\n  it has:   %s\n  this run: %s\nRun without "
            "--resume to start again", f->partial, stored, identity);
  HR_CHECK(open_dataset_checked(f->file, "hessian_evals", f->count, 0, f->n,
                                &f->evals));
  HR_CHECK(open_dataset_checked(f->file, "rows_done", f->count, 0, 0, &f->done));
  for (int i = 0; i < f->ncheck; i++) {
    char name[256];
    snprintf(name, sizeof name, "checks/%s", names[i]);
    HR_CHECK(open_dataset_checked(f->file, name, f->count, 0, 0, &f->checks[i]));
  }
  for (int i = 0; i < f->extras.count; i++) {
    const hr_spectra_extra_t *x = &f->extras.item[i];
    HR_CHECK(open_dataset_checked(f->file, x->name, f->count,
                                  x->rows == 1 ? 0 : x->rows, x->cols,
                                  &f->extra[i]));
  }
  return HR_OK;
}

int hr_spectra_partial_usable(MPI_Comm comm, const char *partial,
                              int *usable) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int ok = 0;
  if (rank == 0) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t file = H5Fopen(partial, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file >= 0) {
      ok = H5Aexists(file, "identity") > 0 &&
           H5Lexists(file, "rows_done", H5P_DEFAULT) > 0 &&
           H5Lexists(file, "hessian_evals", H5P_DEFAULT) > 0;
      H5Fclose(file);
    }
  }
  HR_MPI(MPI_Bcast(&ok, 1, MPI_INT, 0, comm));
  *usable = ok;
  return HR_OK;
}

int hr_spectra_open_resume(MPI_Comm comm, const char *path, int64_t count,
                           int64_t n, hr_precision_t precision,
                           const char *const *check_names, int ncheck,
                           const hr_spectra_extras_t *extras,
                           const char *identity, hr_spectra_file_t *f) {
  HR_CHECK(setup_struct(comm, path, count, n, precision, ncheck, extras, f));
  if (!hr_output_exists(comm, f->partial))
    HR_CHECK(hr_agree(comm, hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__,
                                         __func__,
                                         "--resume: there is no '%s' to "
                                         "continue from",
                                         f->partial)));
  hid_t fapl = parallel_fapl(comm);
  f->file = fapl >= 0 ? H5Fopen(f->partial, H5F_ACC_RDWR, fapl)
                      : H5I_INVALID_HID;
  char why[256] = "";
  if (f->file < 0) hr_h5_reason(why);
  if (fapl >= 0) H5Pclose(fapl);
  int rc = HR_OK;
  if (f->file < 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "--resume: cannot open '%s' (not a complete HDF5 "
                      "file?): %s", f->partial, why);
  HR_CHECK(hr_agree(comm, rc));
  rc = hr_agree(comm, open_contents(f, check_names, identity));
  if (rc != HR_OK) hr_spectra_abandon(f, 1);
  return rc;
}

int hr_spectra_read_done(hr_spectra_file_t *f, unsigned char *done) {
  herr_t st = H5Dread(f->done, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL,
                      H5P_DEFAULT, done);
  int rc = HR_OK;
  if (st < 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot read rows_done from '%s'", f->partial);
  return hr_agree(f->comm, rc);
}

/* ---- rows -------------------------------------------------------------- */

/* Write row `row` of a dataset (all of its other dimensions: one value,
 * a row, or a rows x cols slab), independently. */
static int write_row_slab(hid_t dset, int64_t row, hid_t memtype,
                          const void *values) {
  hid_t fspace = H5Dget_space(dset);
  hsize_t dims[3] = {1, 1, 1}, start[3] = {(hsize_t)row, 0, 0};
  int rank = H5Sget_simple_extent_ndims(fspace);
  herr_t st = rank >= 1 && rank <= 3 ? H5Sget_simple_extent_dims(fspace, dims, NULL) : -1;
  dims[0] = 1;
  hsize_t mdims[1] = {dims[1] * dims[2]};
  hid_t mspace = H5Screate_simple(1, mdims, NULL);
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  if (st >= 0)
    st = H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, dims, NULL);
  if (st >= 0) st = H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_INDEPENDENT);
  if (st >= 0) st = H5Dwrite(dset, memtype, mspace, fspace, dxpl, values);
  char why[256] = "";
  if (st < 0) hr_h5_reason(why);
  H5Pclose(dxpl);
  H5Sclose(mspace);
  H5Sclose(fspace);
  if (st < 0)
    HR_FAIL(HR_ERR_IO, "cannot write row %lld: %s (disk full?)",
            (long long)row, why);
  return HR_OK;
}

int hr_spectra_write_row(hr_spectra_file_t *f, int64_t row,
                         const double *evals, const double *checks,
                         const double *extras) {
  if (row < 0 || row >= f->count)
    HR_FAIL(HR_ERR_INTERNAL, "row %lld outside [0, %lld)", (long long)row,
            (long long)f->count);
  /* Memory type double: HDF5 converts to float32 for single precision. */
  HR_CHECK(write_row_slab(f->evals, row, H5T_NATIVE_DOUBLE, evals));
  for (int i = 0; i < f->ncheck; i++)
    HR_CHECK(write_row_slab(f->checks[i], row, H5T_NATIVE_DOUBLE, &checks[i]));
  for (int i = 0; i < f->extras.count; i++)
    HR_CHECK(write_row_slab(f->extra[i], row, H5T_NATIVE_DOUBLE,
                            extras + hr_spectra_extras_offset(&f->extras, i)));
  /* Marked done last: a kill between the writes leaves the row undone. */
  unsigned char one = 1;
  HR_CHECK(write_row_slab(f->done, row, H5T_NATIVE_UCHAR, &one));
  return HR_OK;
}

/* ---- attributes -------------------------------------------------------- */

static int attr_string_local(hr_spectra_file_t *f, const char *group,
                             const char *name, const char *value) {
  hid_t loc = f->file;
  if (group) {
    loc = H5Lexists(f->file, group, H5P_DEFAULT) > 0
              ? H5Gopen2(f->file, group, H5P_DEFAULT)
              : H5Gcreate2(f->file, group, H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT);
    HR_H5(loc, "cannot open group '%s'", group);
  }
  int rc = hr_h5_write_string_attr(loc, name, value);
  if (group) H5Gclose(loc);
  return rc;
}

/* Attribute writes are collective metadata operations: a rank that failed
 * one must not go on to the next while others do, so each is agreed. */
int hr_spectra_attr_string(hr_spectra_file_t *f, const char *group,
                           const char *name, const char *value) {
  return hr_agree(f->comm, attr_string_local(f, group, name, value));
}

int hr_spectra_attr_int(hr_spectra_file_t *f, const char *name, int64_t value) {
  return hr_agree(f->comm, hr_h5_write_attr(f->file, name, H5T_NATIVE_INT64, &value));
}

int hr_spectra_attr_double(hr_spectra_file_t *f, const char *name,
                           double value) {
  return hr_agree(f->comm, hr_h5_write_attr(f->file, name, H5T_NATIVE_DOUBLE, &value));
}

int hr_spectra_flush(hr_spectra_file_t *f) {
  int rc = HR_OK;
  if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot flush '%s' (disk full?)", f->partial);
  return hr_agree(f->comm, rc);
}

/* ---- closing ----------------------------------------------------------- */

int hr_spectra_check_closing_room(hr_spectra_file_t *f) {
  int rc = hr_output_check_space(f->comm, f->partial, CLOSING_METADATA_BYTES);
  int rank;
  MPI_Comm_rank(f->comm, &rank);
  if (rc != HR_OK && rank == 0)
    fprintf(stderr, "hessrmt: note: every finished spectrum is kept in '%s'; "
            "free some space and run the same command with --resume to "
            "complete the file\n", f->partial);
  return rc;
}

static herr_t close_all(hr_spectra_file_t *f) {
  herr_t st = 0;
  for (int i = 0; i < HR_SPECTRA_MAX_CHECKS; i++)
    if (f->checks[i] >= 0 && H5Dclose(f->checks[i]) < 0) st = -1;
  for (int i = 0; i < HR_SPECTRA_MAX_EXTRAS; i++)
    if (f->extra[i] >= 0 && H5Dclose(f->extra[i]) < 0) st = -1;
  if (f->done >= 0 && H5Dclose(f->done) < 0) st = -1;
  if (f->evals >= 0 && H5Dclose(f->evals) < 0) st = -1;
  if (f->file >= 0 && H5Fclose(f->file) < 0) st = -1;
  init_handles(f);
  return st;
}

int hr_spectra_commit(hr_spectra_file_t *f) {
  int rc = HR_OK;
  if (close_all(f) < 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot close '%s' (disk full?)", f->partial);
  HR_CHECK(hr_agree(f->comm, rc));
  return hr_output_commit(f->comm, f->partial, f->path);
}

void hr_spectra_abandon(hr_spectra_file_t *f, int keep_partial) {
  close_all(f);
  if (!keep_partial) hr_output_discard(f->comm, f->partial);
}
