/* Byte streams (plain or gzip), element conversion and array shapes shared
 * by the binary readers (see readers.h). */
#include "readers.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hessrmt/error.h"

/* ---- shapes ------------------------------------------------------------- */

const char *hr_array_shape_str(const hr_array_info_t *info, char *buf,
                               size_t len) {
  size_t used = (size_t)snprintf(buf, len, "(");
  for (int d = 0; d < info->ndim && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, "%s%lld", d ? ", " : "",
                             (long long)info->dims[d]);
  if (used < len)
    snprintf(buf + used, len - used, "%s)", info->ndim == 1 ? "," : "");
  return buf;
}

int hr_mul_checked(int64_t a, int64_t b, const char *path, const char *what,
                   int64_t *out) {
  if (a < 0 || b < 0 || (a != 0 && b > INT64_MAX / a))
    HR_FAIL(HR_ERR_INPUT, "'%s': %s is too large (%lld x %lld overflows)",
            path, what, (long long)a, (long long)b);
  *out = a * b;
  return HR_OK;
}

int hr_array_finish_info(const char *path, hr_array_info_t *info) {
  if (info->ndim < 1) {
    info->rows = info->cols = 0;
    return HR_OK;  /* a scalar: the caller rejects it with its shape */
  }
  info->rows = info->dims[0];
  info->cols = 1;
  for (int d = 1; d < info->ndim; d++)
    HR_CHECK(hr_mul_checked(info->cols, info->dims[d], path, "the row size",
                            &info->cols));
  int64_t total;
  HR_CHECK(hr_mul_checked(info->rows, info->cols, path, "the array", &total));
  return HR_OK;
}

/* ---- element conversion ------------------------------------------------- */

static int host_is_big_endian(void) {
  const uint16_t one = 1;
  unsigned char first;
  memcpy(&first, &one, 1);
  return first == 0;
}

/* One element to double; memcpy keeps unaligned reads well defined. */
static double elem_value(const unsigned char *p, hr_elem_t t, int swap) {
  unsigned char b[8];
  for (int k = 0; k < t.size; k++) b[k] = swap ? p[t.size - 1 - k] : p[k];
  switch (t.kind) {
    case 'f':
      if (t.size == 4) { float v; memcpy(&v, b, 4); return v; }
      { double v; memcpy(&v, b, 8); return v; }
    case 'i':
      if (t.size == 1) { int8_t v; memcpy(&v, b, 1); return v; }
      if (t.size == 2) { int16_t v; memcpy(&v, b, 2); return v; }
      if (t.size == 4) { int32_t v; memcpy(&v, b, 4); return v; }
      { int64_t v; memcpy(&v, b, 8); return (double)v; }
    default: /* 'u', 'b' */
      if (t.size == 1) return b[0];
      if (t.size == 2) { uint16_t v; memcpy(&v, b, 2); return v; }
      if (t.size == 4) { uint32_t v; memcpy(&v, b, 4); return v; }
      { uint64_t v; memcpy(&v, b, 8); return (double)v; }
  }
}

void hr_elem_convert(const unsigned char *src, hr_elem_t t, size_t n,
                     double *dst) {
  int swap = t.size > 1 && t.big_endian != host_is_big_endian();
  for (size_t k = 0; k < n; k++) dst[k] = elem_value(src + k * (size_t)t.size,
                                                     t, swap);
}

/* ---- streams ------------------------------------------------------------ */

int hr_infile_open(const char *path, hr_infile_t *f) {
  memset(f, 0, sizeof *f);
  f->path = path;
  struct stat st;
  if (stat(path, &st) != 0)
    HR_FAIL(HR_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode))
    HR_FAIL(HR_ERR_IO, "cannot open '%s': Is a directory", path);
  errno = 0;
  f->gz = gzopen(path, "rb");
  if (!f->gz)
    HR_FAIL(HR_ERR_IO, "cannot open '%s': %s", path,
            errno ? strerror(errno) : "out of memory");
  gzbuffer(f->gz, 1 << 18);  /* fewer system calls on large files */
  f->compressed = !gzdirect(f->gz);
  f->file_size = f->compressed ? -1 : (int64_t)st.st_size;
  return HR_OK;
}

void hr_infile_close(hr_infile_t *f) {
  if (f->gz) gzclose_r(f->gz);
  f->gz = NULL;
}

const char *hr_infile_reason(const hr_infile_t *f) {
  int code = 0;
  const char *msg = gzerror(f->gz, &code);
  if (code == Z_ERRNO) return strerror(errno);
  if (code == Z_OK || !msg || !msg[0]) return "unexpected end of file";
  size_t len = strlen(f->path);
  if (strncmp(msg, f->path, len) == 0 && strncmp(msg + len, ": ", 2) == 0)
    msg += len + 2;
  return msg;
}

