/* Datasets: each rank holds only its slice of the rows.
 *
 * Formats (chosen from the path by hr_dataset_format_of):
 *   "synthetic"        Gaussian classes generated from a counter-based
 *                      stream indexed by global row, so any slicing gives
 *                      the same data
 *   *.h5, *.hdf5       a features (n x d) and a labels (n) dataset, read
 *                      with parallel HDF5 hyperslabs
 *   *.npy[.gz]         NumPy arrays in C order: float32/float64 (or integer)
 *                      features (n x d), integer labels (n); big-endian
 *                      arrays ('>f8') are byte-swapped on reading
 *   *-ubyte, *.idx     IDX files as MNIST and Fashion-MNIST ship them,
 *   (optionally .gz)   images (n x rows x cols, uint8) and labels (n)
 *   *.csv[.gz]         numbers separated by commas, label in the last
 *                      column, an optional header line
 *
 * Plain files are read at the byte offsets of the rank's rows (CSV: each
 * rank scans line ends up to its slice and parses only its rows); gzip
 * streams cannot be seeked, so each rank decompresses up to the end of its
 * slice.  Every reader checks what it reads: a missing, truncated or ragged
 * file, a wrong dtype or shape, NaN/Inf values, non-integer or negative
 * labels are errors naming the file and, where it applies, the row. */
#ifndef HESSRMT_DATASET_H
#define HESSRMT_DATASET_H

#include <mpi.h>
#include <stdint.h>

typedef enum {
  HR_FORMAT_SYNTHETIC,
  HR_FORMAT_HDF5,
  HR_FORMAT_NPY,
  HR_FORMAT_IDX,
  HR_FORMAT_CSV,
} hr_format_t;

/* Format from a path (extension, "-ubyte" names, .gz suffix); HR_ERR_INPUT
 * for an unknown one. */
int hr_dataset_format_of(const char *path, hr_format_t *format);

typedef struct {
  const char *data;          /* path, or "synthetic" (also when NULL) */
  /* labels file for npy / IDX (NULL otherwise).  NULL for npy / IDX data
   * means the name the data ship with: "features" -> "labels" in a .npy
   * name, "images" -> "labels" and "idx3" -> "idx1" in an IDX name. */
  const char *labels;
  const char *features_dset; /* HDF5 dataset names ("features", "labels") */
  const char *labels_dset;
  int64_t limit;             /* use only the first `limit` rows (0 = all) */
  int no_labels;             /* features only (regression with targets):
                                no labels file, every CSV column a feature;
                                labels read as 0 */
  /* synthetic: n rows of dim features in `classes` Gaussian classes;
   * class c has mean separation * u_c with u_c a random unit-variance
   * direction scaled by 1/sqrt(dim), and unit-variance noise */
  int64_t n, dim;
  int classes;
  double separation;
  uint64_t seed;
} hr_dataset_spec_t;

typedef struct {
  int64_t rows;            /* rows in the whole dataset (after the limit) */
  int64_t dim;             /* features per row */
  int64_t first, count;    /* this rank's rows [first, first + count) */
  double *x;               /* count x dim, row-major */
  int32_t *labels;         /* count */
} hr_dataset_t;

/* Rows and features of the whole dataset (after the limit), on every rank
 * of comm.  Collective (rank 0 reads the headers and broadcasts). */
int hr_dataset_shape(MPI_Comm comm, const hr_dataset_spec_t *spec,
                     int64_t *rows, int64_t *dim);

/* Read rows [first, first + count) into ds (count may be 0 on some ranks).
 * Collective over comm (HDF5 reads collectively); failures are agreed. */
int hr_dataset_read(MPI_Comm comm, const hr_dataset_spec_t *spec,
                    int64_t first, int64_t count, hr_dataset_t *ds);
void hr_dataset_free(hr_dataset_t *ds);

/* Largest label over all ranks' slices.  Collective. */
int hr_dataset_max_label(MPI_Comm comm, const hr_dataset_t *ds, int *max_label);

/* A numeric matrix (n x cols; a 1-D array is n x 1) from HDF5 (dataset
 * name `dset`), npy or CSV (all columns), rows [first, first + count):
 * real-valued regression targets use this.  Collective; agreed. */
int hr_matrix_read(MPI_Comm comm, const char *path, const char *dset,
                   int64_t first, int64_t count, int64_t *rows,
                   int64_t *cols, double **values);

/* Preprocessing, in this order when both are asked for:
 * scale_pixels maps [0, 255] to [-1, 1] (x / 127.5 - 1, the paper's MNIST
 * pipeline: ToTensor then Normalize(0.5, 0.5)), and data outside [0, 255]
 * are an error naming the row; standardize makes every feature mean 0 and
 * variance 1 (features that are constant become 0).
 *
 * The statistics are fitted on one set of rows and applied to any rows, so
 * batch spectra use the whole dataset's statistics, not their own. */
typedef struct {
  int scale_pixels, standardize;  /* set by the caller before fitting */
  int64_t dim;
  double *mean, *scale;           /* standardize: x -> (x - mean) * scale */
} hr_preprocess_t;

/* Fit the standardisation over all ranks' rows of comm (after pixel
 * scaling, whose range it checks).  Collective; agreed. */
int hr_preprocess_fit(MPI_Comm comm, const hr_dataset_t *ds,
                      hr_preprocess_t *p);

/* Apply p to ds (pixel range checked, agreed over comm).  Collective. */
int hr_preprocess_apply(MPI_Comm comm, const hr_preprocess_t *p,
                        hr_dataset_t *ds);
void hr_preprocess_free(hr_preprocess_t *p);

/* Fit on ds and apply to ds.  Collective. */
int hr_dataset_preprocess(MPI_Comm comm, hr_dataset_t *ds, int scale_pixels,
                          int standardize);

#endif
