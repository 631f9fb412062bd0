/* Numeric datasets in HDF5 files.  The shape is read serially by one rank;
 * the rows are read by all ranks together: the file is opened with the MPI-IO
 * driver, each rank selects the hyperslab of its rows (a rank with no rows
 * selects none but still takes part) and the transfer is collective, as in
 * HDF5's parallel examples.  HDF5 converts any integer or float type to
 * double on the way. */
#include <errno.h>
#include <hdf5.h>
#include <string.h>
#include <sys/stat.h>

#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "readers.h"


static int check_exists(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0)
    HR_FAIL(HR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  return HR_OK;
}

static int describe(hid_t d, const char *path, const char *name,
                    hr_array_info_t *info) {
  hid_t type = H5Dget_type(d);
  H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
  if (type >= 0) H5Tclose(type);
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    HR_FAIL(HR_ERR_INPUT, "dataset '%s' in '%s' is not numeric", name, path);
  hid_t space = H5Dget_space(d);
  int ndim = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
  hsize_t dims[H5S_MAX_RANK];
  if (ndim > 0) H5Sget_simple_extent_dims(space, dims, NULL);
  if (space >= 0) H5Sclose(space);
  if (ndim < 0 || ndim > HR_ARRAY_MAX_DIMS)
    HR_FAIL(HR_ERR_INPUT, "cannot read the shape of dataset '%s' in '%s'",
            name, path);
  memset(info, 0, sizeof *info);
  info->ndim = ndim;
  for (int k = 0; k < ndim; k++) info->dims[k] = (int64_t)dims[k];
  return hr_array_finish_info(path, info);
}

static int info_in_file(hid_t file, const char *path, const char *name,
                        hr_array_info_t *info) {
  /* H5Lexists fails (< 0) when a group on the way is missing: same answer. */
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' has no dataset '%s'", path, name);
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  char why[256];
  if (d < 0)
    HR_FAIL(HR_ERR_IO, "cannot open dataset '%s' in '%s': %s", name, path,
            hr_h5_reason(why));
  int rc = describe(d, path, name, info);
  H5Dclose(d);
  return rc;
}

int hr_h5_info(const char *path, const char *dset, hr_array_info_t *info) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);  /* we report failures ourselves */
  HR_CHECK(check_exists(path));
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  char why[256];
  if (file < 0)
    HR_FAIL(HR_ERR_INPUT, "cannot open '%s' as an HDF5 file: %s", path,
            hr_h5_reason(why));
  int rc = info_in_file(file, path, dset, info);
  H5Fclose(file);
  return rc;
}

/* ---- collective reads --------------------------------------------------- */

static int open_parallel(MPI_Comm comm, const char *path, hid_t *file) {
  *file = H5I_INVALID_HID;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  herr_t st = fapl >= 0 ? H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) : -1;
  /* One rank reads the metadata and broadcasts it, instead of all ranks
   * hammering the file system with the same small reads. */
  if (st >= 0) st = H5Pset_all_coll_metadata_ops(fapl, 1);
  if (st >= 0) *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  char why[256] = "";
  if (*file < 0) hr_h5_reason(why);
  if (fapl >= 0) H5Pclose(fapl);
  if (*file < 0)
    HR_FAIL(HR_ERR_IO, "cannot open '%s' with parallel HDF5: %s", path, why);
  return HR_OK;
}

typedef struct {
  hid_t dset, fspace, mspace, dxpl;
} slab_t;

static void slab_close(slab_t *s) {
  if (s->dxpl >= 0) H5Pclose(s->dxpl);
  if (s->mspace >= 0) H5Sclose(s->mspace);
  if (s->fspace >= 0) H5Sclose(s->fspace);
  if (s->dset >= 0) H5Dclose(s->dset);
}

/* File and memory selections of rows [first, first + count). */
static int select_rows(slab_t *s, const hr_array_info_t *info, int64_t first,
                       int64_t count, const char *path, const char *name) {
  hsize_t start[H5S_MAX_RANK] = {0}, extent[H5S_MAX_RANK];
  for (int k = 0; k < info->ndim; k++) extent[k] = (hsize_t)info->dims[k];
  start[0] = (hsize_t)first;
  extent[0] = (hsize_t)count;
  hsize_t elems = (hsize_t)(count * info->cols);
  hsize_t mdim = elems ? elems : 1;
  s->fspace = H5Dget_space(s->dset);
  s->mspace = H5Screate_simple(1, &mdim, NULL);
  s->dxpl = H5Pcreate(H5P_DATASET_XFER);
  herr_t st = s->fspace >= 0 && s->mspace >= 0 && s->dxpl >= 0 ? 0 : -1;
  if (st >= 0 && elems == 0) st = H5Sselect_none(s->fspace);
  if (st >= 0 && elems == 0) st = H5Sselect_none(s->mspace);
  if (st >= 0 && elems > 0)
    st = H5Sselect_hyperslab(s->fspace, H5S_SELECT_SET, start, NULL, extent,
                             NULL);
  if (st >= 0) st = H5Pset_dxpl_mpio(s->dxpl, H5FD_MPIO_COLLECTIVE);
  char why[256];
  if (st < 0)
    HR_FAIL(HR_ERR_IO, "cannot select rows %lld..%lld of '%s' in '%s': %s",
            (long long)first, (long long)(first + count), name, path,
            hr_h5_reason(why));
  return HR_OK;
}

static int prepare(slab_t *s, const char *path, const char *name,
                   int64_t first, int64_t count) {
  hr_array_info_t info;
  HR_CHECK(describe(s->dset, path, name, &info));
  if (info.ndim < 1 || first < 0 || count < 0 || first + count > info.rows)
    HR_FAIL(HR_ERR_INPUT, "dataset '%s' in '%s' has %lld rows; rows "
            "[%lld, %lld) were asked for", name, path, (long long)info.rows,
            (long long)first, (long long)(first + count));
  return select_rows(s, &info, first, count, path, name);
}

/* Every step that all ranks must take together is preceded by an agreement,
 * so a rank that failed locally never leaves the others waiting. */
static int read_one(MPI_Comm comm, hid_t file, const char *path,
                    const char *name, int64_t first, int64_t count,
                    double *out) {
  slab_t s = {H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID,
              H5I_INVALID_HID};
  char why[256] = "";
  s.dset = H5Dopen2(file, name, H5P_DEFAULT);
  int rc = HR_OK;
  if (s.dset < 0)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "cannot open dataset '%s' in '%s': %s", name, path,
                      hr_h5_reason(why));
  if (rc == HR_OK) rc = prepare(&s, path, name, first, count);
  rc = hr_agree(comm, rc);
  if (rc == HR_OK &&
      H5Dread(s.dset, H5T_NATIVE_DOUBLE, s.mspace, s.fspace, s.dxpl, out) < 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot read rows %lld..%lld of '%s' in '%s': %s",
                      (long long)first, (long long)(first + count), name,
                      path, hr_h5_reason(why));
  slab_close(&s);
  return hr_agree(comm, rc);
}

int hr_h5_read_rows(MPI_Comm comm, const char *path, int ndset,
                    const char *const *dsets, int64_t first, int64_t count,
                    double *const *out) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  int rc = check_exists(path);
  hid_t file = H5I_INVALID_HID;
  HR_CHECK(hr_agree(comm, rc));
  rc = open_parallel(comm, path, &file);
  rc = hr_agree(comm, rc);
  for (int k = 0; k < ndset && rc == HR_OK; k++)
    rc = read_one(comm, file, path, dsets[k], first, count, out[k]);
  if (file >= 0) H5Fclose(file);
  return rc;
}