int hr_infile_read(hr_infile_t *f, void *buf, size_t n, const char *what) {
  unsigned char *p = buf;
  /* gzread counts in unsigned int: read big requests in pieces. */
  while (n > 0) {
    unsigned piece = n > (1u << 30) ? (1u << 30) : (unsigned)n;
    int got = gzread(f->gz, p, piece);
    if (got <= 0)
      HR_FAIL(HR_ERR_IO, "'%s' is truncated or corrupt: %s while reading %s%s",
              f->path, hr_infile_reason(f), what,
              f->compressed ? " (gzip stream)" : "");
    p += got;
    n -= (size_t)got;
  }
  return HR_OK;
}

int hr_infile_seek(hr_infile_t *f, int64_t offset) {
  z_off_t off = (z_off_t)offset;
  if ((int64_t)off != offset || offset < 0)
    HR_FAIL(HR_ERR_IO, "'%s': offset %lld is out of range for zlib", f->path,
            (long long)offset);
  if (gzseek(f->gz, off, SEEK_SET) != off)
    HR_FAIL(HR_ERR_IO, "cannot seek in '%s' to byte %lld: %s", f->path,
            (long long)offset, hr_infile_reason(f));
  return HR_OK;
}

int hr_infile_check_size(const hr_infile_t *f, int64_t data_offset,
                         hr_elem_t t, const hr_array_info_t *info) {
  if (f->compressed) return HR_OK;  /* only reading finds the end of gzip */
  int64_t elems, bytes;
  HR_CHECK(hr_mul_checked(info->rows, info->cols, f->path, "the array",
                          &elems));
  HR_CHECK(hr_mul_checked(elems, t.size, f->path, "the array", &bytes));
  if (bytes > INT64_MAX - data_offset)
    HR_FAIL(HR_ERR_INPUT, "'%s': the array is too large", f->path);
  if (f->file_size < data_offset + bytes) {
    char shape[256];
    HR_FAIL(HR_ERR_INPUT, "'%s' is truncated: for the shape %s in its "
            "header it needs %lld bytes (%lld of header, %lld of data) but "
            "has only %lld", f->path,
            hr_array_shape_str(info, shape, sizeof shape),
            (long long)(data_offset + bytes), (long long)data_offset,
            (long long)bytes, (long long)f->file_size);
  }
  return HR_OK;
}

/* Rows are read in pieces of about 4 MiB and converted as they come, so a
 * float32 slice never needs a second full-size buffer. */
int hr_infile_read_rows(hr_infile_t *f, int64_t data_offset, hr_elem_t t,
                        int64_t cols, int64_t first, int64_t count,
                        double *out) {
  if (count == 0 || cols == 0) return HR_OK;
  int64_t rowbytes, start;
  HR_CHECK(hr_mul_checked(cols, t.size, f->path, "the row size", &rowbytes));
  HR_CHECK(hr_mul_checked(first, rowbytes, f->path, "the offset", &start));
  if (start > INT64_MAX - data_offset)
    HR_FAIL(HR_ERR_INPUT, "'%s': the offset of row %lld is too large",
            f->path, (long long)first);
  HR_CHECK(hr_infile_seek(f, data_offset + start));
  int64_t chunk = (INT64_C(1) << 22) / rowbytes;
  if (chunk < 1) chunk = 1;
  if (chunk > count) chunk = count;
  unsigned char *buf = malloc((size_t)(chunk * rowbytes));
  if (!buf)
    HR_FAIL(HR_ERR_MEMORY, "out of memory reading '%s' (%lld bytes)", f->path,
            (long long)(chunk * rowbytes));
  int rc = HR_OK;
  char what[96];
  for (int64_t r = 0; r < count && rc == HR_OK; r += chunk) {
    int64_t m = count - r < chunk ? count - r : chunk;
    snprintf(what, sizeof what, "rows %lld to %lld", (long long)(first + r),
             (long long)(first + r + m - 1));
    rc = hr_infile_read(f, buf, (size_t)(m * rowbytes), what);
    if (rc == HR_OK)
      hr_elem_convert(buf, t, (size_t)(m * cols), out + (size_t)(r * cols));
  }
  free(buf);
  return rc;
}

/* ---- binary arrays with a header ----------------------------------------- */

int hr_binary_info(const char *path, hr_layout_reader_t read_layout,
                   hr_array_info_t *info) {
  hr_infile_t f;
  hr_binary_layout_t h;
  HR_CHECK(hr_infile_open(path, &f));
  int rc = read_layout(&f, &h);
  hr_infile_close(&f);
  HR_CHECK(rc);
  *info = h.info;
  return HR_OK;
}

int hr_binary_read_rows(const char *path, hr_layout_reader_t read_layout,
                        int64_t first, int64_t count, double *out) {
  hr_infile_t f;
  hr_binary_layout_t h;
  HR_CHECK(hr_infile_open(path, &f));
  int rc = read_layout(&f, &h);
  if (rc == HR_OK && first + count > h.info.rows)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "'%s' has %lld rows; rows up to %lld were asked for",
                      path, (long long)h.info.rows, (long long)(first + count));
  if (rc == HR_OK)
    rc = hr_infile_read_rows(&f, h.data_offset, h.elem,
                             h.info.ndim ? h.info.cols : 0, first, count, out);
  hr_infile_close(&f);
  return rc;
}
