/* Datasets (see dataset.h): format dispatch, shapes agreed over ranks, the
 * rank's slice of rows, validation, and preprocessing.
 *
 * Every public function here is collective and returns the same status on
 * every rank: each local phase (headers on rank 0, the slice on every rank)
 * ends in hr_agree() before the next collective step. */
#include "hessrmt/dataset.h"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "readers.h"

enum { PATH_MAX_LEN = 4096 };

/* Where the pieces of a dataset are: resolved from the spec alone (no file
 * access), so every rank computes the same layout. */
typedef struct {
  hr_format_t format, labels_format;
  const char *data, *features_dset, *labels_dset;
  char labels[PATH_MAX_LEN];  /* npy / IDX labels file */
  int64_t n, dim;             /* the whole file, before the limit */
  int no_labels;              /* features only (see hr_dataset_spec_t) */
} layout_t;

/* ---- formats ------------------------------------------------------------ */

static int ends_with(const char *s, size_t len, const char *suffix) {
  size_t k = strlen(suffix);
  if (len < k) return 0;
  for (size_t i = 0; i < k; i++)
    if (tolower((unsigned char)s[len - k + i]) != suffix[i]) return 0;
  return 1;
}

int hr_dataset_format_of(const char *path, hr_format_t *format) {
  if (!path || !path[0]) HR_FAIL(HR_ERR_USAGE, "no data file given");
  if (strcmp(path, "synthetic") == 0) {
    *format = HR_FORMAT_SYNTHETIC;
    return HR_OK;
  }
  size_t len = strlen(path);
  int gz = ends_with(path, len, ".gz");
  if (gz) len -= 3;
  if (ends_with(path, len, ".h5") || ends_with(path, len, ".hdf5") ||
      ends_with(path, len, ".hdf")) {
    if (gz)
      HR_FAIL(HR_ERR_INPUT, "'%s': gzip-compressed HDF5 cannot be read in "
              "parallel; gunzip it (HDF5 compresses inside the file)", path);
    *format = HR_FORMAT_HDF5;
  } else if (ends_with(path, len, ".npy")) {
    *format = HR_FORMAT_NPY;
  } else if (ends_with(path, len, "ubyte") || ends_with(path, len, ".idx")) {
    *format = HR_FORMAT_IDX;
  } else if (ends_with(path, len, ".csv")) {
    *format = HR_FORMAT_CSV;
  } else {
    HR_FAIL(HR_ERR_INPUT, "cannot tell the format of '%s' from its name: "
            "expected 'synthetic', *.h5/*.hdf5, *.npy, IDX (*-ubyte or *.idx, "
            "optionally .gz) or *.csv[.gz]", path);
  }
  return HR_OK;
}

/* Replace the first `from` in the file name part of path by `to`. */
static int swap_word(const char *path, const char *from, const char *to,
                     char *out, size_t len) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  const char *hit = strstr(base, from);
  if (!hit) return 0;
  int n = snprintf(out, len, "%.*s%s%s", (int)(hit - path), path, to,
                   hit + strlen(from));
  return n > 0 && (size_t)n < len;
}

/* No labels file given: the names the datasets ship with
 * (features.npy / labels.npy; train-images-idx3-ubyte /
 * train-labels-idx1-ubyte). */
static int default_labels(const layout_t *L, char *out, size_t len) {
  int ok;
  if (L->format == HR_FORMAT_NPY) {
    ok = swap_word(L->data, "features", "labels", out, len);
  } else {
    char tmp[PATH_MAX_LEN];
    ok = swap_word(L->data, "images", "labels", tmp, sizeof tmp);
    if (ok && !swap_word(tmp, "idx3", "idx1", out, len))
      snprintf(out, len, "%s", tmp);
  }
  if (!ok)
    HR_FAIL(HR_ERR_USAGE, "'%s' needs a labels file, and none is named (no "
            "'%s' in its name to replace by 'labels')", L->data,
            L->format == HR_FORMAT_NPY ? "features" : "images");
  return HR_OK;
}

