/* CSV tables of numbers, plain or gzip (the label, if any, is the last
 * column; dataset.c decides).  An optional header line is recognised by a
 * field that is not a number.  Blank lines are skipped everywhere, so row
 * k is the k-th non-blank line after the header, on every rank.
 *
 * Lines have no fixed length, so a rank cannot seek to its rows: it reads
 * line ends from the start up to its slice and parses only its own rows
 * (for .csv.gz it decompresses up to the end of its slice).  hr_csv_info,
 * which one rank calls, scans the whole file and rejects ragged rows, so
 * the shape every rank agrees on describes every line. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "readers.h"

typedef struct {
  hr_infile_t f;
  char *buf;
  size_t cap;
  int64_t line;      /* 1-based number of the line in buf */
  int64_t header;    /* line number of the header, 0 if none */
} lines_t;

static int lines_open(const char *path, lines_t *L) {
  memset(L, 0, sizeof *L);
  HR_CHECK(hr_infile_open(path, &L->f));
  L->cap = 1 << 16;
  L->buf = malloc(L->cap);
  if (!L->buf) {
    hr_infile_close(&L->f);
    HR_FAIL(HR_ERR_MEMORY, "out of memory reading '%s'", path);
  }
  return HR_OK;
}

static void lines_close(lines_t *L) {
  hr_infile_close(&L->f);
  free(L->buf);
  L->buf = NULL;
}

static int grow(lines_t *L) {
  char *bigger = L->cap < (1u << 30) ? realloc(L->buf, L->cap * 2) : NULL;
  if (!bigger)
    HR_FAIL(HR_ERR_MEMORY, "out of memory: line %lld of '%s' is longer than "
            "%zu bytes", (long long)L->line, L->f.path, L->cap);
  L->buf = bigger;
  L->cap *= 2;
  return HR_OK;
}

/* The next line, without its line end, into L->buf; *eof at the end. */
static int read_line(lines_t *L, int *eof) {
  size_t len = 0;
  *eof = 0;
  L->line++;
  for (;;) {
    if (!gzgets(L->f.gz, L->buf + len, (int)(L->cap - len))) {
      int code = 0;
      gzerror(L->f.gz, &code);
      /* zlib reports a cut gzip stream as Z_BUF_ERROR at the end. */
      if (code != Z_OK)
        HR_FAIL(HR_ERR_IO, "cannot read '%s' at line %lld (truncated or "
                "corrupt?): %s", L->f.path, (long long)L->line,
                hr_infile_reason(&L->f));
      if (len == 0) *eof = 1;
      break;
    }
    len += strlen(L->buf + len);
    if (len > 0 && L->buf[len - 1] == '\n') break;
    if (len + 1 < L->cap) {
      /* gzgets stops short of a full buffer without a newline only at the
       * end of the file; anywhere else strlen met a NUL byte, and the rest
       * of the line would be lost and the next line joined to it. */
      if (!gzeof(L->f.gz))
        HR_FAIL(HR_ERR_INPUT, "'%s' line %lld contains a NUL byte: not a text "
                "CSV file", L->f.path, (long long)L->line);
      continue;
    }
    HR_CHECK(grow(L));
  }
  while (len > 0 && (L->buf[len - 1] == '\n' || L->buf[len - 1] == '\r'))
    L->buf[--len] = '\0';
  return HR_OK;
}

static int is_blank(const char *s) {
  while (*s == ' ' || *s == '\t') s++;
  return *s == '\0';
}

/* The next non-blank line; *eof when there is none. */
static int next_nonblank(lines_t *L, int *eof) {
  do {
    HR_CHECK(read_line(L, eof));
  } while (!*eof && is_blank(L->buf));
  return HR_OK;
}

static int64_t count_fields(const char *s) {
  int64_t n = 1;
  for (; *s; s++) n += *s == ',';
  return n;
}

/* One number at *p (spaces and double quotes around it allowed); moves *p
 * past the field's separator.  Returns 0 when the field is not a number. */
static int parse_field(const char **p, double *value) {
  const char *s = *p;
  while (*s == ' ' || *s == '\t') s++;
  int quoted = *s == '"';
  s += quoted;
  char *end;
  *value = strtod(s, &end);
  if (end == s) return 0;
  s = end;
  if (quoted && *s++ != '"') return 0;
  while (*s == ' ' || *s == '\t') s++;
  if (*s != ',' && *s != '\0') return 0;
  *p = *s == ',' ? s + 1 : s;
  return 1;
}

