/* hessrmt merge: join the spectra files of one `hessian` job that was split
 * into disjoint batch ranges (--first-batch / --max-batches, e.g. the tasks
 * of a job array) into one file, in batch order.  Serial, on rank 0.
 *
 * What must agree before rows from different files may sit in one file:
 *   - every file is finished: not a FILE.partial, every rows_done set;
 *   - the command is `hessian` with --batch-size B (ensembles are refused:
 *     member k is drawn from (seed, k), so two ensemble files are either the
 *     same members again or draws of another seed, never the next members
 *     of one run; a whole-dataset Hessian is one spectrum and has no parts);
 *   - the root attributes that describe the problem: model, data, part,
 *     method_used, n (N), parameters, data_rows, features, classes,
 *     batch_size;
 *   - every option the file's `identity` attribute lists (the options that
 *     change the numbers, the same list --resume checks: data and
 *     preprocessing, seeds, model, weights, loss, part, method, reduction,
 *     solver, precision, ...), compared through the options/ group, except
 *     --first-batch and --max-batches, which are what the parts differ in.
 *     Options outside the identity (groups, grid, nblk, max-mem, output,
 *     statistics) change the layout or the report, not the spectra, and
 *     may differ; each part's own values are kept under parts/<k>.
 * The batch ranges [first_row / B, + rows) must not overlap; gaps are
 * allowed and reported, and /batch_index gives each row's batch. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hessrmt/options.h"
#include "hessrmt/context.h"
#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "hessrmt/output.h"
#include "hessrmt/version.h"

enum { MAX_CHECKS = 16, MAX_ATTRS = 256, NAME_LEN = 128, IDENTITY_LEN = 8192 };

typedef struct {
  const char *path;
  hid_t file, options;
  int64_t rows, cols, n, first_row, batch_size, first_batch;
  int single;                  /* hessian_evals stored as float32 */
  char identity[IDENTITY_LEN]; /* without first-batch and max-batches */
  char full_identity[IDENTITY_LEN];
} merge_part_t;

typedef struct {
  merge_part_t *parts;  /* sorted into batch order */
  int count;
  int64_t total_rows, gaps;
  char checks[MAX_CHECKS][NAME_LEN];
  int nchecks;
} merge_t;

#define MERGE_H5(call, ...)                                                   \
  do {                                                                        \
    if ((call) < 0) {                                                         \
      char mh_why_[256], mh_what_[4608];                                      \
      hr_h5_reason(mh_why_);                                                  \
      snprintf(mh_what_, sizeof mh_what_, __VA_ARGS__);                       \
      HR_FAIL(HR_ERR_IO, "%s: %s", mh_what_, mh_why_);                        \
    }                                                                         \
  } while (0)