static int resolve_labels(const hr_dataset_spec_t *spec, layout_t *L) {
  if (spec->labels && spec->labels[0])
    snprintf(L->labels, sizeof L->labels, "%s", spec->labels);
  else
    HR_CHECK(default_labels(L, L->labels, sizeof L->labels));
  HR_CHECK(hr_dataset_format_of(L->labels, &L->labels_format));
  if (L->labels_format != HR_FORMAT_NPY && L->labels_format != HR_FORMAT_IDX)
    HR_FAIL(HR_ERR_INPUT, "labels file '%s': labels for .npy or IDX data "
            "must be .npy or IDX", L->labels);
  return HR_OK;
}

static int resolve(const hr_dataset_spec_t *spec, layout_t *L) {
  memset(L, 0, sizeof *L);
  L->no_labels = spec->no_labels;
  if (spec->limit < 0)
    HR_FAIL(HR_ERR_USAGE, "the row limit must be >= 0 (got %lld)",
            (long long)spec->limit);
  L->data = spec->data ? spec->data : "synthetic";
  HR_CHECK(hr_dataset_format_of(L->data, &L->format));
  L->features_dset = spec->features_dset ? spec->features_dset : "features";
  L->labels_dset = spec->labels_dset ? spec->labels_dset : "labels";
  if (!L->no_labels && (L->format == HR_FORMAT_NPY || L->format == HR_FORMAT_IDX))
    HR_CHECK(resolve_labels(spec, L));
  return HR_OK;
}

/* ---- shapes (one rank) -------------------------------------------------- */

static int array_info(hr_format_t format, const char *path, const char *dset,
                      hr_array_info_t *info) {
  switch (format) {
    case HR_FORMAT_NPY: return hr_npy_info(path, info);
    case HR_FORMAT_IDX: return hr_idx_info(path, info);
    case HR_FORMAT_CSV: return hr_csv_info(path, info);
    case HR_FORMAT_HDF5: return hr_h5_info(path, dset, info);
    default: HR_FAIL(HR_ERR_INTERNAL, "'%s' is not an array file", path);
  }
}

/* "'x.h5' dataset 'labels'" or "'labels.npy'", for messages. */
static const char *source(hr_format_t format, const char *path,
                          const char *dset, char *buf, size_t len) {
  if (format == HR_FORMAT_HDF5)
    snprintf(buf, len, "'%s' dataset '%s'", path, dset);
  else
    snprintf(buf, len, "'%s'", path);
  return buf;
}

static int check_features(const char *what, const hr_array_info_t *f) {
  char shape[256];
  if (f->ndim < 2)
    HR_FAIL(HR_ERR_INPUT, "features in %s must be at least 2-D (rows x "
            "features); it has shape %s", what,
            hr_array_shape_str(f, shape, sizeof shape));
  if (f->rows < 1 || f->cols < 1)
    HR_FAIL(HR_ERR_INPUT, "%s has no data (shape %s)", what,
            hr_array_shape_str(f, shape, sizeof shape));
  return HR_OK;
}

static int check_labels(const char *fwhat, const hr_array_info_t *f,
                        const char *lwhat, const hr_array_info_t *l) {
  char fs[256], ls[256];
  int vector = l->ndim == 1 || (l->ndim == 2 && l->dims[1] == 1);
  if (!vector || l->rows != f->rows)
    HR_FAIL(HR_ERR_INPUT, "features %s have shape %s but labels %s have "
            "shape %s: the labels need shape (%lld,), one per row", fwhat,
            hr_array_shape_str(f, fs, sizeof fs), lwhat,
            hr_array_shape_str(l, ls, sizeof ls), (long long)f->rows);
  return HR_OK;
}

static int shape_arrays(layout_t *L) {
  int h5 = L->format == HR_FORMAT_HDF5;
  const char *lpath = h5 ? L->data : L->labels;
  hr_format_t lformat = h5 ? HR_FORMAT_HDF5 : L->labels_format;
  char fwhat[PATH_MAX_LEN + 64], lwhat[PATH_MAX_LEN + 64];
  source(L->format, L->data, L->features_dset, fwhat, sizeof fwhat);
  source(lformat, lpath, L->labels_dset, lwhat, sizeof lwhat);
  hr_array_info_t f, l;
  HR_CHECK(array_info(L->format, L->data, L->features_dset, &f));
  HR_CHECK(check_features(fwhat, &f));
  L->n = f.rows;
  L->dim = f.cols;
  if (L->no_labels) return HR_OK;
  HR_CHECK(array_info(lformat, lpath, L->labels_dset, &l));
  HR_CHECK(check_labels(fwhat, &f, lwhat, &l));
  L->n = f.rows;
  L->dim = f.cols;
  return HR_OK;
}

