/* Internal to io/: the per-format readers behind dataset.c.
 *
 * Every array format (npy, IDX, HDF5) is seen as an array whose first
 * dimension is the row; the other dimensions are flattened into columns
 * (IDX images n x 28 x 28 become n x 784).  CSV is an n x cols table.
 * Each reader has an `info` function that reads only headers (CSV: scans
 * the file) and a `read_rows` function that returns rows
 * [first, first + count) as doubles, row-major.  The readers report what
 * went wrong with HR_FAIL; agreement between ranks is dataset.c's job,
 * except for HDF5, whose reads are collective and agree internally. */
#ifndef HESSRMT_IO_READERS_H
#define HESSRMT_IO_READERS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "hessrmt/dataset.h"

enum { HR_ARRAY_MAX_DIMS = 32 };

typedef struct {
  int ndim;
  int64_t dims[HR_ARRAY_MAX_DIMS];
  int64_t rows, cols; /* dims[0] and the product of the others (1 if 1-D) */
} hr_array_info_t;

/* "(37, 5)", as NumPy prints shapes, for messages. */
const char *hr_array_shape_str(const hr_array_info_t *info, char *buf,
                               size_t len);

/* Fill rows/cols from ndim/dims; HR_ERR_INPUT if the product overflows. */
int hr_array_finish_info(const char *path, hr_array_info_t *info);

/* a * b, or HR_ERR_INPUT naming `what` when it would overflow int64. */
int hr_mul_checked(int64_t a, int64_t b, const char *path, const char *what,
                   int64_t *out);

/* ---- element types of binary formats ------------------------------------ */

typedef struct {
  char kind;     /* 'f' float, 'i' signed, 'u' unsigned, 'b' bool */
  int size;      /* bytes */
  int big_endian;
} hr_elem_t;

/* Convert n packed elements (any alignment, any byte order) to double. */
void hr_elem_convert(const unsigned char *src, hr_elem_t t, size_t n,
                     double *dst);

/* ---- a byte stream that is a plain file or gzip ------------------------- */

/* zlib reads plain files transparently, and then gzseek is a real lseek, so
 * one code path serves foo.npy and foo.npy.gz.  On a gzip stream gzseek
 * forward decompresses and discards up to the offset: a rank reading rows
 * [first, first + count) of a .gz file decompresses the first
 * first + count rows, never more. */
typedef struct {
  gzFile gz;
  const char *path;
  int compressed;
  int64_t file_size; /* on-disk bytes of a plain file; -1 for gzip */
} hr_infile_t;

/* "cannot open 'path': No such file or directory" style errors. */
int hr_infile_open(const char *path, hr_infile_t *f);
void hr_infile_close(hr_infile_t *f);
/* Read exactly n bytes or fail: "'path' is truncated (... `what`)". */
int hr_infile_read(hr_infile_t *f, void *buf, size_t n, const char *what);
/* Why the last read failed: zlib's message without the "path: " it puts
 * in front, or strerror for a system error. */
const char *hr_infile_reason(const hr_infile_t *f);
/* Position at an absolute byte offset (of the uncompressed stream). */
int hr_infile_seek(hr_infile_t *f, int64_t offset);

/* Read rows [first, first + count) of a binary array that starts at byte
 * `data_offset` with rows of `cols` elements of type t. */
int hr_infile_read_rows(hr_infile_t *f, int64_t data_offset, hr_elem_t t,
                        int64_t cols, int64_t first, int64_t count,
                        double *out);

/* A plain file must hold all the data its header promises. */
int hr_infile_check_size(const hr_infile_t *f, int64_t data_offset,
                         hr_elem_t t, const hr_array_info_t *info);

/* ---- binary arrays with a header (npy, IDX) ----------------------------- */

typedef struct {
  hr_elem_t elem;
  hr_array_info_t info;
  int64_t data_offset; /* where row 0 starts */
} hr_binary_layout_t;

/* Parse a format's header from the start of f into its layout. */
typedef int (*hr_layout_reader_t)(hr_infile_t *f, hr_binary_layout_t *out);

/* The shape, from the header alone. */
int hr_binary_info(const char *path, hr_layout_reader_t read_layout,
                   hr_array_info_t *info);
/* Rows [first, first + count) as doubles. */
int hr_binary_read_rows(const char *path, hr_layout_reader_t read_layout,
                        int64_t first, int64_t count, double *out);

/* ---- formats ------------------------------------------------------------ */

int hr_npy_info(const char *path, hr_array_info_t *info);
int hr_npy_read_rows(const char *path, int64_t first, int64_t count,
                     double *out);

int hr_idx_info(const char *path, hr_array_info_t *info);
int hr_idx_read_rows(const char *path, int64_t first, int64_t count,
                     double *out);

/* CSV: info scans the whole file (rows, columns, ragged rows). */
int hr_csv_info(const char *path, hr_array_info_t *info);
int hr_csv_read_rows(const char *path, int64_t first, int64_t count,
                     int64_t cols, double *out);

/* HDF5: info opens the file serially (one rank); read_rows is collective
 * over comm, reads `ndset` datasets' rows [first, first + count) into
 * out[k] (count x cols of dataset k), and returns an agreed status. */
int hr_h5_info(const char *path, const char *dset, hr_array_info_t *info);
int hr_h5_read_rows(MPI_Comm comm, const char *path, int ndset,
                    const char *const *dsets, int64_t first, int64_t count,
                    double *const *out);

/* Synthetic Gaussian classes, by global row index. */
int hr_synthetic_check(const hr_dataset_spec_t *spec);
int hr_synthetic_rows(const hr_dataset_spec_t *spec, int64_t first,
                      int64_t count, double *x, int32_t *labels);

#endif
