/* NumPy .npy files (format versions 1, 2 and 3; optionally gzip-compressed).
 *
 * The header is a Python dict literal, e.g.
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (37, 5), }
 * (numpy/lib/format.py).  It is parsed as a dict, not searched for
 * substrings, so key order and spacing do not matter.  Element types:
 * float32/float64, signed and unsigned integers of 1-8 bytes and bool, in
 * either byte order: big-endian ('>f8') data are byte-swapped, not
 * rejected.  Fortran-order arrays are refused (rows would not be
 * contiguous), as are structured, complex, float16 and object dtypes. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "readers.h"

enum { NPY_MAX_HEADER = 1 << 20 };

typedef struct {
  hr_elem_t elem;
  int fortran;
  int have_descr, have_fortran, have_shape;
  hr_array_info_t info;
  int64_t data_offset;
} npy_header_t;

/* ---- a tiny parser for the header dict ---------------------------------- */

typedef struct {
  const char *p, *end, *path;
} cursor_t;

static void skip_space(cursor_t *c) {
  while (c->p < c->end && isspace((unsigned char)*c->p)) c->p++;
}

static int expect(cursor_t *c, char ch) {
  skip_space(c);
  if (c->p >= c->end || *c->p != ch)
    HR_FAIL(HR_ERR_INPUT, "'%s': malformed .npy header (expected '%c')",
            c->path, ch);
  c->p++;
  return HR_OK;
}