static int shape_csv(layout_t *L) {
  hr_array_info_t t;
  HR_CHECK(hr_csv_info(L->data, &t));
  if (L->no_labels) {  /* every column is a feature */
    L->n = t.rows;
    L->dim = t.cols;
    return HR_OK;
  }
  if (t.cols < 2)
    HR_FAIL(HR_ERR_INPUT, "'%s' has %lld column; a dataset needs features "
            "and a label in the last column", L->data, (long long)t.cols);
  L->n = t.rows;
  L->dim = t.cols - 1;
  return HR_OK;
}

static int shape_local(const hr_dataset_spec_t *spec, layout_t *L) {
  switch (L->format) {
    case HR_FORMAT_SYNTHETIC:
      HR_CHECK(hr_synthetic_check(spec));
      L->n = spec->n;
      L->dim = spec->dim;
      return HR_OK;
    case HR_FORMAT_CSV: return shape_csv(L);
    default: return shape_arrays(L);
  }
}

static int64_t limited(int64_t n, int64_t limit) {
  return limit > 0 && limit < n ? limit : n;
}

/* Resolve on every rank, read headers on rank 0, agree, broadcast. */
static int shape_agreed(MPI_Comm comm, const hr_dataset_spec_t *spec,
                        layout_t *L) {
  int rank;
  HR_MPI(MPI_Comm_rank(comm, &rank));
  int rc = resolve(spec, L);
  if (rc == HR_OK && rank == 0) rc = shape_local(spec, L);
  HR_CHECK(hr_agree(comm, rc));
  int64_t nd[2] = {L->n, L->dim};
  HR_MPI(MPI_Bcast(nd, 2, MPI_INT64_T, 0, comm));
  L->n = nd[0];
  L->dim = nd[1];
  return HR_OK;
}

int hr_dataset_shape(MPI_Comm comm, const hr_dataset_spec_t *spec,
                     int64_t *rows, int64_t *dim) {
  layout_t L;
  HR_CHECK(shape_agreed(comm, spec, &L));
  *rows = limited(L.n, spec->limit);
  *dim = L.dim;
  return HR_OK;
}

/* ---- validation --------------------------------------------------------- */

static int check_finite(const char *what, const double *x, int64_t first,
                        int64_t count, int64_t cols) {
  for (int64_t r = 0; r < count; r++)
    for (int64_t j = 0; j < cols; j++)
      if (!isfinite(x[r * cols + j]))
        HR_FAIL(HR_ERR_INPUT, "%s row %lld, column %lld: the value is %s; "
                "clean or drop that row", what, (long long)(first + r),
                (long long)j, isnan(x[r * cols + j]) ? "NaN" : "infinite");
  return HR_OK;
}

static int to_labels(const char *what, const double *v, int64_t first,
                     int64_t count, int32_t *labels) {
  for (int64_t r = 0; r < count; r++) {
    if (!(v[r] >= 0 && v[r] <= INT32_MAX && v[r] == floor(v[r])))
      HR_FAIL(HR_ERR_INPUT, "%s row %lld: label %g is not a class number "
              "(an integer >= 0)", what, (long long)(first + r), v[r]);
    labels[r] = (int32_t)v[r];
  }
  return HR_OK;
}

/* ---- reading the slice -------------------------------------------------- */

static int read_local(hr_format_t format, const char *path, int64_t first,
                      int64_t count, int64_t cols, double *out) {
  switch (format) {
    case HR_FORMAT_NPY: return hr_npy_read_rows(path, first, count, out);
    case HR_FORMAT_IDX: return hr_idx_read_rows(path, first, count, out);
    case HR_FORMAT_CSV: return hr_csv_read_rows(path, first, count, cols, out);
    default: HR_FAIL(HR_ERR_INTERNAL, "'%s' is not read locally", path);
  }
}