static int ends_with(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* ---- reading one part -------------------------------------------------- */

static int str_attr(const merge_part_t *p, hid_t loc, const char *name,
                    char *buf, size_t len) {
  if (hr_h5_read_string_attr(loc, name, buf, len) != HR_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", hr_error_message());
    HR_FAIL(HR_ERR_INPUT, "'%s': %s", p->path, msg);
  }
  return HR_OK;
}

static int int_attr(const merge_part_t *p, const char *name, int64_t *v) {
  if (H5Aexists(p->file, name) <= 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' has no attribute '%s': not a finished "
            "spectra file of 'hessrmt hessian'", p->path, name);
  hid_t a = H5Aopen(p->file, name, H5P_DEFAULT);
  herr_t st = a >= 0 ? H5Aread(a, H5T_NATIVE_INT64, v) : -1;
  if (a >= 0) H5Aclose(a);
  if (st < 0)
    HR_FAIL(HR_ERR_INPUT, "'%s': cannot read attribute '%s' as an integer",
            p->path, name);
  return HR_OK;
}

static int open_part(const char *path, merge_part_t *p) {
  p->path = path;
  if (ends_with(path, ".partial"))
    HR_FAIL(HR_ERR_INPUT, "'%s' is the partial file of an unfinished run: "
            "finish it with --resume (the finished file loses the .partial) "
            "and merge that", path);
  char partial[4200];
  snprintf(partial, sizeof partial, "%s.partial", path);
  if (access(path, F_OK) != 0 && access(partial, F_OK) == 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' does not exist but '%s' does: that run has "
            "not finished; finish it with --resume and merge again", path,
            partial);
  p->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (p->file < 0)
    HR_FAIL(HR_ERR_IO, "cannot open '%s' as an HDF5 file (missing, "
            "unreadable or not HDF5)", path);
  return HR_OK;
}

static int check_command(const merge_part_t *p) {
  char cmd[64];
  HR_CHECK(str_attr(p, p->file, "command", cmd, sizeof cmd));
  if (!cmd[0])
    HR_FAIL(HR_ERR_INPUT, "'%s' has no attribute 'command': not a spectra "
            "file written by 'hessrmt hessian'", p->path);
  if (strcmp(cmd, "ensemble") == 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' is an ensemble file (command 'ensemble'): "
            "ensembles cannot be merged, since member k is drawn from (seed, "
            "k) and another file holds the same members again or another "
            "seed's; run one ensemble with a larger --count instead",
            p->path);
  if (strcmp(cmd, "hessian") != 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' was written by 'hessrmt %s': only the batch "
            "spectra of 'hessrmt hessian' can be merged", p->path, cmd);
  return HR_OK;
}

/* hessian_evals: its shape and stored precision. */
static int read_shape(merge_part_t *p) {
  /* The Lanczos estimates are not carried into a merged file (yet):
   * refuse rather than drop them. */
  if (H5Lexists(p->file, "slq_nodes", H5P_DEFAULT) > 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' holds --slq estimates (slq_nodes, slq_weights), "
            "which merge does not carry over yet: merge spectra without --slq, "
            "or use the parts' own statistics", p->path);
  if (H5Lexists(p->file, "hessian_evecs", H5P_DEFAULT) > 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' holds --eigenvectors (hessian_evecs), which "
            "merge does not carry over yet: merge spectra without "
            "--eigenvectors, or use the parts' own statistics", p->path);
  hid_t d = H5Dopen2(p->file, "hessian_evals", H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_INPUT, "'%s' has no dataset 'hessian_evals'", p->path);
  hid_t space = H5Dget_space(d), type = H5Dget_type(d);
  hsize_t dims[2] = {0, 0};
  int rank = H5Sget_simple_extent_ndims(space);
  if (rank == 2) H5Sget_simple_extent_dims(space, dims, NULL);
  int is_float = H5Tget_class(type) == H5T_FLOAT;
  p->single = H5Tget_size(type) == 4;
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(d);
  if (rank != 2 || !is_float)
    HR_FAIL(HR_ERR_INPUT, "'%s': dataset 'hessian_evals' is not a 2-D array "
            "of floating-point numbers", p->path);
  p->rows = (int64_t)dims[0];
  p->cols = (int64_t)dims[1];
  return HR_OK;
}

/* Every row finished: rows_done all set. */
static int check_done(const merge_part_t *p) {
  hid_t d = H5Dopen2(p->file, "rows_done", H5P_DEFAULT);
  if (d < 0) HR_FAIL(HR_ERR_INPUT, "'%s' has no dataset 'rows_done': not a "
                     "spectra file of 'hessrmt hessian'", p->path);
  hid_t space = H5Dget_space(d);
  hssize_t count = H5Sget_simple_extent_npoints(space);
  H5Sclose(space);
  unsigned char *done = count == p->rows ? malloc((size_t)(count ? count : 1)) : NULL;
  herr_t st = done ? H5Dread(d, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL,
                             H5P_DEFAULT, done) : -1;
  H5Dclose(d);
  int64_t missing = 0, first = -1;
  for (int64_t r = 0; st >= 0 && r < p->rows; r++)
    if (!done[r] && missing++ == 0) first = r;
  free(done);
  if (st < 0)
    HR_FAIL(HR_ERR_INPUT, "'%s': cannot read 'rows_done' (%lld values for "
            "%lld rows)", p->path, (long long)count, (long long)p->rows);
  if (missing)
    HR_FAIL(HR_ERR_INPUT, "'%s' is incomplete: %lld of its %lld rows are not "
            "finished (rows_done; the first is row %lld); finish the run with "
            "--resume before merging", p->path, (long long)missing,
            (long long)p->rows, (long long)first);
  return HR_OK;
}

/* The identity with its first-batch and max-batches entries left out
 * (first == NULL), or with their values replaced, in place. */
static void rewrite_range(const char *identity, const char *first,
                          const char *max, char *out, size_t len) {
  size_t used = 0;
  out[0] = '\0';
  for (const char *s = identity; *s;) {
    const char *end = strchr(s, ';');
    int n = end ? (int)(end - s) : (int)strlen(s);
    const char *value = NULL;
    if (strncmp(s, "first-batch=", 12) == 0) value = first ? first : "";
    if (strncmp(s, "max-batches=", 12) == 0) value = first ? max : "";
    int w = 0;
    if (!value)
      w = snprintf(out + used, len - used, "%s%.*s", used ? ";" : "", n, s);
    else if (*value)
      w = snprintf(out + used, len - used, "%s%.12s%s", used ? ";" : "", s,
                   value);
    if (w > 0 && (size_t)w < len - used) used += (size_t)w;
    s += n + (end ? 1 : 0);
  }
}

static int read_range(merge_part_t *p) {
  char batch[64];
  p->options = H5Gopen2(p->file, "options", H5P_DEFAULT);
  if (p->options < 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' has no group 'options': not a spectra file "
            "of 'hessrmt hessian'", p->path);
  HR_CHECK(str_attr(p, p->options, "batch-size", batch, sizeof batch));
  if (strcmp(batch, "all") == 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' holds the whole-dataset Hessian (--batch-size "
            "all): only batch spectra (--batch-size B) split into batch "
            "ranges can be merged", p->path);
  HR_CHECK(int_attr(p, "n", &p->n));
  if (p->n != p->cols)
    HR_FAIL(HR_ERR_INPUT, "'%s': 'hessian_evals' has %lld columns but "
            "attribute 'n' is %lld", p->path, (long long)p->cols,
            (long long)p->n);
  HR_CHECK(int_attr(p, "batch_size", &p->batch_size));
  HR_CHECK(int_attr(p, "first_row", &p->first_row));
  if (p->batch_size <= 0 || p->first_row < 0 || p->first_row % p->batch_size)
    HR_FAIL(HR_ERR_INPUT, "'%s': attribute 'first_row' (%lld) is not a "
            "multiple of 'batch_size' (%lld)", p->path,
            (long long)p->first_row, (long long)p->batch_size);
  p->first_batch = p->first_row / p->batch_size;
  HR_CHECK(str_attr(p, p->file, "identity", p->full_identity,
                    sizeof p->full_identity));
  if (!p->full_identity[0])
    HR_FAIL(HR_ERR_INPUT, "'%s' has no attribute 'identity': not a spectra "
            "file of 'hessrmt hessian'", p->path);
  rewrite_range(p->full_identity, NULL, NULL, p->identity, sizeof p->identity);
  return HR_OK;
}

/* A merged file is a valid part only if its batches are consecutive: the
 * ordering, overlap checks and batch_index here assume each part holds
 * batches first_batch, first_batch + 1, ... */
static int check_consecutive(const merge_part_t *p) {
  if (H5Lexists(p->file, "batch_index", H5P_DEFAULT) <= 0) return HR_OK;
  hid_t d = H5Dopen2(p->file, "batch_index", H5P_DEFAULT);
  int64_t *b = p->rows > 0 ? malloc((size_t)p->rows * sizeof *b) : NULL;
  herr_t st = d >= 0 && b ? H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL,
                                    H5P_DEFAULT, b) : -1;
  if (d >= 0) H5Dclose(d);
  int64_t gap = -1;
  for (int64_t r = 1; st >= 0 && r < p->rows && gap < 0; r++)
    if (b[r] != b[r - 1] + 1) gap = r;
  free(b);
  if (st < 0) HR_FAIL(HR_ERR_INPUT, "'%s': cannot read its batch_index", p->path);
  if (gap >= 0)
    HR_FAIL(HR_ERR_INPUT, "'%s' is a merge with a gap in its batches (row %lld): "
            "merge the original parts instead", p->path, (long long)gap);
  return HR_OK;
}

