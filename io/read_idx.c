/* IDX files, the format of MNIST and Fashion-MNIST (LeCun et al.,
 * http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the
 * number of dimensions, then one big-endian uint32 per dimension and the
 * data, big-endian, row-major.  Images (magic 0x00000803: uint8,
 * n x rows x cols) become n rows of rows*cols features; labels (magic
 * 0x00000801) are n x 1.  The other IDX type codes are read as well.  The
 * files usually ship gzip-compressed; readers.h says how .gz is sliced. */
#include <string.h>

#include "hessrmt/error.h"
#include "readers.h"

typedef struct {
  hr_elem_t elem;
  hr_array_info_t info;
  int64_t data_offset;
} idx_header_t;

static int elem_of_code(const char *path, int code, hr_elem_t *t) {
  t->big_endian = 1;
  switch (code) {
    case 0x08: t->kind = 'u'; t->size = 1; return HR_OK;
    case 0x09: t->kind = 'i'; t->size = 1; return HR_OK;
    case 0x0B: t->kind = 'i'; t->size = 2; return HR_OK;
    case 0x0C: t->kind = 'i'; t->size = 4; return HR_OK;
    case 0x0D: t->kind = 'f'; t->size = 4; return HR_OK;
    case 0x0E: t->kind = 'f'; t->size = 8; return HR_OK;
    default:
      HR_FAIL(HR_ERR_INPUT, "'%s' is not an IDX file (unknown type code "
              "0x%02x)", path, code);
  }
}

static int read_header(hr_infile_t *f, idx_header_t *h) {
  memset(h, 0, sizeof *h);
  unsigned char magic[4];
  HR_CHECK(hr_infile_read(f, magic, 4, "the IDX magic (an empty file?)"));
  if (magic[0] != 0 || magic[1] != 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' is not an IDX file (magic %02x%02x%02x%02x)",
            f->path, magic[0], magic[1], magic[2], magic[3]);
  HR_CHECK(elem_of_code(f->path, magic[2], &h->elem));
  h->info.ndim = magic[3];
  if (h->info.ndim < 1 || h->info.ndim > HR_ARRAY_MAX_DIMS)
    HR_FAIL(HR_ERR_INPUT, "'%s': IDX header gives %d dimensions", f->path,
            h->info.ndim);
  unsigned char be[4 * HR_ARRAY_MAX_DIMS];
  HR_CHECK(hr_infile_read(f, be, (size_t)(4 * h->info.ndim),
                          "the IDX dimensions"));
  for (int d = 0; d < h->info.ndim; d++) {
    const unsigned char *b = be + 4 * d;
    h->info.dims[d] = (int64_t)((uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
                                (uint32_t)b[2] << 8 | (uint32_t)b[3]);
  }
  h->data_offset = 4 + 4 * (int64_t)h->info.ndim;
  HR_CHECK(hr_array_finish_info(f->path, &h->info));
  return hr_infile_check_size(f, h->data_offset, h->elem, &h->info);
}

/* The npy/IDX-independent part of the header, for the shared reader. */
static int read_layout(hr_infile_t *f, hr_binary_layout_t *out) {
  idx_header_t h;
  HR_CHECK(read_header(f, &h));
  out->elem = h.elem;
  out->info = h.info;
  out->data_offset = h.data_offset;
  return HR_OK;
}

int hr_idx_info(const char *path, hr_array_info_t *info) {
  return hr_binary_info(path, read_layout, info);
}

int hr_idx_read_rows(const char *path, int64_t first, int64_t count,
                    double *out) {
  return hr_binary_read_rows(path, read_layout, first, count, out);
}