/* CSV rows carry the label in their last column. */
static int read_csv_rows(const layout_t *L, hr_dataset_t *ds, double *lab) {
  if (L->no_labels)
    return hr_csv_read_rows(L->data, ds->first, ds->count, L->dim, ds->x);
  int64_t cols = L->dim + 1, total;
  HR_CHECK(hr_mul_checked(ds->count, cols, L->data, "the slice", &total));
  double *t;
  HR_CALLOC(t, total);
  int rc = hr_csv_read_rows(L->data, ds->first, ds->count, cols, t);
  for (int64_t r = 0; rc == HR_OK && r < ds->count; r++) {
    memcpy(ds->x + r * L->dim, t + r * cols, (size_t)L->dim * sizeof *t);
    lab[r] = t[r * cols + L->dim];
  }
  free(t);
  return rc;
}

/* Features into ds->x and labels (as doubles) into lab.  HDF5 is collective
 * and agreed inside; the other formats are local. */
static int read_rows(MPI_Comm comm, const hr_dataset_spec_t *spec,
                     const layout_t *L, hr_dataset_t *ds, double *lab) {
  switch (L->format) {
    case HR_FORMAT_SYNTHETIC:
      return hr_synthetic_rows(spec, ds->first, ds->count, ds->x, ds->labels);
    case HR_FORMAT_HDF5: {
      const char *names[2] = {L->features_dset, L->labels_dset};
      double *const out[2] = {ds->x, lab};
      return hr_h5_read_rows(comm, L->data, L->no_labels ? 1 : 2, names,
                             ds->first, ds->count, out);
    }
    case HR_FORMAT_CSV: return read_csv_rows(L, ds, lab);
    default:
      HR_CHECK(read_local(L->format, L->data, ds->first, ds->count, L->dim,
                          ds->x));
      if (L->no_labels) return HR_OK;
      return read_local(L->labels_format, L->labels, ds->first, ds->count, 1,
                        lab);
  }
}

static int validate(const layout_t *L, hr_dataset_t *ds, const double *lab) {
  char what[PATH_MAX_LEN + 64];
  source(L->format, L->data, L->features_dset, what, sizeof what);
  HR_CHECK(check_finite(what, ds->x, ds->first, ds->count, ds->dim));
  if (L->format == HR_FORMAT_SYNTHETIC || L->no_labels) return HR_OK;
  if (L->format == HR_FORMAT_NPY || L->format == HR_FORMAT_IDX)
    source(L->labels_format, L->labels, L->labels_dset, what, sizeof what);
  else if (L->format == HR_FORMAT_HDF5)
    source(L->format, L->data, L->labels_dset, what, sizeof what);
  return to_labels(what, lab, ds->first, ds->count, ds->labels);
}

static int check_range(int64_t rows, int64_t first, int64_t count) {
  if (first < 0 || count < 0 || first > rows || count > rows - first)
    HR_FAIL(HR_ERR_INTERNAL, "rows [%lld, %lld) asked of a dataset of %lld "
            "rows", (long long)first, (long long)(first + count),
            (long long)rows);
  return HR_OK;
}

static int allocate(hr_dataset_t *ds, double **lab) {
  int64_t total;
  HR_CHECK(hr_mul_checked(ds->count, ds->dim, "dataset", "the slice",
                          &total));
  HR_CALLOC(ds->x, total);
  HR_CALLOC(ds->labels, ds->count);
  HR_CALLOC(*lab, ds->count);
  return HR_OK;
}

int hr_dataset_read(MPI_Comm comm, const hr_dataset_spec_t *spec,
                    int64_t first, int64_t count, hr_dataset_t *ds) {
  memset(ds, 0, sizeof *ds);
  layout_t L;
  HR_CHECK(shape_agreed(comm, spec, &L));
  ds->rows = limited(L.n, spec->limit);
  ds->dim = L.dim;
  ds->first = first;
  ds->count = count;
  double *lab = NULL;
  int rc = check_range(ds->rows, first, count);
  if (rc == HR_OK) rc = allocate(ds, &lab);
  rc = hr_agree(comm, rc);  /* before HDF5's collective reads */
  if (rc == HR_OK) rc = read_rows(comm, spec, &L, ds, lab);
  if (rc == HR_OK) rc = validate(&L, ds, lab);
  free(lab);
  rc = hr_agree(comm, rc);
  if (rc != HR_OK) hr_dataset_free(ds);
  return rc;
}