static int load_part(const char *path, merge_part_t *p) {
  HR_CHECK(open_part(path, p));
  HR_CHECK(check_command(p));
  HR_CHECK(read_shape(p));
  HR_CHECK(check_done(p));
  HR_CHECK(check_consecutive(p));
  return read_range(p);
}

static void close_part(merge_part_t *p) {
  if (p->options >= 0) H5Gclose(p->options);
  if (p->file >= 0) H5Fclose(p->file);
  p->options = p->file = H5I_INVALID_HID;
}

/* ---- agreement --------------------------------------------------------- */

static const char *const same_strings[] = {"model", "data", "part",
                                           "method_used"};
static const char *const same_ints[] = {"n", "parameters", "data_rows",
                                        "features", "classes", "batch_size"};

static int compare_attrs(const merge_part_t *a, const merge_part_t *b) {
  for (size_t i = 0; i < sizeof same_strings / sizeof *same_strings; i++) {
    char va[1024], vb[1024];
    HR_CHECK(str_attr(a, a->file, same_strings[i], va, sizeof va));
    HR_CHECK(str_attr(b, b->file, same_strings[i], vb, sizeof vb));
    if (strcmp(va, vb) != 0)
      HR_FAIL(HR_ERR_INPUT, "cannot merge '%s' with '%s': attribute '%s' "
              "differs ('%s' against '%s')", b->path, a->path,
              same_strings[i], vb, va);
  }
  for (size_t i = 0; i < sizeof same_ints / sizeof *same_ints; i++) {
    int64_t va, vb;
    HR_CHECK(int_attr(a, same_ints[i], &va));
    HR_CHECK(int_attr(b, same_ints[i], &vb));
    if (va != vb)
      HR_FAIL(HR_ERR_INPUT, "cannot merge '%s' with '%s': attribute '%s' "
              "differs (%lld against %lld)", b->path, a->path, same_ints[i],
              (long long)vb, (long long)va);
  }
  return HR_OK;
}