static int all_numeric(const char *line) {
  const char *p = line;
  double v;
  for (;;) {
    if (!parse_field(&p, &v)) return 0;
    if (*p == '\0') return p[-1] != ',';  /* "1,2," ends in an empty field */
  }
}

/* The first data line into L->buf, skipping a header; *eof if none. */
static int first_data_line(lines_t *L, int *eof) {
  HR_CHECK(next_nonblank(L, eof));
  if (*eof || all_numeric(L->buf)) return HR_OK;
  L->header = L->line;
  return next_nonblank(L, eof);
}

/* Parse the line in L->buf (data row `row`) into cols values. */
static int parse_row(const lines_t *L, int64_t row, int64_t cols,
                     double *out) {
  int64_t have = count_fields(L->buf);
  if (have != cols)
    HR_FAIL(HR_ERR_INPUT, "'%s' line %lld (row %lld) has %lld fields; the "
            "rows before it have %lld", L->f.path, (long long)L->line,
            (long long)row, (long long)have, (long long)cols);
  const char *p = L->buf;
  for (int64_t j = 0; j < cols; j++) {
    const char *field = p;
    if (!parse_field(&p, &out[j]))
      HR_FAIL(HR_ERR_INPUT, "'%s' line %lld (row %lld), field %lld: '%.*s' "
              "is not a number", L->f.path, (long long)L->line,
              (long long)row, (long long)(j + 1),
              (int)(strcspn(field, ",") < 40 ? strcspn(field, ",") : 40),
              field);
    if (!isfinite(out[j]))
      HR_FAIL(HR_ERR_INPUT, "'%s' line %lld (row %lld), field %lld: the value "
              "is NaN or infinite", L->f.path, (long long)L->line,
              (long long)row, (long long)(j + 1));
  }
  return HR_OK;
}

static int scan(lines_t *L, hr_array_info_t *info) {
  int eof;
  HR_CHECK(first_data_line(L, &eof));
  if (eof)
    HR_FAIL(HR_ERR_INPUT, "'%s' has no data rows (an empty file?)",
            L->f.path);
  int64_t cols = count_fields(L->buf), first_line = L->line, rows = 0;
  while (!eof) {
    int64_t have = count_fields(L->buf);
    if (have != cols)
      HR_FAIL(HR_ERR_INPUT, "'%s' line %lld (row %lld) has %lld fields; the "
              "first data row (line %lld) has %lld", L->f.path,
              (long long)L->line, (long long)rows, (long long)have,
              (long long)first_line, (long long)cols);
    rows++;
    HR_CHECK(next_nonblank(L, &eof));
  }
  memset(info, 0, sizeof *info);
  info->ndim = 2;
  info->dims[0] = rows;
  info->dims[1] = cols;
  return hr_array_finish_info(L->f.path, info);
}

int hr_csv_info(const char *path, hr_array_info_t *info) {
  lines_t L;
  HR_CHECK(lines_open(path, &L));
  int rc = scan(&L, info);
  lines_close(&L);
  return rc;
}

static int read_slice(lines_t *L, int64_t first, int64_t count, int64_t cols,
                      double *out) {
  int eof;
  HR_CHECK(first_data_line(L, &eof));
  for (int64_t row = 0; row < first + count; row++) {
    if (row > 0) HR_CHECK(next_nonblank(L, &eof));
    if (eof)
      HR_FAIL(HR_ERR_INPUT, "'%s' ends after %lld data rows; rows up to %lld "
              "were expected", L->f.path, (long long)row,
              (long long)(first + count));
    if (row >= first)
      HR_CHECK(parse_row(L, row, cols, out + (size_t)((row - first) * cols)));
  }
  return HR_OK;
}

int hr_csv_read_rows(const char *path, int64_t first, int64_t count,
                     int64_t cols, double *out) {
  if (count == 0) return HR_OK;
  lines_t L;
  HR_CHECK(lines_open(path, &L));
  int rc = read_slice(&L, first, count, cols, out);
  lines_close(&L);
  return rc;
}