void hr_dataset_free(hr_dataset_t *ds) {
  free(ds->x);
  free(ds->labels);
  ds->x = NULL;
  ds->labels = NULL;
}

int hr_dataset_max_label(MPI_Comm comm, const hr_dataset_t *ds,
                         int *max_label) {
  int local = -1;
  for (int64_t r = 0; r < ds->count; r++)
    if (ds->labels[r] > local) local = ds->labels[r];
  HR_MPI(MPI_Allreduce(&local, max_label, 1, MPI_INT, MPI_MAX, comm));
  int rc = HR_OK;
  if (*max_label < 0)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "the dataset has no rows, so no labels");
  return hr_agree(comm, rc);
}

/* ---- generic matrices --------------------------------------------------- */

static int matrix_shape(const char *path, hr_format_t format,
                        const char *dset, int64_t nc[2]) {
  if (format == HR_FORMAT_SYNTHETIC)
    HR_FAIL(HR_ERR_INPUT, "a matrix cannot be read from 'synthetic'");
  if (format == HR_FORMAT_HDF5 && !dset)
    HR_FAIL(HR_ERR_USAGE, "'%s': no HDF5 dataset name given", path);
  hr_array_info_t info;
  HR_CHECK(array_info(format, path, dset, &info));
  char what[PATH_MAX_LEN + 64], shape[256];
  if (info.ndim < 1 || info.rows < 1 || info.cols < 1)
    HR_FAIL(HR_ERR_INPUT, "%s has shape %s; a matrix of at least one row "
            "and column is needed", source(format, path, dset, what,
                                           sizeof what),
            hr_array_shape_str(&info, shape, sizeof shape));
  nc[0] = info.rows;
  nc[1] = info.cols;
  return HR_OK;
}

static int matrix_shape_agreed(MPI_Comm comm, const char *path,
                               const char *dset, hr_format_t *format,
                               int64_t nc[2]) {
  int rank;
  HR_MPI(MPI_Comm_rank(comm, &rank));
  int rc = hr_dataset_format_of(path, format);
  if (rc == HR_OK && rank == 0) rc = matrix_shape(path, *format, dset, nc);
  HR_CHECK(hr_agree(comm, rc));
  HR_MPI(MPI_Bcast(nc, 2, MPI_INT64_T, 0, comm));
  return HR_OK;
}

int hr_matrix_read(MPI_Comm comm, const char *path, const char *dset,
                   int64_t first, int64_t count, int64_t *rows,
                   int64_t *cols, double **values) {
  *values = NULL;
  hr_format_t format;
  int64_t nc[2] = {0, 0}, total = 0;
  HR_CHECK(matrix_shape_agreed(comm, path, dset, &format, nc));
  int rc = check_range(nc[0], first, count);
  if (rc == HR_OK) rc = hr_mul_checked(count, nc[1], path, "the slice", &total);
  if (rc == HR_OK) {
    *values = calloc(total ? (size_t)total : 1, sizeof **values);
    if (!*values)
      rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                        "out of memory for %lld values of '%s'",
                        (long long)total, path);
  }
  rc = hr_agree(comm, rc);
  if (rc == HR_OK)
    rc = format == HR_FORMAT_HDF5
             ? hr_h5_read_rows(comm, path, 1, &dset, first, count, values)
             : read_local(format, path, first, count, nc[1], *values);
  char what[PATH_MAX_LEN + 64];
  source(format, path, dset, what, sizeof what);
  if (rc == HR_OK) rc = check_finite(what, *values, first, count, nc[1]);
  rc = hr_agree(comm, rc);
  if (rc != HR_OK) {
    free(*values);
    *values = NULL;
    return rc;
  }
  *rows = nc[0];
  *cols = nc[1];
  return HR_OK;
}

/* ---- preprocessing ------------------------------------------------------ */

/* Data that are not raw pixels would be silently distorted by scaling. */
static int check_pixels(MPI_Comm comm, const hr_dataset_t *ds) {
  int rc = HR_OK;
  for (int64_t k = 0; k < ds->count * ds->dim && rc == HR_OK; k++)
    if (ds->x[k] < 0.0 || ds->x[k] > 255.0)
      rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                        "--scale-pixels expects values in [0, 255], but row "
                        "%lld holds %g; drop --scale-pixels for data that "
                        "are not 8-bit pixels",
                        (long long)(ds->first + k / ds->dim), ds->x[k]);
  return hr_agree(comm, rc);
}

