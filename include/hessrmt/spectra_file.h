/* The spectra file: parallel HDF5 holding
 *   /hessian_evals   (count x N) float64 or float32, each row ascending
 *                    (the name and shape the paper's notebooks read);
 *                    rows not yet computed read as NaN
 *   /rows_done       (count) uint8, 1 once a row and its checks are written
 *   /checks/<name>   (count) float64 per-row self-checks (trace, ...)
 *   root attributes  provenance: version, command line, sizes, solver,
 *                    grid, timings; /options group: every option's value.
 *
 * Created collectively at PATH.partial; rows are written independently by
 * whichever rank finished them (so rank groups never wait for each other),
 * and the file is renamed to PATH by hr_spectra_commit. */
#ifndef HESSRMT_SPECTRA_FILE_H
#define HESSRMT_SPECTRA_FILE_H

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>

#include "hessrmt/precision.h"

enum { HR_SPECTRA_MAX_CHECKS = 8, HR_SPECTRA_MAX_EXTRAS = 6 };

/* More per-row data beside the eigenvalues, NaN until their row is
 * written: one dataset each, spectra x cols (rows 1) or spectra x rows x
 * cols (the stochastic Lanczos quadrature's nodes and weights, the
 * eigenvectors of --eigenvectors and their residuals).  A name may be a
 * path into /checks. */
typedef struct {
  const char *name;
  int64_t rows, cols;
} hr_spectra_extra_t;

typedef struct {
  int count;
  hr_spectra_extra_t item[HR_SPECTRA_MAX_EXTRAS];
} hr_spectra_extras_t;

/* Append an extra dataset; its index, or -1 (an internal error set) past
 * the maximum. */
int hr_spectra_extras_add(hr_spectra_extras_t *e, const char *name,
                          int64_t rows, int64_t cols);

/* The offset of extra i in a row's buffer of all extras, one after another
 * (i = count: the values per row in all). */
int64_t hr_spectra_extras_offset(const hr_spectra_extras_t *e, int i);

typedef struct {
  MPI_Comm comm;
  hid_t file, evals, done;
  hid_t checks[HR_SPECTRA_MAX_CHECKS];
  int ncheck;
  hid_t extra[HR_SPECTRA_MAX_EXTRAS];
  hr_spectra_extras_t extras;
  int64_t count, n;
  hr_precision_t precision;
  char path[4096], partial[4200];
} hr_spectra_file_t;

/* Create PATH.partial with `count` rows of length n, the named per-row
 * check datasets and the extras (NULL: none).  Collective over comm;
 * agreed failure. */
int hr_spectra_create(MPI_Comm comm, const char *path, int64_t count,
                      int64_t n, hr_precision_t precision,
                      const char *const *check_names, int ncheck,
                      const hr_spectra_extras_t *extras, hr_spectra_file_t *f);

/* Whether the existing partial file PARTIAL can be resumed at all: an HDF5
 * file holding the identity attribute and the rows_done dataset, which
 * hr_spectra_create flushes before any row.  A run killed before that
 * leaves a partial with nothing finished in it; *usable is then 0.
 * Collective; the same answer on every rank. */
int hr_spectra_partial_usable(MPI_Comm comm, const char *partial, int *usable);

/* Open PATH.partial left by a killed run, checking its shape and that its
 * /options identity attributes equal `identity` ("name=value;..."). */
int hr_spectra_open_resume(MPI_Comm comm, const char *path, int64_t count,
                           int64_t n, hr_precision_t precision,
                           const char *const *check_names, int ncheck,
                           const hr_spectra_extras_t *extras,
                           const char *identity, hr_spectra_file_t *f);

/* rows_done as 0/1 bytes (length count) on every rank.  Collective. */
int hr_spectra_read_done(hr_spectra_file_t *f, unsigned char *done);

/* Write one row (ascending eigenvalues), its checks and its extras (the
 * extras' rows one after another; NULL when there are none), then mark it
 * done.  Independent: called by one rank only. */
int hr_spectra_write_row(hr_spectra_file_t *f, int64_t row,
                         const double *evals, const double *checks,
                         const double *extras);

/* Root attributes (or attributes of `group`, created if needed).
 * Collective: every rank passes the same value; failures are agreed. */
int hr_spectra_attr_string(hr_spectra_file_t *f, const char *group,
                           const char *name, const char *value);
int hr_spectra_attr_int(hr_spectra_file_t *f, const char *name, int64_t value);
int hr_spectra_attr_double(hr_spectra_file_t *f, const char *name,
                           double value);

/* Push metadata (attributes, new objects) to disk, so a killed run leaves
 * a readable file.  Collective; agreed. */
int hr_spectra_flush(hr_spectra_file_t *f);

/* Before the closing attributes: room for them on PATH.partial's file
 * system.  They make the file grow after every row is in, and a write that
 * fails there on one rank hangs the others inside HDF5's collective close,
 * so a disk that filled during the run is found here instead: an error,
 * with the finished rows kept for --resume.  Collective; agreed. */
int hr_spectra_check_closing_room(hr_spectra_file_t *f);

/* Close and rename to PATH.  Collective. */
int hr_spectra_commit(hr_spectra_file_t *f);

/* Close after a failure.  keep_partial leaves PATH.partial for --resume;
 * otherwise it is removed.  Collective; never fails. */
void hr_spectra_abandon(hr_spectra_file_t *f, int keep_partial);

#endif
