/* Dataset readers at 1, 2 and 4 ranks: every format against the formula
 * the fixtures were written with (tests/make_dataset_fixtures.py), row
 * limits, synthetic data independent of the slicing, preprocessing, and
 * broken files giving the same clear error on every rank.
 *
 * Usage: mpiexec -n {1,2,4} test_dataset FIXTURE_DIR */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hessrmt/blockcyclic.h"
#include "hessrmt/dataset.h"
#include "hessrmt/error.h"
#include "hessrmt/random.h"

enum { N = 37, D = 5 };
enum { FLOATS, INTEGERS };  /* which formula a fixture holds */

static const char *fixture_dir;
static int rank, size;

/* Paths in rotating buffers, so a spec can name several. */
static const char *fx(const char *name) {
  static char buf[8][1024];
  static int next;
  char *b = buf[next++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", fixture_dir, name);
  return b;
}

static double expected(int kind, int64_t i, int64_t j) {
  return kind == FLOATS ? (double)(i - 10) / 2 + (double)j / 8
                        : (double)((7 * i + 3 * j) % 256);
}

static hr_dataset_spec_t spec_of(const char *data, const char *labels) {
  hr_dataset_spec_t s;
  memset(&s, 0, sizeof s);
  s.data = data;
  s.labels = labels;
  return s;
}

/* Read this rank's slice of the first `rows` rows and check every value. */
static void check_values(const char *what, const hr_dataset_spec_t *spec,
                         int kind, int64_t rows) {
  int64_t n = -1, dim = -1, first, count;
  int rc = hr_dataset_shape(MPI_COMM_WORLD, spec, &n, &dim);
  EXPECT(rc == HR_OK && n == rows && dim == D,
         "%s: shape rc %d, %lld x %lld (%s)", what, rc, (long long)n,
         (long long)dim, hr_error_message());
  hr_row_slice(rows, rank, size, &first, &count);
  hr_dataset_t ds;
  rc = hr_dataset_read(MPI_COMM_WORLD, spec, first, count, &ds);
  EXPECT(rc == HR_OK, "%s: read rc %d: %s", what, rc, hr_error_message());
  if (rc != HR_OK) { hr_error_clear(); return; }
  EXPECT(ds.rows == rows && ds.dim == D && ds.first == first &&
         ds.count == count, "%s: dataset fields", what);
  int bad = 0;
  for (int64_t r = 0; r < count; r++) {
    for (int64_t j = 0; j < D; j++)
      bad += ds.x[r * D + j] != expected(kind, first + r, j);
    bad += ds.labels[r] != (first + r) % 4;
  }
  EXPECT(bad == 0, "%s: %d values differ from the formula", what, bad);
  int max_label = -1;
  rc = hr_dataset_max_label(MPI_COMM_WORLD, &ds, &max_label);
  EXPECT(rc == HR_OK && max_label == (rows >= 4 ? 3 : (int)rows - 1),
         "%s: max label %d", what, max_label);
  hr_dataset_free(&ds);
}

static void test_good_formats(void) {
  struct { const char *data, *labels; int kind; } cases[] = {
      {"data.h5", NULL, FLOATS},
      {"features.npy", "labels.npy", FLOATS},
      {"features.npy", NULL, FLOATS}, /* labels.npy found by name */
      {"features_f64.npy", "labels_i4.npy", FLOATS},
      {"features_be.npy", "labels_f8.npy", FLOATS},
      {"features_f64.npy.gz", "labels.npy", FLOATS},
      {"features_u8.npy", "labels-idx1-ubyte", INTEGERS},
      {"images-idx3-ubyte", "labels-idx1-ubyte", INTEGERS},
      {"images-idx3-ubyte", NULL, INTEGERS},
      {"gz-images-idx3-ubyte.gz", "gz-labels-idx1-ubyte.gz", INTEGERS},
      {"gz-images-idx3-ubyte.gz", NULL, INTEGERS},
      {"data.csv", NULL, FLOATS},
      {"data_header.csv", NULL, FLOATS},
      {"data.csv.gz", NULL, FLOATS},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    hr_dataset_spec_t s = spec_of(fx(cases[c].data),
                                  cases[c].labels ? fx(cases[c].labels) : NULL);
    check_values(cases[c].data, &s, cases[c].kind, N);
  }
  /* HDF5 dataset names: float32 features, uint8 labels; a 3-D dataset. */
  hr_dataset_spec_t s = spec_of(fx("data.h5"), NULL);
  s.features_dset = "feat_f32";
  s.labels_dset = "lab_u8";
  check_values("data.h5 feat_f32/lab_u8", &s, FLOATS, N);
  s.features_dset = "images";
  check_values("data.h5 images (3-D)", &s, INTEGERS, N);
}

static void test_limits(void) {
  const char *files[] = {"data.h5", "features.npy", "gz-images-idx3-ubyte.gz",
                         "data.csv.gz"};
  const int kinds[] = {FLOATS, FLOATS, INTEGERS, FLOATS};
  const int64_t limits[] = {10, 3, 1, N, 1000};
  for (int f = 0; f < 4; f++)
    for (int l = 0; l < 5; l++) {
      hr_dataset_spec_t s = spec_of(fx(files[f]), NULL);
      s.limit = limits[l];
      char what[128];
      snprintf(what, sizeof what, "%s limit %lld", files[f],
               (long long)limits[l]);
      check_values(what, &s, kinds[f], limits[l] < N ? limits[l] : N);
    }
}

/* ---- broken files ------------------------------------------------------ */

/* The read fails with the same code on every rank, and the message names
 * the file and what is given in `detail` (a row or line), if anything. */
static void expect_failure(const char *what, const hr_dataset_spec_t *spec,
                           const char *name, const char *detail) {
  int64_t first, count;
  hr_row_slice(N, rank, size, &first, &count);
  hr_dataset_t ds;
  int rc = hr_dataset_read(MPI_COMM_WORLD, spec, first, count, &ds);
  int lo, hi;
  MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&rc, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  const char *msg = hr_error_message();
  EXPECT(rc != HR_OK && lo == hi, "%s: rc %d (range %d..%d over ranks)", what,
         rc, lo, hi);
  EXPECT(strstr(msg, name) != NULL, "%s: message lacks '%s': %s", what, name,
         msg);
  EXPECT(!detail || strstr(msg, detail) != NULL,
         "%s: message lacks '%s': %s", what, detail ? detail : "", msg);
  EXPECT(ds.x == NULL && ds.labels == NULL, "%s: slice not freed", what);
  if (rank == 0 && rc != HR_OK) printf("  %s -> %s\n", what, msg);
  hr_error_clear();
}

static void test_broken(void) {
  struct { const char *data, *labels, *name, *detail; } cases[] = {
      {"trunc.npy", "labels.npy", "trunc.npy", "truncated"},
      {"fortran.npy", "labels.npy", "fortran.npy", "Fortran"},
      {"features_f64.npy", "labels_short.npy", "labels_short.npy", "(36,)"},
      {"features_f64.npy", "labels_short.npy", "features_f64.npy", "(37, 5)"},
      {"features_1d.npy", "labels.npy", "features_1d.npy", "(37,)"},
      {"nan.npy", "labels.npy", "nan.npy", "row 20"},
      {"features_f64.npy", "labels_neg.npy", "labels_neg.npy", "row 7"},
      {"features_f64.npy", "labels_frac.npy", "labels_frac.npy", "row 9"},
      {"ragged.csv", NULL, "ragged.csv", "line 10"},
      {"nan.csv", NULL, "nan.csv", "row 12"},
      {"text.csv", NULL, "text.csv", "line 6"},
      {"nul.csv", NULL, "nul.csv", "line 4 contains a NUL byte"},
      {"trunc.csv.gz", NULL, "trunc.csv.gz", "truncated"},
      {"empty.csv", NULL, "empty.csv", NULL},
      {"empty.npy", "labels.npy", "empty.npy", NULL},
      {"trunc-images-idx3-ubyte", "labels-idx1-ubyte",
       "trunc-images-idx3-ubyte", "truncated"},
      {"truncgz-images-idx3-ubyte.gz", "labels-idx1-ubyte",
       "truncgz-images-idx3-ubyte.gz", NULL},
      {"missing.npy", "labels.npy", "missing.npy",
       "No such file or directory"},
      {"features_f64.npy", "missing_labels.npy", "missing_labels.npy",
       "No such file or directory"},
      {"missing.h5", NULL, "missing.h5", "No such file or directory"},
      {"missing.csv.gz", NULL, "cannot open", "No such file or directory"},
      {"features_f64.npy", "data.csv", "data.csv", NULL},
      {"data.txt", NULL, "data.txt", "format"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    hr_dataset_spec_t s = spec_of(fx(cases[c].data),
                                  cases[c].labels ? fx(cases[c].labels) : NULL);
    expect_failure(cases[c].data, &s, cases[c].name, cases[c].detail);
  }
  hr_dataset_spec_t s = spec_of(fx("data.h5"), NULL);
  s.labels_dset = "nope";
  expect_failure("data.h5 without 'nope'", &s, "data.h5", "'nope'");
  s = spec_of(fx("features_f64.npy"), fx("labels.npy"));
  s.limit = -1;
  expect_failure("negative limit", &s, "limit", NULL);

  /* The shape alone is agreed too. */
  s = spec_of(fx("fortran.npy"), fx("labels.npy"));
  int64_t n, dim;
  int rc = hr_dataset_shape(MPI_COMM_WORLD, &s, &n, &dim), lo;
  MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  EXPECT(rc != HR_OK && lo == rc && strstr(hr_error_message(), "fortran.npy"),
         "shape of fortran.npy: rc %d", rc);
  hr_error_clear();
}

/* ---- synthetic ----------------------------------------------------------- */

static hr_dataset_spec_t synthetic_spec(void) {
  hr_dataset_spec_t s = spec_of("synthetic", NULL);
  s.n = 101;
  s.dim = 7;
  s.classes = 3;
  s.separation = 4.0;
  s.seed = 12345;
  return s;
}

/* The formula of the design, written out again independently. */
static void check_synthetic_formula(const hr_dataset_t *all,
                                    const hr_dataset_spec_t *s) {
  int bad = 0, seen[3] = {0, 0, 0};
  for (int64_t i = 0; i < s->n; i++) {
    int c = (int)(hr_random_uniform(s->seed, 1000, i, 0, (hr_stream_t)2) *
                  s->classes);
    bad += all->labels[i] != c;
    seen[c < 3 ? c : 0]++;
    for (int64_t j = 0; j < s->dim; j++) {
      double mu = s->separation *
                  hr_random_normal(s->seed, 1001, c, j, (hr_stream_t)3) /
                  sqrt((double)s->dim);
      double x = mu + hr_random_normal(s->seed, 1002, i, j, (hr_stream_t)3);
      bad += fabs(all->x[i * s->dim + j] - x) > 1e-15 * (1 + fabs(x));
    }
  }
  EXPECT(bad == 0, "synthetic: %d values differ from the formula", bad);
  EXPECT(seen[0] > 10 && seen[1] > 10 && seen[2] > 10,
         "synthetic: classes %d %d %d", seen[0], seen[1], seen[2]);
}

static void gather_rows(const hr_dataset_t *ds, double *x, int32_t *labels) {
  int counts[64], displs[64], c = (int)ds->count;
  MPI_Allgather(&c, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
  displs[0] = 0;
  for (int r = 1; r < size; r++) displs[r] = displs[r - 1] + counts[r - 1];
  MPI_Allgatherv(ds->labels, c, MPI_INT32_T, labels, counts, displs,
                 MPI_INT32_T, MPI_COMM_WORLD);
  for (int r = 0; r < size; r++) { counts[r] *= (int)ds->dim; displs[r] *= (int)ds->dim; }
  MPI_Allgatherv(ds->x, c * (int)ds->dim, MPI_DOUBLE, x, counts, displs,
                 MPI_DOUBLE, MPI_COMM_WORLD);
}

static void test_synthetic(void) {
  hr_dataset_spec_t s = synthetic_spec();
  hr_dataset_t all, mine;
  int rc = hr_dataset_read(MPI_COMM_WORLD, &s, 0, s.n, &all);
  EXPECT(rc == HR_OK && all.rows == s.n && all.dim == s.dim,
         "synthetic whole: %s", hr_error_message());
  if (rc != HR_OK) return;
  check_synthetic_formula(&all, &s);
  int64_t first, count;
  hr_row_slice(s.n, rank, size, &first, &count);
  rc = hr_dataset_read(MPI_COMM_WORLD, &s, first, count, &mine);
  EXPECT(rc == HR_OK, "synthetic slice: %s", hr_error_message());
  double *x = malloc(sizeof *x * (size_t)(s.n * s.dim));
  int32_t *labels = malloc(sizeof *labels * (size_t)s.n);
  gather_rows(&mine, x, labels);
  EXPECT(memcmp(x, all.x, sizeof *x * (size_t)(s.n * s.dim)) == 0 &&
         memcmp(labels, all.labels, sizeof *labels * (size_t)s.n) == 0,
         "synthetic: gathered slices differ from the whole");
  /* Another seed gives other data; a limit gives the leading rows. */
  hr_dataset_t other;
  s.seed = 54321;
  s.limit = 11;
  rc = hr_dataset_read(MPI_COMM_WORLD, &s, 0, 11, &other);
  EXPECT(rc == HR_OK && other.rows == 11 &&
         memcmp(other.x, all.x, sizeof *x * 11 * (size_t)s.dim) != 0,
         "synthetic: seeds differ, limit");
  hr_dataset_free(&other);
  s = synthetic_spec();
  s.classes = 0;
  expect_failure("synthetic, no classes", &s, "class", NULL);
  free(x);
  free(labels);
  hr_dataset_free(&mine);
  hr_dataset_free(&all);
}

/* ---- preprocessing, matrices ------------------------------------------- */

static void column_moments(const hr_dataset_t *ds, int64_t j, double *mean,
                           double *var) {
  double s[3] = {0, 0, (double)ds->count};
  for (int64_t r = 0; r < ds->count; r++) s[0] += ds->x[r * ds->dim + j];
  MPI_Allreduce(MPI_IN_PLACE, s, 3, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  *mean = s[0] / s[2];
  double q = 0;
  for (int64_t r = 0; r < ds->count; r++)
    q += pow(ds->x[r * ds->dim + j] - *mean, 2);
  MPI_Allreduce(MPI_IN_PLACE, &q, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  *var = q / s[2];
}

static void test_standardize(void) {
  hr_dataset_spec_t s = spec_of(fx("features_const.npy"), fx("labels.npy"));
  int64_t first, count;
  hr_row_slice(N, rank, size, &first, &count);
  hr_dataset_t ds;
  int rc = hr_dataset_read(MPI_COMM_WORLD, &s, first, count, &ds);
  if (rc == HR_OK) rc = hr_dataset_preprocess(MPI_COMM_WORLD, &ds, 0, 1);
  EXPECT(rc == HR_OK, "standardize: %s", hr_error_message());
  if (rc != HR_OK) return;
  for (int64_t j = 0; j < D; j++) {
    double mean, var;
    column_moments(&ds, j, &mean, &var);
    EXPECT_NEAR(mean, 0.0, 1e-12, "standardized column %lld mean %g",
                (long long)j, mean);
    EXPECT_NEAR(var, j == 2 ? 0.0 : 1.0, 1e-12,
                "standardized column %lld variance %g", (long long)j, var);
  }
  /* Column 0 is (i - 10) / 2: its population standard deviation over
   * i = 0..36 is sqrt((37^2 - 1) / 12) / 2. */
  double sd = sqrt((37.0 * 37.0 - 1) / 12) / 2;
  for (int64_t r = 0; r < count; r++)
    EXPECT_NEAR(ds.x[r * D], ((first + r - 10) / 2.0 - 4.0) / sd, 1e-13,
                "standardized value row %lld", (long long)(first + r));
  hr_dataset_free(&ds);
}

static void test_scale_pixels(void) {
  hr_dataset_spec_t s = spec_of(fx("images-idx3-ubyte"), NULL);
  int64_t first, count;
  hr_row_slice(N, rank, size, &first, &count);
  hr_dataset_t ds;
  int rc = hr_dataset_read(MPI_COMM_WORLD, &s, first, count, &ds);
  if (rc == HR_OK) rc = hr_dataset_preprocess(MPI_COMM_WORLD, &ds, 1, 0);
  EXPECT(rc == HR_OK, "scale pixels: %s", hr_error_message());
  if (rc != HR_OK) return;
  int bad = 0;
  for (int64_t r = 0; r < count; r++)
    for (int64_t j = 0; j < D; j++)
      bad += ds.x[r * D + j] != expected(INTEGERS, first + r, j) / 127.5 - 1;
  EXPECT(bad == 0, "scale pixels: %d values differ", bad);
  hr_dataset_free(&ds);
  /* Negative values are not pixels: refused on every rank. */
  s = spec_of(fx("features_f64.npy"), fx("labels.npy"));
  rc = hr_dataset_read(MPI_COMM_WORLD, &s, first, count, &ds);
  if (rc == HR_OK) rc = hr_dataset_preprocess(MPI_COMM_WORLD, &ds, 1, 1);
  int lo;
  MPI_Allreduce(&rc, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  EXPECT(rc != HR_OK && lo == rc, "scale pixels of negative data: rc %d", rc);
  hr_error_clear();
  hr_dataset_free(&ds);
}

static void check_matrix(const char *file, const char *dset, int64_t cols,
                         int kind) {
  int64_t first, count, rows = 0, c = 0;
  hr_row_slice(N, rank, size, &first, &count);
  double *v = NULL;
  int rc = hr_matrix_read(MPI_COMM_WORLD, fx(file), dset, first, count, &rows,
                          &c, &v);
  EXPECT(rc == HR_OK && rows == N && c == cols, "matrix %s: rc %d %lld x %lld "
         "(%s)", file, rc, (long long)rows, (long long)c, hr_error_message());
  if (rc != HR_OK) { hr_error_clear(); return; }
  int bad = 0;
  for (int64_t r = 0; r < count; r++)
    for (int64_t j = 0; j < cols; j++) {
      int64_t i = first + r;
      double want = kind == 2 ? i * 0.25
                    : j == D ? (double)(i % 4) : expected(kind, i, j);
      bad += v[r * cols + j] != want;
    }
  EXPECT(bad == 0, "matrix %s: %d values differ", file, bad);
  free(v);
}

static void test_matrix(void) {
  check_matrix("data.h5", "targets", 1, 2);
  check_matrix("features_f64.npy", NULL, D, FLOATS);
  check_matrix("data_header.csv", NULL, D + 1, FLOATS);
  check_matrix("images-idx3-ubyte", NULL, D, INTEGERS);
  int64_t rows, cols;
  double dummy = 0, *v = &dummy;
  int rc = hr_matrix_read(MPI_COMM_WORLD, fx("data.h5"), "nope", 0, 0, &rows,
                          &cols, &v);
  EXPECT(rc != HR_OK && v == NULL && strstr(hr_error_message(), "'nope'"),
         "matrix: missing dataset: %s", hr_error_message());
  hr_error_clear();
}

/* ---- Fashion-MNIST ------------------------------------------------------ */

/* Order-independent checksum (uint64 wrap-around), as the fixture script. */
static void checksum(const hr_dataset_t *ds, uint64_t out[2]) {
  const uint64_t mix = UINT64_C(0x9E3779B97F4A7C15);
  out[0] = out[1] = 0;
  for (int64_t r = 0; r < ds->count; r++) {
    uint64_t i = (uint64_t)(ds->first + r);
    for (int64_t j = 0; j < ds->dim; j++)
      out[0] += (uint64_t)ds->x[r * ds->dim + j] *
                ((i * (uint64_t)ds->dim + (uint64_t)j) * mix + 1);
    out[1] += (uint64_t)ds->labels[r] * (i * mix + 1);
  }
}

static void fashion_on(MPI_Comm comm, const hr_dataset_spec_t *s,
                       const unsigned long long want[2], const char *what) {
  int r, p;
  MPI_Comm_rank(comm, &r);
  MPI_Comm_size(comm, &p);
  int64_t first, count;
  hr_row_slice(60000, r, p, &first, &count);
  hr_dataset_t ds;
  int rc = hr_dataset_read(comm, s, first, count, &ds);
  EXPECT(rc == HR_OK && ds.rows == 60000 && ds.dim == 784,
         "fashion-mnist %s: %s", what, hr_error_message());
  if (rc != HR_OK) return;
  int bad = 0;
  for (int64_t k = 0; k < count; k++) bad += ds.labels[k] > 9;
  EXPECT(bad == 0, "fashion-mnist %s: %d labels above 9", what, bad);
  uint64_t sum[2];
  checksum(&ds, sum);
  MPI_Allreduce(MPI_IN_PLACE, sum, 2, MPI_UINT64_T, MPI_SUM, comm);
  EXPECT(sum[0] == want[0] && sum[1] == want[1],
         "fashion-mnist %s: checksum %llu %llu, python says %llu %llu", what,
         (unsigned long long)sum[0], (unsigned long long)sum[1], want[0],
         want[1]);
  hr_dataset_free(&ds);
}

static void test_fashion_mnist(void) {
  unsigned long long n = 0, dim = 0, want[2];
  FILE *f = fopen(fx("fashion_mnist.txt"), "r");
  int ok = f && fscanf(f, "%llu %llu %llu %llu", &n, &dim, &want[0],
                       &want[1]) == 4;
  if (f) fclose(f);
  if (!ok) {
    if (rank == 0)
      printf("note: /usr/share/datasets/fashion-mnist not installed; "
             "Fashion-MNIST checks skipped (apt-get install "
             "dataset-fashion-mnist)\n");
    return;
  }
  hr_dataset_spec_t s = spec_of(
      "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
      "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz");
  int64_t rows, d;
  int rc = hr_dataset_shape(MPI_COMM_WORLD, &s, &rows, &d);
  EXPECT(rc == HR_OK && rows == (int64_t)n && d == (int64_t)dim &&
         rows == 60000 && d == 784, "fashion-mnist shape %lld x %lld",
         (long long)rows, (long long)d);
  /* The whole run's ranks, pairs of ranks, and one rank alone. */
  fashion_on(MPI_COMM_WORLD, &s, want, "all ranks");
  if (size >= 4) {
    MPI_Comm pair;
    MPI_Comm_split(MPI_COMM_WORLD, rank / 2, rank, &pair);
    fashion_on(pair, &s, want, "rank pairs");
    MPI_Comm_free(&pair);
  }
  if (size > 1 && rank == 0) fashion_on(MPI_COMM_SELF, &s, want, "rank 0");
  /* The test set ships under the same names. */
  s = spec_of("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
              NULL);
  rc = hr_dataset_shape(MPI_COMM_WORLD, &s, &rows, &d);
  EXPECT(rc == HR_OK && rows == 10000 && d == 784,
         "fashion-mnist test set %lld x %lld", (long long)rows, (long long)d);
}

int main(int argc, char **argv) {
  test_start(argv);
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 2 || size > 64) {
    if (rank == 0) fprintf(stderr, "usage: test_dataset FIXTURE_DIR (<= 64 ranks)\n");
    MPI_Finalize();
    return 2;
  }
  fixture_dir = argv[1];
  hr_format_t format;
  EXPECT(hr_dataset_format_of("a/train-images-idx3-ubyte.gz", &format) ==
             HR_OK && format == HR_FORMAT_IDX, "IDX format by name");
  EXPECT(hr_dataset_format_of("x.CSV.gz", &format) == HR_OK &&
             format == HR_FORMAT_CSV, "CSV format by name");
  EXPECT(hr_dataset_format_of("x.h5.gz", &format) != HR_OK, "gzip HDF5");
  hr_error_clear();
  test_good_formats();
  test_limits();
  test_broken();
  test_synthetic();
  test_standardize();
  test_scale_pixels();
  test_matrix();
  test_fashion_mnist();
  int status = test_finish("test_dataset", MPI_COMM_WORLD);
  MPI_Finalize();
  return status;
}