static double pixel(const hr_preprocess_t *p, double v) {
  return p->scale_pixels ? v / 127.5 - 1.0 : v;
}

/* Means, and the scale 1/sd of every feature over all ranks: two passes
 * (the mean first) for accuracy.  A feature is constant exactly when its
 * minimum equals its maximum; its scale is 0, which is what centring it
 * would give without rounding. */
static int feature_stats(MPI_Comm comm, const hr_dataset_t *ds,
                         hr_preprocess_t *p, double *work) {
  int d = (int)ds->dim;
  double *sq = work, *lo = work + d;  /* lo: minima, then negated maxima */
  for (int j = 0; j < d; j++) lo[j] = lo[d + j] = INFINITY;
  for (int64_t r = 0; r < ds->count; r++)
    for (int j = 0; j < d; j++) {
      double v = pixel(p, ds->x[r * d + j]);
      p->mean[j] += v;
      if (v < lo[j]) lo[j] = v;
      if (-v < lo[d + j]) lo[d + j] = -v;
    }
  int64_t n;
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, p->mean, d, MPI_DOUBLE, MPI_SUM, comm));
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, lo, 2 * d, MPI_DOUBLE, MPI_MIN, comm));
  HR_MPI(MPI_Allreduce(&ds->count, &n, 1, MPI_INT64_T, MPI_SUM, comm));
  if (n == 0) return HR_OK;
  for (int j = 0; j < d; j++) p->mean[j] /= (double)n;
  for (int64_t r = 0; r < ds->count; r++)
    for (int j = 0; j < d; j++) {
      double c = pixel(p, ds->x[r * d + j]) - p->mean[j];
      sq[j] += c * c;
    }
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, sq, d, MPI_DOUBLE, MPI_SUM, comm));
  for (int j = 0; j < d; j++)
    p->scale[j] = lo[j] == -lo[d + j] ? 0.0 : 1.0 / sqrt(sq[j] / (double)n);
  return HR_OK;
}

int hr_preprocess_fit(MPI_Comm comm, const hr_dataset_t *ds,
                      hr_preprocess_t *p) {
  if (p->scale_pixels) HR_CHECK(check_pixels(comm, ds));
  if (!p->standardize) return HR_OK;
  p->dim = ds->dim;
  double *work = NULL;
  int rc = HR_OK;
  if (ds->dim > INT_MAX / 4)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "%lld features are too many to standardize",
                      (long long)ds->dim);
  else if (!(work = calloc((size_t)ds->dim * 3 + 1, sizeof *work)) ||
           !(p->mean = calloc((size_t)ds->dim + 1, sizeof *p->mean)) ||
           !(p->scale = calloc((size_t)ds->dim + 1, sizeof *p->scale)))
    rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                      "out of memory for feature statistics");
  rc = hr_agree(comm, rc);
  if (rc == HR_OK) rc = feature_stats(comm, ds, p, work);
  free(work);
  return rc;
}

int hr_preprocess_apply(MPI_Comm comm, const hr_preprocess_t *p,
                        hr_dataset_t *ds) {
  if (p->scale_pixels) HR_CHECK(check_pixels(comm, ds));
  for (int64_t r = 0; r < ds->count; r++)
    for (int64_t j = 0; j < ds->dim; j++) {
      double v = pixel(p, ds->x[r * ds->dim + j]);
      if (p->standardize) v = (v - p->mean[j]) * p->scale[j];
      ds->x[r * ds->dim + j] = v;
    }
  return HR_OK;
}

void hr_preprocess_free(hr_preprocess_t *p) {
  free(p->mean);
  free(p->scale);
  p->mean = p->scale = NULL;
}

int hr_dataset_preprocess(MPI_Comm comm, hr_dataset_t *ds, int scale,
                          int standard) {
  hr_preprocess_t p = {.scale_pixels = scale, .standardize = standard};
  int rc = hr_preprocess_fit(comm, ds, &p);
  if (rc == HR_OK) rc = hr_preprocess_apply(comm, &p, ds);
  hr_preprocess_free(&p);
  return rc;
}