/* Name the first identity option whose options/ value differs. */
static int compare_identity(const merge_part_t *a, const merge_part_t *b) {
  if (strcmp(a->identity, b->identity) == 0) return HR_OK;
  char names[IDENTITY_LEN];
  snprintf(names, sizeof names, "%s", a->identity);
  for (char *save = NULL, *tok = strtok_r(names, ";", &save); tok;
       tok = strtok_r(NULL, ";", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq || strncmp(tok, "command=", 8) == 0) continue;
    *eq = '\0';
    char va[2048], vb[2048];
    HR_CHECK(str_attr(a, a->options, tok, va, sizeof va));
    HR_CHECK(str_attr(b, b->options, tok, vb, sizeof vb));
    if (strcmp(va, vb) != 0)
      HR_FAIL(HR_ERR_INPUT, "cannot merge '%s' with '%s': option --%s "
              "differs ('%s' against '%s'); every option that defines the "
              "result (the files' 'identity' attribute) must agree, only "
              "--first-batch and --max-batches may differ", b->path, a->path,
              tok, vb, va);
  }
  HR_FAIL(HR_ERR_INPUT, "cannot merge '%s' with '%s': attribute 'identity' "
          "differs ('%s' against '%s', first-batch and max-batches left out)",
          b->path, a->path, b->identity, a->identity);
}

static herr_t add_name(hid_t g, const char *name, const H5L_info_t *info,
                       void *data) {
  (void)g; (void)info;
  merge_t *m = data;
  if (m->nchecks >= MAX_CHECKS) return -1;
  snprintf(m->checks[m->nchecks++], NAME_LEN, "%s", name);
  return 0;
}

/* The check datasets of the first part; every part must have them. */
static int list_checks(merge_t *m) {
  const merge_part_t *p0 = &m->parts[0];
  m->nchecks = 0;
  if (H5Lexists(p0->file, "checks", H5P_DEFAULT) <= 0) return HR_OK;
  hid_t g = H5Gopen2(p0->file, "checks", H5P_DEFAULT);
  hsize_t idx = 0;
  herr_t st = g >= 0 ? H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx,
                                  add_name, m) : -1;
  if (g >= 0) H5Gclose(g);
  if (st < 0)
    HR_FAIL(HR_ERR_INPUT, "'%s': cannot list group 'checks' (at most %d "
            "datasets)", p0->path, MAX_CHECKS);
  for (int k = 1; k < m->count; k++)
    for (int c = 0; c < m->nchecks; c++) {
      char path[NAME_LEN + 8];
      snprintf(path, sizeof path, "checks/%s", m->checks[c]);
      if (H5Lexists(m->parts[k].file, "checks", H5P_DEFAULT) <= 0 ||
          H5Lexists(m->parts[k].file, path, H5P_DEFAULT) <= 0)
        HR_FAIL(HR_ERR_INPUT, "cannot merge '%s' with '%s': it has no "
                "dataset '%s'", m->parts[k].path, p0->path, path);
    }
  return HR_OK;
}

static int agree(merge_t *m) {
  const merge_part_t *a = &m->parts[0];
  for (int k = 1; k < m->count; k++) {
    const merge_part_t *b = &m->parts[k];
    HR_CHECK(compare_attrs(a, b));
    HR_CHECK(compare_identity(a, b));
    if (a->single != b->single)
      HR_FAIL(HR_ERR_INPUT, "cannot merge '%s' with '%s': 'hessian_evals' "
              "is float%d in one and float%d in the other", b->path, a->path,
              b->single ? 32 : 64, a->single ? 32 : 64);
  }
  return list_checks(m);
}

/* ---- batch order ------------------------------------------------------- */

static int by_first_batch(const void *x, const void *y) {
  const merge_part_t *a = x, *b = y;
  if (a->first_batch != b->first_batch)
    return a->first_batch < b->first_batch ? -1 : 1;
  return strcmp(a->path, b->path);
}

static int order_parts(merge_t *m, FILE *out) {
  qsort(m->parts, (size_t)m->count, sizeof *m->parts, by_first_batch);
  m->total_rows = m->parts[0].rows;
  m->gaps = 0;
  for (int k = 1; k < m->count; k++) {
    const merge_part_t *prev = &m->parts[k - 1], *p = &m->parts[k];
    int64_t prev_end = prev->first_batch + prev->rows;
    if (p->first_batch < prev_end)
      HR_FAIL(HR_ERR_INPUT, "cannot merge: batches %lld-%lld of '%s' overlap "
              "batches %lld-%lld of '%s' (the parts' batch ranges must be "
              "disjoint)", (long long)p->first_batch,
              (long long)(p->first_batch + p->rows - 1), p->path,
              (long long)prev->first_batch, (long long)(prev_end - 1),
              prev->path);
    if (p->first_batch > prev_end) {
      fprintf(out, "note: batches %lld-%lld are in none of the files (between "
              "'%s' and '%s'); /batch_index gives each row's batch\n",
              (long long)prev_end, (long long)(p->first_batch - 1),
              prev->path, p->path);
      m->gaps += p->first_batch - prev_end;
    }
    m->total_rows += p->rows;
  }
  return HR_OK;
}

/* "0-5" or "0-1,4-5": the batches present. */
static void describe_ranges(const merge_t *m, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = '\0';
  for (int k = 0; k < m->count; k++) {
    int64_t lo = m->parts[k].first_batch, hi = lo + m->parts[k].rows - 1;
    while (k + 1 < m->count && m->parts[k + 1].first_batch == hi + 1)
      hi += m->parts[++k].rows;
    int n = snprintf(buf + used, len - used, "%s%lld-%lld", used ? "," : "",
                     (long long)lo, (long long)hi);
    if (n < 0 || (size_t)n >= len - used) break;
    used += (size_t)n;
  }
}

