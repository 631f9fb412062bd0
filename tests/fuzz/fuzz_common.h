/* Shared body of the libFuzzer harnesses for the npy, IDX and CSV readers
 * (tests/fuzz/fuzz_npy.c, fuzz_idx.c, fuzz_csv.c; built and run by
 * tests/fuzz/run_fuzz.sh).
 *
 * Each input is written to a temporary file (the readers take a path; zlib
 * sees gzip by the 1f 8b magic, so plain and .gz inputs share one harness)
 * and goes through the reader's two entry points as dataset.c uses them:
 * `info` for the shape, then `read_rows` for small slices.  Only the
 * readers and src/core/error.c are linked; they make no MPI calls (error.c's
 * hr_agree is never reached here), so MPI is linked but never initialised.
 *
 * Bad input must come back as an error code with a message, never a crash,
 * exit or abort.  Besides the sanitizers, the harness checks (and traps on)
 * properties the readers promise:
 *   - a failure returns a known HR_ERR_* code equal to hr_error_code() and
 *     a non-empty message; success leaves no error recorded;
 *   - info gives ndim >= 0, rows, cols >= 0 and rows * cols without
 *     overflow;
 *   - rows past the end are refused;
 *   - a plain (not gzip) npy/IDX file that passed info can be read whole
 *     (info checked the file size);
 *   - rows [1, c) equal the tail of rows [0, c), and the last rows read on
 *     their own equal the same rows read with others (slicing is exact);
 *   - CSV values are finite.
 * Sizes are capped by the slices the harness asks for (at most 64 rows and
 * HR_FUZZ_MAX_VALUES doubles), never by the header: a reader that
 * allocates what a header claims trips libFuzzer's -malloc_limit_mb. */
#ifndef HR_FUZZ_COMMON_H
#define HR_FUZZ_COMMON_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hessrmt/error.h"
#include "readers.h"

enum { HR_FUZZ_MAX_ROWS = 64, HR_FUZZ_MAX_VALUES = 1 << 16 };

typedef int (*hr_fuzz_info_fn)(const char *path, hr_array_info_t *info);
/* cols is passed for CSV only; the binary readers know their own. */
typedef int (*hr_fuzz_rows_fn)(const char *path, int64_t first, int64_t count,
                               int64_t cols, double *out);

typedef struct {
  const char *suffix;      /* file name ending, for readable messages */
  hr_fuzz_info_fn info;
  hr_fuzz_rows_fn rows;
  int binary;              /* npy / IDX: info checks the size of plain files */
  int finite;              /* CSV: values must be finite */
} hr_fuzz_reader_t;

static char hr_fuzz_path[4096];

#define HR_FUZZ_REQUIRE(cond)                                              \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "hr_fuzz: property violated: %s (%s:%d)\n"           \
              "  last error %d: %s\n", #cond, __FILE__, __LINE__,          \
              hr_error_code(), hr_error_message());                        \
      __builtin_trap();                                                    \
    }                                                                      \
  } while (0)

static void hr_fuzz_check_rc(int rc) {
  if (rc == HR_OK) {
    HR_FUZZ_REQUIRE(hr_error_code() == HR_OK);
  } else {
    HR_FUZZ_REQUIRE(rc == HR_ERR_INPUT || rc == HR_ERR_IO ||
                    rc == HR_ERR_MEMORY);
    HR_FUZZ_REQUIRE(hr_error_code() == rc);
    HR_FUZZ_REQUIRE(hr_error_message()[0] != '\0');
  }
  hr_error_clear();
}

static void hr_fuzz_init(const char *suffix) {
  const char *dir = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/hr_fuzz_XXXXXX",
           dir && dir[0] ? dir : "/tmp");
  if (!mkdtemp(tmpl)) {
    perror("hr_fuzz: mkdtemp");
    abort();
  }
  snprintf(hr_fuzz_path, sizeof hr_fuzz_path, "%s/input%s", tmpl, suffix);
}

static void hr_fuzz_write(const uint8_t *data, size_t size) {
  int fd = open(hr_fuzz_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    perror("hr_fuzz: open");
    abort();
  }
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd, data + done, size - done);
    if (n <= 0) {
      perror("hr_fuzz: write");
      abort();
    }
    done += (size_t)n;
  }
  close(fd);
}