static int parse_string(cursor_t *c, char *buf, size_t len) {
  skip_space(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
    HR_FAIL(HR_ERR_INPUT, "'%s': malformed .npy header (expected a string)",
            c->path);
  char quote = *c->p++;
  size_t n = 0;
  while (c->p < c->end && *c->p != quote) {
    if (n + 1 >= len)
      HR_FAIL(HR_ERR_INPUT, "'%s': .npy header string too long", c->path);
    buf[n++] = *c->p++;
  }
  if (c->p >= c->end)
    HR_FAIL(HR_ERR_INPUT, "'%s': malformed .npy header (open string)",
            c->path);
  c->p++;
  buf[n] = '\0';
  return HR_OK;
}

static int parse_bool(cursor_t *c, int *value) {
  skip_space(c);
  size_t left = (size_t)(c->end - c->p);
  if (left >= 4 && strncmp(c->p, "True", 4) == 0) {
    *value = 1;
    c->p += 4;
  } else if (left >= 5 && strncmp(c->p, "False", 5) == 0) {
    *value = 0;
    c->p += 5;
  } else {
    HR_FAIL(HR_ERR_INPUT, "'%s': malformed .npy header (fortran_order is "
            "not True or False)", c->path);
  }
  return HR_OK;
}

static int parse_dim(cursor_t *c, int64_t *dim) {
  skip_space(c);
  int64_t v = 0;
  if (c->p >= c->end || !isdigit((unsigned char)*c->p))
    HR_FAIL(HR_ERR_INPUT, "'%s': malformed .npy header (bad shape)", c->path);
  while (c->p < c->end && isdigit((unsigned char)*c->p)) {
    if (v > (INT64_MAX - 9) / 10)
      HR_FAIL(HR_ERR_INPUT, "'%s': a dimension in the .npy shape is too "
              "large", c->path);
    v = v * 10 + (*c->p++ - '0');
  }
  /* Python 2 era files may write long integers as 37L. */
  if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
  *dim = v;
  return HR_OK;
}

/* A tuple of non-negative integers: (), (5,), (37, 5). */
static int parse_shape(cursor_t *c, hr_array_info_t *info) {
  HR_CHECK(expect(c, '('));
  info->ndim = 0;
  for (;;) {
    skip_space(c);
    if (c->p < c->end && *c->p == ')') break;
    if (info->ndim == HR_ARRAY_MAX_DIMS)
      HR_FAIL(HR_ERR_INPUT, "'%s': too many dimensions", c->path);
    HR_CHECK(parse_dim(c, &info->dims[info->ndim++]));
    skip_space(c);
    if (c->p < c->end && *c->p == ',') c->p++;
    else if (c->p < c->end && *c->p == ')') break;
    else
      HR_FAIL(HR_ERR_INPUT, "'%s': malformed .npy header (bad shape)",
              c->path);
  }
  c->p++;
  return HR_OK;
}

/* '<f4', '>i8', '|u1', '=f8' -> element type. */
static int parse_descr(const char *path, const char *d, hr_elem_t *t) {
  char order = d[0], kind = d[0] ? d[1] : '\0';
  char *end = NULL;
  long size = kind ? strtol(d + 2, &end, 10) : 0;
  int ok_order = order == '<' || order == '>' || order == '|' || order == '=';
  int ok_kind = (kind == 'f' && (size == 4 || size == 8)) ||
                ((kind == 'i' || kind == 'u') &&
                 (size == 1 || size == 2 || size == 4 || size == 8)) ||
                (kind == 'b' && size == 1);
  if (!ok_order || !ok_kind || !end || *end != '\0')
    HR_FAIL(HR_ERR_INPUT, "'%s' has dtype '%s'; hessrmt reads float32, "
            "float64, integer and bool arrays (convert with "
            "numpy.asarray(a, dtype='<f8'))", path, d);
  t->kind = kind;
  t->size = (int)size;
  t->big_endian = order == '>';
  if (order == '=' || order == '|') {  /* native: whatever this host is */
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    t->big_endian = b == 0;
  }
  return HR_OK;
}

static int parse_entry(cursor_t *c, npy_header_t *h) {
  char key[64], value[64];
  HR_CHECK(parse_string(c, key, sizeof key));
  HR_CHECK(expect(c, ':'));
  if (strcmp(key, "descr") == 0) {
    skip_space(c);
    if (c->p < c->end && *c->p == '[')
      HR_FAIL(HR_ERR_INPUT, "'%s' holds a structured array; hessrmt reads "
              "plain numeric arrays", c->path);
    HR_CHECK(parse_string(c, value, sizeof value));
    HR_CHECK(parse_descr(c->path, value, &h->elem));
    h->have_descr = 1;
  } else if (strcmp(key, "fortran_order") == 0) {
    HR_CHECK(parse_bool(c, &h->fortran));
    h->have_fortran = 1;
  } else if (strcmp(key, "shape") == 0) {
    HR_CHECK(parse_shape(c, &h->info));
    h->have_shape = 1;
  } else {
    HR_FAIL(HR_ERR_INPUT, "'%s': unexpected key '%s' in the .npy header",
            c->path, key);
  }
  return HR_OK;
}

static int parse_dict(const char *path, const char *text, size_t len,
                      npy_header_t *h) {
  cursor_t c = {text, text + len, path};
  HR_CHECK(expect(&c, '{'));
  for (;;) {
    skip_space(&c);
    if (c.p < c.end && *c.p == '}') break;
    HR_CHECK(parse_entry(&c, h));
    skip_space(&c);
    if (c.p < c.end && *c.p == ',') c.p++;
    else if (c.p < c.end && *c.p == '}') break;
    else HR_FAIL(HR_ERR_INPUT, "'%s': malformed .npy header dict", path);
  }
  if (!h->have_descr || !h->have_fortran || !h->have_shape)
    HR_FAIL(HR_ERR_INPUT, "'%s': the .npy header lacks descr, fortran_order "
            "or shape", path);
  if (h->fortran)
    HR_FAIL(HR_ERR_INPUT, "'%s' is stored in Fortran (column-major) order, "
            "so its rows are not contiguous; save it with "
            "numpy.save(path, numpy.ascontiguousarray(a))", path);
  return HR_OK;
}

/* ---- the file ------------------------------------------------------------ */

/* Magic, version and header length; leaves the stream at the dict. */
static int read_preamble(hr_infile_t *f, uint32_t *hlen, int64_t *offset) {
  unsigned char pre[12];
  const char *what = "the .npy magic (an empty or non-NumPy file?)";
  HR_CHECK(hr_infile_read(f, pre, 10, what));
  if (memcmp(pre, "\x93NUMPY", 6) != 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' is not a NumPy .npy file (bad magic)",
            f->path);
  if (pre[6] == 1) {
    *hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
    *offset = 10 + (int64_t)*hlen;
  } else if (pre[6] == 2 || pre[6] == 3) {
    HR_CHECK(hr_infile_read(f, pre + 10, 2, "the .npy header length"));
    *hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 |
            (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    *offset = 12 + (int64_t)*hlen;
  } else {
    HR_FAIL(HR_ERR_INPUT, "'%s': unsupported .npy format version %d",
            f->path, pre[6]);
  }
  if (*hlen > NPY_MAX_HEADER)
    HR_FAIL(HR_ERR_INPUT, "'%s': implausible .npy header length %u",
            f->path, *hlen);
  return HR_OK;
}

static int read_header(hr_infile_t *f, npy_header_t *h) {
  memset(h, 0, sizeof *h);
  uint32_t hlen = 0;
  HR_CHECK(read_preamble(f, &hlen, &h->data_offset));
  char *text = malloc(hlen + 1u);
  if (!text) HR_FAIL(HR_ERR_MEMORY, "out of memory for a .npy header");
  int rc = hr_infile_read(f, text, hlen, "the .npy header");
  if (rc == HR_OK) {
    text[hlen] = '\0';
    rc = parse_dict(f->path, text, hlen, h);
  }
  free(text);
  HR_CHECK(rc);
  HR_CHECK(hr_array_finish_info(f->path, &h->info));
  return hr_infile_check_size(f, h->data_offset, h->elem, &h->info);
}

/* The npy/IDX-independent part of the header, for the shared reader. */
static int read_layout(hr_infile_t *f, hr_binary_layout_t *out) {
  npy_header_t h;
  HR_CHECK(read_header(f, &h));
  out->elem = h.elem;
  out->info = h.info;
  out->data_offset = h.data_offset;
  return HR_OK;
}

int hr_npy_info(const char *path, hr_array_info_t *info) {
  return hr_binary_info(path, read_layout, info);
}

int hr_npy_read_rows(const char *path, int64_t first, int64_t count,
                    double *out) {
  return hr_binary_read_rows(path, read_layout, first, count, out);
}