/* ---- attributes, copied whatever their type ---------------------------- */

typedef struct {
  hid_t type, space;
  size_t bytes;
  void *buf;
} raw_attr_t;

static void raw_free(raw_attr_t *r) {
  if (r->buf && (H5Tis_variable_str(r->type) > 0 ||
                 H5Tdetect_class(r->type, H5T_VLEN) > 0))
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(r->type, r->space, H5P_DEFAULT, r->buf);
#else
    H5Dvlen_reclaim(r->type, r->space, H5P_DEFAULT, r->buf);
#endif
  free(r->buf);
  if (r->type >= 0) H5Tclose(r->type);
  if (r->space >= 0) H5Sclose(r->space);
  r->buf = NULL;
  r->type = r->space = H5I_INVALID_HID;
}

static int raw_read(hid_t loc, const char *name, raw_attr_t *r) {
  r->buf = NULL;
  r->type = r->space = H5I_INVALID_HID;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  MERGE_H5(a, "cannot open attribute '%s'", name);
  r->type = H5Aget_type(a);
  r->space = H5Aget_space(a);
  hssize_t npoints = H5Sget_simple_extent_npoints(r->space);
  r->bytes = H5Tget_size(r->type) * (size_t)(npoints > 0 ? npoints : 1);
  r->buf = calloc(r->bytes, 1);
  herr_t st = r->buf ? H5Aread(a, r->type, r->buf) : -1;
  H5Aclose(a);
  if (st < 0) {
    free(r->buf);
    r->buf = NULL;
    raw_free(r);
    HR_FAIL(HR_ERR_IO, "cannot read attribute '%s'", name);
  }
  return HR_OK;
}

static int raw_write(hid_t loc, const char *name, const raw_attr_t *r) {
  if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
  hid_t a = H5Acreate2(loc, name, r->type, r->space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = a >= 0 ? H5Awrite(a, r->type, r->buf) : -1;
  if (a >= 0) H5Aclose(a);
  MERGE_H5(st, "cannot write attribute '%s'", name);
  return HR_OK;
}

static int copy_attr(hid_t src, const char *name, hid_t dst) {
  raw_attr_t r;
  HR_CHECK(raw_read(src, name, &r));
  int rc = raw_write(dst, name, &r);
  raw_free(&r);
  return rc;
}

static int raw_equal(const raw_attr_t *a, const raw_attr_t *b) {
  if (H5Tequal(a->type, b->type) <= 0 || a->bytes != b->bytes) return 0;
  if (H5Tis_variable_str(a->type) > 0) {
    size_t n = a->bytes / sizeof(char *);
    char *const *sa = a->buf, *const *sb = b->buf;
    for (size_t i = 0; i < n; i++)
      if (strcmp(sa[i] ? sa[i] : "", sb[i] ? sb[i] : "") != 0) return 0;
    return 1;
  }
  if (H5Tdetect_class(a->type, H5T_VLEN) > 0) return 0;
  return memcmp(a->buf, b->buf, a->bytes) == 0;
}

/* Whether attribute `name` has one value in every part. */
static int same_everywhere(const merge_t *m, const char *name, int *same) {
  *same = 0;
  raw_attr_t first;
  HR_CHECK(raw_read(m->parts[0].file, name, &first));
  int rc = HR_OK, all = 1;
  for (int k = 1; all && rc == HR_OK && k < m->count; k++) {
    if (H5Aexists(m->parts[k].file, name) <= 0) { all = 0; break; }
    raw_attr_t other;
    rc = raw_read(m->parts[k].file, name, &other);
    if (rc == HR_OK) { all = raw_equal(&first, &other); raw_free(&other); }
  }
  raw_free(&first);
  *same = all;
  return rc;
}

/* Maxima over ranks (peak memory, worst self-check) stay maxima over parts,
 * stored with the first part's type. */
static int write_max(const merge_t *m, const char *name, hid_t dst) {
  double best = NAN;
  for (int k = 0; k < m->count; k++) {
    double v = NAN;
    if (H5Aexists(m->parts[k].file, name) <= 0) return HR_OK;
    hid_t a = H5Aopen(m->parts[k].file, name, H5P_DEFAULT);
    herr_t st = a >= 0 ? H5Aread(a, H5T_NATIVE_DOUBLE, &v) : -1;
    if (a >= 0) H5Aclose(a);
    if (st < 0) return HR_OK;  /* not a number: left out */
    best = fmax(best, v);
  }
  hid_t src = H5Aopen(m->parts[0].file, name, H5P_DEFAULT);
  hid_t type = src >= 0 ? H5Aget_type(src) : H5I_INVALID_HID;
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = type >= 0 ? H5Acreate2(dst, name, type, space, H5P_DEFAULT,
                                   H5P_DEFAULT) : H5I_INVALID_HID;
  herr_t st = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &best) : -1;
  if (a >= 0) H5Aclose(a);
  if (type >= 0) H5Tclose(type);
  if (src >= 0) H5Aclose(src);
  H5Sclose(space);
  MERGE_H5(st, "cannot write attribute '%s'", name);
  return HR_OK;
}