/* Rows [first, first + count) into a fresh buffer; NULL when it failed. */
static double *hr_fuzz_rows(const hr_fuzz_reader_t *r, int64_t first,
                            int64_t count, int64_t cols) {
  /* Zeroed: a reader may legitimately write nothing (0 columns). */
  double *out = calloc((size_t)(count * cols + 1), sizeof *out);
  if (!out) abort();
  int rc = r->rows(hr_fuzz_path, first, count, cols, out);
  hr_fuzz_check_rc(rc);
  if (rc != HR_OK) {
    free(out);
    return NULL;
  }
  if (r->finite)
    for (int64_t k = 0; k < count * cols; k++)
      HR_FUZZ_REQUIRE(out[k] - out[k] == 0.0);
  return out;
}

static int hr_fuzz_one(const hr_fuzz_reader_t *r, const uint8_t *data,
                       size_t size) {
  hr_error_clear();
  hr_fuzz_write(data, size);
  hr_array_info_t info;
  memset(&info, 0xA5, sizeof info);
  int rc = r->info(hr_fuzz_path, &info);
  hr_fuzz_check_rc(rc);
  if (rc != HR_OK) return 0;

  HR_FUZZ_REQUIRE(info.ndim >= 0 && info.ndim <= HR_ARRAY_MAX_DIMS);
  HR_FUZZ_REQUIRE(info.rows >= 0 && info.cols >= 0);
  HR_FUZZ_REQUIRE(info.cols == 0 || info.rows <= INT64_MAX / info.cols);
  if (info.ndim >= 1) HR_FUZZ_REQUIRE(info.rows == info.dims[0]);

  int64_t rows = info.rows, cols = info.ndim >= 1 ? info.cols : 0;
  int gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  /* The slice the harness can afford: at most 64 rows, 64 Ki values. */
  int64_t count = rows < HR_FUZZ_MAX_ROWS ? rows : HR_FUZZ_MAX_ROWS;
  if (cols > 0 && count > HR_FUZZ_MAX_VALUES / cols)
    count = HR_FUZZ_MAX_VALUES / cols;
  int64_t rcols = cols > 0 ? cols : 1;

  /* Past the end: must be refused.  (Binary readers refuse it from the
   * header; CSV by reaching the end of the file.) */
  if (count > 0 && rows < INT64_MAX) {
    double *past = hr_fuzz_rows(r, rows - count + 1, count, rcols);
    HR_FUZZ_REQUIRE(past == NULL);
  }
  if (count == 0) {
    /* An empty slice of any shape reads nothing and succeeds. */
    double *none = hr_fuzz_rows(r, 0, 0, rcols);
    HR_FUZZ_REQUIRE(none != NULL);
    free(none);
    return 0;
  }

  double *head = hr_fuzz_rows(r, 0, count, rcols);
  /* info checked that a plain binary file holds all its rows. */
  if (r->binary && !gzip && cols > 0) HR_FUZZ_REQUIRE(head != NULL);
  if (head && count > 1) {
    double *shifted = hr_fuzz_rows(r, 1, count - 1, rcols);
    if (r->binary && !gzip) HR_FUZZ_REQUIRE(shifted != NULL);
    if (shifted)
      HR_FUZZ_REQUIRE(memcmp(shifted, head + rcols,
                             (size_t)((count - 1) * rcols) * sizeof *head)
                      == 0);
    free(shifted);
  }
  free(head);

  /* The last rows (a seek far into the file; for gzip a long inflate). */
  if (rows > count) {
    double *tail = hr_fuzz_rows(r, rows - count, count, rcols);
    if (r->binary && !gzip && cols > 0) HR_FUZZ_REQUIRE(tail != NULL);
    if (tail && count > 1) {
      double *last = hr_fuzz_rows(r, rows - 1, 1, rcols);
      if (last)
        HR_FUZZ_REQUIRE(memcmp(last, tail + (count - 1) * rcols,
                               (size_t)rcols * sizeof *last) == 0);
      free(last);
    }
    free(tail);
  }
  return 0;
}

#endif