typedef struct {
  char names[MAX_ATTRS][NAME_LEN];
  int count;
} name_list_t;

static herr_t add_attr_name(hid_t loc, const char *name,
                            const H5A_info_t *info, void *data) {
  (void)loc; (void)info;
  name_list_t *l = data;
  if (l->count >= MAX_ATTRS) return -1;
  snprintf(l->names[l->count++], NAME_LEN, "%s", name);
  return 0;
}

static int list_attrs(hid_t loc, const char *what, name_list_t *l) {
  l->count = 0;
  hsize_t idx = 0;
  if (H5Aiterate2(loc, H5_INDEX_NAME, H5_ITER_INC, &idx, add_attr_name, l) < 0)
    HR_FAIL(HR_ERR_IO, "cannot list the attributes of %s (at most %d)",
            what, MAX_ATTRS);
  return HR_OK;
}

static int copy_all_attrs(hid_t src, const char *what, hid_t dst) {
  name_list_t *l = malloc(sizeof *l);
  if (!l) HR_FAIL(HR_ERR_MEMORY, "out of memory listing attributes");
  int rc = list_attrs(src, what, l);
  for (int i = 0; rc == HR_OK && i < l->count; i++)
    rc = copy_attr(src, l->names[i], dst);
  free(l);
  return rc;
}

/* ---- writing ----------------------------------------------------------- */

static int write_evals(const merge_t *m, hid_t out) {
  const merge_part_t *p0 = &m->parts[0];
  hsize_t dims[2] = {(hsize_t)m->total_rows, (hsize_t)p0->n};
  hid_t space = H5Screate_simple(2, dims, NULL);
  hid_t d = H5Dcreate2(out, "hessian_evals",
                       p0->single ? H5T_IEEE_F32LE : H5T_IEEE_F64LE, space,
                       H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (d < 0) H5Sclose(space);
  MERGE_H5(d, "cannot create dataset 'hessian_evals'");
  int rc = HR_OK;
  hsize_t row = 0;
  for (int k = 0; rc == HR_OK && k < m->count; k++) {
    const merge_part_t *p = &m->parts[k];
    hsize_t count[2] = {(hsize_t)p->rows, (hsize_t)p->n}, start[2] = {row, 0};
    double *buf = malloc((size_t)(p->rows * p->n > 0 ? p->rows * p->n : 1) *
                         sizeof *buf);
    hid_t in = H5Dopen2(p->file, "hessian_evals", H5P_DEFAULT);
    hid_t mem = H5Screate_simple(2, count, NULL);
    herr_t st = buf && in >= 0 ? H5Dread(in, H5T_NATIVE_DOUBLE, H5S_ALL,
                                         H5S_ALL, H5P_DEFAULT, buf) : -1;
    if (st < 0)
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot read 'hessian_evals' of '%s'", p->path);
    else if (p->rows > 0 &&
             (H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count,
                                  NULL) < 0 ||
              H5Dwrite(d, H5T_NATIVE_DOUBLE, mem, space, H5P_DEFAULT, buf) < 0))
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot write the rows of '%s'", p->path);
    if (in >= 0) H5Dclose(in);
    H5Sclose(mem);
    free(buf);
    row += (hsize_t)p->rows;
  }
  H5Dclose(d);
  H5Sclose(space);
  return rc;
}

/* rows_done (all finished) and batch_index (each row's batch number). */
static int write_rows(const merge_t *m, hid_t out) {
  hsize_t dims[1] = {(hsize_t)m->total_rows};
  unsigned char *done = malloc((size_t)(m->total_rows ? m->total_rows : 1));
  int64_t *batch = malloc((size_t)(m->total_rows ? m->total_rows : 1) *
                          sizeof *batch);
  int rc = done && batch ? HR_OK
                         : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__,
                                        __func__, "out of memory for %lld rows",
                                        (long long)m->total_rows);
  int64_t r = 0;
  for (int k = 0; rc == HR_OK && k < m->count; k++)
    for (int64_t i = 0; i < m->parts[k].rows; i++, r++) {
      done[r] = 1;
      batch[r] = m->parts[k].first_batch + i;
    }
  const struct { const char *name; hid_t file_type, mem_type; const void *v; }
      sets[] = {{"rows_done", H5T_STD_U8LE, H5T_NATIVE_UCHAR, done},
                {"batch_index", H5T_STD_I64LE, H5T_NATIVE_INT64, batch}};
  for (size_t s = 0; rc == HR_OK && s < 2; s++) {
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(out, sets[s].name, sets[s].file_type, space,
                         H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = d >= 0 ? H5Dwrite(d, sets[s].mem_type, H5S_ALL, H5S_ALL,
                                  H5P_DEFAULT, sets[s].v) : -1;
    if (d >= 0) H5Dclose(d);
    H5Sclose(space);
    if (st < 0)
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot write dataset '%s'", sets[s].name);
  }
  free(done);
  free(batch);
  return rc;
}

static int write_one_check(const merge_t *m, const char *name, hid_t g,
                           double *all) {
  char path[NAME_LEN + 8];
  snprintf(path, sizeof path, "checks/%s", name);
  int64_t r = 0;
  for (int k = 0; k < m->count; k++) {
    const merge_part_t *p = &m->parts[k];
    hid_t d = H5Dopen2(p->file, path, H5P_DEFAULT);
    hid_t space = d >= 0 ? H5Dget_space(d) : H5I_INVALID_HID;
    hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    herr_t st = n == p->rows ? H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                                       H5P_DEFAULT, all + r) : -1;
    if (space >= 0) H5Sclose(space);
    if (d >= 0) H5Dclose(d);
    if (st < 0)
      HR_FAIL(HR_ERR_INPUT, "'%s': cannot read '%s' as %lld numbers",
              p->path, path, (long long)p->rows);
    r += p->rows;
  }
  hsize_t dims[1] = {(hsize_t)m->total_rows};
  MERGE_H5(hr_h5_write_doubles(g, name, 1, dims, all),
           "cannot write dataset '%s'", path);
  return HR_OK;
}

static int write_checks(const merge_t *m, hid_t out) {
  if (m->nchecks == 0) return HR_OK;
  double *all = malloc((size_t)(m->total_rows ? m->total_rows : 1) * sizeof *all);
  if (!all) HR_FAIL(HR_ERR_MEMORY, "out of memory for the checks");
  hid_t g = H5Gcreate2(out, "checks", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = g >= 0 ? HR_OK
                  : hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                                 "cannot create group 'checks'");
  for (int c = 0; rc == HR_OK && c < m->nchecks; c++)
    rc = write_one_check(m, m->checks[c], g, all);
  if (g >= 0) H5Gclose(g);
  free(all);
  return rc;
}

/* Rewritten at the root rather than copied; time_* are per run and stay
 * under parts/<k> only. */
static int rewritten(const char *name) {
  static const char *const names[] = {"program", "version", "build",
      "command_line", "created", "identity", "first_row", "merged_from",
      "batch_ranges"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(name, names[i]) == 0) return 1;
  return strncmp(name, "time_", 5) == 0;
}

static int write_common_attrs(const merge_t *m, hid_t out) {
  name_list_t *l = malloc(sizeof *l);
  if (!l) HR_FAIL(HR_ERR_MEMORY, "out of memory listing attributes");
  int rc = list_attrs(m->parts[0].file, m->parts[0].path, l);
  for (int i = 0; rc == HR_OK && i < l->count; i++) {
    const char *name = l->names[i];
    int same = 0;
    if (rewritten(name)) continue;
    if (ends_with(name, "_max")) { rc = write_max(m, name, out); continue; }
    rc = same_everywhere(m, name, &same);
    if (rc == HR_OK && same) rc = copy_attr(m->parts[0].file, name, out);
  }
  free(l);
  return rc;
}

static int write_string_list(hid_t loc, const char *name,
                             const char *const *values, int count) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  hsize_t dims[1] = {(hsize_t)count};
  hid_t space = H5Screate_simple(1, dims, NULL);
  hid_t a = H5Acreate2(loc, name, t, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = a >= 0 ? H5Awrite(a, t, values) : -1;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  H5Tclose(t);
  MERGE_H5(st, "cannot write attribute '%s'", name);
  return HR_OK;
}

/* The merged file describes itself as one run of the whole span would:
 * first-batch F, max-batches = batches from F to the last one present. */
static int write_own_attrs(const merge_t *m, const hr_options_t *o, hid_t out) {
  const merge_part_t *p0 = &m->parts[0], *last = &m->parts[m->count - 1];
  int64_t span = last->first_batch + last->rows - p0->first_batch;
  char stamp[64], ranges[1024], first[32], maxb[32];
  char *identity = malloc(IDENTITY_LEN + 128);
  const char **paths = malloc((size_t)m->count * sizeof *paths);
  if (!identity || !paths) {
    free(identity); free(paths);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the provenance");
  }
  time_t now = time(NULL);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  describe_ranges(m, ranges, sizeof ranges);
  snprintf(first, sizeof first, "%lld", (long long)p0->first_batch);
  snprintf(maxb, sizeof maxb, "%lld", (long long)span);
  rewrite_range(p0->full_identity, first, maxb, identity, IDENTITY_LEN + 128);
  for (int k = 0; k < m->count; k++) paths[k] = m->parts[k].path;
  int rc = hr_h5_write_string_attr(out, "program", "hessrmt");
  if (rc == HR_OK) rc = hr_h5_write_string_attr(out, "version", HR_VERSION_STRING);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(out, "build", HR_BUILD_INFO);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(out, "command_line", o->command_line);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(out, "created", stamp);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(out, "identity", identity);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(out, "batch_ranges", ranges);
  if (rc == HR_OK) rc = hr_h5_write_attr(out, "first_row", H5T_NATIVE_INT64,
                                         &p0->first_row);
  if (rc == HR_OK) rc = write_string_list(out, "merged_from", paths, m->count);
  hid_t g = rc == HR_OK ? H5Gcreate2(out, "options", H5P_DEFAULT, H5P_DEFAULT,
                                     H5P_DEFAULT) : H5I_INVALID_HID;
  if (rc == HR_OK && g < 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot create group 'options'");
  if (rc == HR_OK) rc = copy_all_attrs(p0->options, "options/", g);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(g, "first-batch", first);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(g, "max-batches", maxb);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(g, "output", o->output);
  if (g >= 0) H5Gclose(g);
  free(identity);
  free(paths);
  return rc;
}

/* parts/<k>: every root attribute of input k, with its path. */
static int write_part_provenance(const merge_t *m, hid_t out) {
  hid_t g = H5Gcreate2(out, "parts", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  MERGE_H5(g, "cannot create group 'parts'");
  int rc = HR_OK;
  for (int k = 0; rc == HR_OK && k < m->count; k++) {
    char name[32];
    snprintf(name, sizeof name, "%d", k);
    hid_t sub = H5Gcreate2(g, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (sub < 0) {
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot create group 'parts/%s'", name);
      break;
    }
    rc = copy_all_attrs(m->parts[k].file, m->parts[k].path, sub);
    if (rc == HR_OK) rc = hr_h5_write_string_attr(sub, "path", m->parts[k].path);
    H5Gclose(sub);
  }
  H5Gclose(g);
  return rc;
}

static int write_contents(const merge_t *m, const hr_options_t *o, hid_t out) {
  HR_CHECK(write_evals(m, out));
  HR_CHECK(write_rows(m, out));
  HR_CHECK(write_checks(m, out));
  HR_CHECK(write_common_attrs(m, out));
  HR_CHECK(write_own_attrs(m, o, out));
  return write_part_provenance(m, out);
}

static int write_output(const merge_t *m, const hr_options_t *o) {
  char partial[4200];
  HR_CHECK(hr_output_partial_path(o->output, partial, sizeof partial));
  HR_CHECK(hr_output_check_space_serial(partial, 1 << 20));
  hid_t out = H5Fcreate(partial, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (out < 0) unlink(partial);
  MERGE_H5(out, "cannot create '%s'%s", partial, hr_output_full_note(partial));
  int rc = write_contents(m, o, out);
  if (H5Fclose(out) < 0 && rc == HR_OK)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot finish writing '%s'%s", partial,
                      hr_output_full_note(partial));
  if (rc == HR_OK && rename(partial, o->output) != 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot rename '%s' to '%s'", partial, o->output);
  if (rc != HR_OK) unlink(partial);
  return rc;
}

/* ---- the command ------------------------------------------------------- */

/* The output must not replace an input: a failed merge would lose it. */
static int check_not_input(const hr_options_t *o) {
  char out[4096];
  if (!realpath(o->output, out)) return HR_OK;  /* does not exist yet */
  for (int i = 0; i < o->n_inputs; i++) {
    char in[4096];
    if (realpath(o->inputs[i], in) && strcmp(in, out) == 0)
      HR_FAIL(HR_ERR_USAGE, "-o %s is also an input: write the merged file "
              "under another name", o->output);
  }
  return HR_OK;
}

static int merge_files(const hr_options_t *o, FILE *out) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  HR_CHECK(check_not_input(o));
  merge_t m = {0};
  m.count = o->n_inputs;
  HR_CALLOC(m.parts, m.count);
  for (int k = 0; k < m.count; k++)
    m.parts[k].file = m.parts[k].options = H5I_INVALID_HID;
  int rc = HR_OK;
  for (int k = 0; rc == HR_OK && k < m.count; k++)
    rc = load_part(o->inputs[k], &m.parts[k]);
  if (rc == HR_OK) rc = agree(&m);
  if (rc == HR_OK) rc = order_parts(&m, out);
  if (rc == HR_OK) rc = write_output(&m, o);
  if (rc == HR_OK) {
    char ranges[1024];
    describe_ranges(&m, ranges, sizeof ranges);
    fprintf(out, "wrote %s: hessian_evals %lld x %lld from %d files, batches "
            "%s%s\n", o->output, (long long)m.total_rows,
            (long long)m.parts[0].n, m.count, ranges,
            m.gaps ? " (with gaps)" : "");
  }
  for (int k = 0; k < m.count; k++) close_part(&m.parts[k]);
  free(m.parts);
  return rc;
}

int hr_cmd_merge(hr_ctx_t *ctx) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(hr_output_check_writable(ctx->world, o->output));
  int rc = HR_OK;
  if (ctx->rank == 0) {
    rc = merge_files(o, stdout);
    fflush(stdout);
  }
  return hr_agree(ctx->world, rc);
}
