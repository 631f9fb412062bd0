/* The figures of `stats --plots`: synthetic statistics filled by hand (a
 * semicircle bulk with far outliers, GOE-like ratios and spacings from
 * inverted distribution functions, long-range curves near the GOE's) are
 * drawn into a temporary directory, twice and on a log density axis too,
 * and every PNG is checked for its signature, its exact size in pixels
 * (IHDR), image data and a size no blank image has; every SVG for its
 * <svg element; no .partial file may remain.  Degenerate statistics (no
 * ratios, no spacings, one repeated level, NaN everywhere) must still
 * draw, and so must statistics whose spacing half was withheld as
 * unreliable; every figure is drawn with strict_layout, so a label that
 * overlaps another fails it, and notes asked for at one spot must be
 * moved apart.  An uncreatable directory must fail cleanly.  A build
 * without PLplot must fail with HR_ERR_USAGE. */
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "hessrmt/error.h"
#include "hessrmt/plot.h"
#include "hessrmt/stats.h"

enum { WIDTH = 900, HEIGHT = 600, LEVELS = 1200, SPECTRA = 4 };

static const char *names[6] = {"density", "degeneracy", "ratios", "spacings",
                               "number_variance", "rigidity"};

/* A low-discrepancy sequence in (0, 1): evenly spread, reproducible. */
static double spread(int64_t i) {
  double v = 0.5 + 0.6180339887498949 * (double)i;
  return v - floor(v);
}

/* Semicircle on [-2, 2]: the level at quantile u by bisection. */
static double semicircle_quantile(double u) {
  double lo = -2.0, hi = 2.0;
  for (int it = 0; it < 60; it++) {
    double x = 0.5 * (lo + hi);
    double F = 0.5 + (x * sqrt(4.0 - x * x) / 4.0 + asin(x / 2.0)) / M_PI;
    if (F < u) lo = x; else hi = x;
  }
  return 0.5 * (lo + hi);
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The GOE ratio law inverted through a table of its CDF. */
static void goe_ratios(double *r, int64_t n) {
  enum { NODES = 1001 };
  static double cdf[NODES];
  for (int k = 0; k < NODES; k++)
    cdf[k] = hr_ratio_cdf(HR_LAW_GOE, (double)k / (NODES - 1));
  for (int64_t i = 0; i < n; i++) {
    double u = spread(i) * cdf[NODES - 1];
    int k = 1;
    while (k < NODES - 1 && cdf[k] < u) k++;
    double t = (u - cdf[k - 1]) / (cdf[k] - cdf[k - 1]);
    r[i] = ((double)(k - 1) + t) / (NODES - 1);
  }
  qsort(r, (size_t)n, sizeof *r, compare);
}

static void fill_levels(hr_stats_t *st) {
  int64_t bulk = (int64_t)SPECTRA * LEVELS - 60, n = 0;
  st->kept = malloc((size_t)(bulk + 6) * sizeof *st->kept);
  for (int64_t i = 0; i < bulk; i++)
    st->kept[n++] = semicircle_quantile((i + 0.5) / (double)bulk);
  /* outliers on both sides (each side's "beyond the axis" count must be
   * legible): one far below the bulk, five far above it (a Hessian's top) */
  const double far[6] = {-80.0, 25.0, 31.0, 40.0, 44.5, 61.0};
  for (int k = 0; k < 6; k++) st->kept[n++] = far[k];
  qsort(st->kept, (size_t)n, sizeof *st->kept, compare);
  st->n_kept = n;
  double q1 = st->kept[n / 4], q3 = st->kept[3 * n / 4];
  st->bulk_lo = q1 - 3.0 * (q3 - q1);
  st->bulk_hi = q3 + 3.0 * (q3 - q1);
  for (int64_t i = 0; i < n; i++)
    st->n_outliers += st->kept[i] < st->bulk_lo || st->kept[i] > st->bulk_hi;
}

static void fill_ladder(hr_stats_t *st) {
  static const double exps[HR_STATS_LADDER] = {-100, -80, -60, -40, -30, -20, -16,
                                               -14, -12, -10, -8, -6, -4, -3, -2};
  for (int i = 0; i < HR_STATS_LADDER; i++) {
    st->ladder_cut[i] = pow(10.0, exps[i]);
    st->ladder_fraction[i] = exps[i] < -16 ? 0.05 : exps[i] < -12 ? 0.08
                           : exps[i] < -3 ? 0.1 : 0.1 + 0.2 * (exps[i] + 4);
  }
  st->cut_auto = 1;
  st->cut = 2.7e-12;
  st->exact_zeros = 240;
  st->file_rank_mean = 1080.5;
}

static void fill_synthetic(hr_stats_t *st) {
  memset(st, 0, sizeof *st);
  snprintf(st->path, sizeof st->path, "/tmp/run#3.h5");
  snprintf(st->title, sizeof st->title, "run#3.h5: Hessian of mlp:20-64-4 (batch, gram)");
  st->n_spectra = SPECTRA;
  st->n_levels = LEVELS;
  st->n_total = (int64_t)SPECTRA * LEVELS + 480;
  fill_levels(st);
  fill_ladder(st);
  st->n_ratios = st->n_kept - 2 * SPECTRA;
  st->ratios = malloc((size_t)st->n_ratios * sizeof *st->ratios);
  goe_ratios(st->ratios, st->n_ratios);
  st->mean_r_tilde = 0.5312, st->mean_r_tilde_err = 0.0041;
  const double ks[HR_LAW_COUNT] = {0.1523, 0.0061, 0.0712, 0.16};
  memcpy(st->ks_ratio, ks, sizeof ks);
  st->unfold = HR_UNFOLD_POOL;
  st->spacing_reliable = 1;
  st->n_spacings = 3000;
  st->spacings = malloc((size_t)st->n_spacings * sizeof *st->spacings);
  for (int64_t i = 0; i < st->n_spacings; i++)  /* Wigner surmise by inversion */
    st->spacings[i] = sqrt(-4.0 * log(1.0 - spread(i + 7)) / M_PI);
  qsort(st->spacings, (size_t)st->n_spacings, sizeof *st->spacings, compare);
  st->mean_spacing = 0.9987;
  st->ks_spacing[0] = 0.211, st->ks_spacing[1] = 0.009, st->ks_spacing[2] = 0.065;
  st->brody_q = 0.962;
  for (int i = 0; i < HR_STATS_NL; i++) {
    st->L[i] = 0.5 * (i + 1);
    double wiggle = 0.03 * sin(1.7 * i);
    st->sigma2[i] = hr_number_variance_goe(st->L[i]) + 0.1 / (1 + st->L[i]) + wiggle;
    st->delta3[i] = fmax(hr_spectral_rigidity_goe(st->L[i]), 0.0) + 0.06 + 0.5 * wiggle;
  }
  st->sigma2[HR_STATS_NL - 1] = st->delta3[HR_STATS_NL - 1] = NAN;  /* skipped */
}

/* Nothing to draw but frames: no ratios or spacings, one level repeated,
 * no long-range statistics. */
static void fill_degenerate(hr_stats_t *st) {
  memset(st, 0, sizeof *st);
  snprintf(st->path, sizeof st->path, "degenerate.h5");
  st->n_spectra = 1;
  st->n_levels = st->n_total = st->n_kept = 5;
  st->kept = malloc(5 * sizeof *st->kept);
  for (int i = 0; i < 5; i++) st->kept[i] = 1.5;
  st->bulk_lo = st->bulk_hi = 1.5;
  st->cut = NAN;
  st->mean_r_tilde = st->mean_r_tilde_err = st->brody_q = NAN;
  for (int i = 0; i < HR_STATS_LADDER; i++)
    st->ladder_cut[i] = pow(10.0, -100 + 7 * i), st->ladder_fraction[i] = 0.0;
  for (int i = 0; i < HR_STATS_NL; i++)
    st->L[i] = 0.5 * (i + 1), st->sigma2[i] = st->delta3[i] = NAN;
  st->file_rank_mean = NAN;
}

/* As the synthetic statistics, but no unfolding passed its checks: the
 * spacing half is withheld (NaN, no spacings), as hr_stats_compute
 * leaves it; the spacing and long-range figures must say so and draw. */
static void make_unreliable(hr_stats_t *st) {
  st->spacing_reliable = 0;
  st->unfold = HR_UNFOLD_AUTO;
  free(st->spacings);
  st->spacings = NULL;
  st->n_spacings = 0;
  st->mean_spacing = st->brody_q = NAN;
  for (int law = 0; law < 3; law++) st->ks_spacing[law] = NAN;
  for (int i = 0; i < HR_STATS_NL; i++) st->sigma2[i] = st->delta3[i] = NAN;
}

static void check_png(const char *dir, const char *name);

/* Notes asked for at one spot, and one under the legend, must be moved
 * apart: none may be left overlapping another label. */
static void check_note_layout(const char *root) {
  hr_plot_config_t cfg;
  hr_plot_config_default(&cfg);
  cfg.width = WIDTH, cfg.height = HEIGHT;
  cfg.legend = HR_LEGEND_TOP_RIGHT;
  cfg.title = "notes";
  hr_plot_t *p = NULL;
  EXPECT(hr_plot_create(&cfg, &p) == HR_OK, "create: %s", hr_error_message());
  if (!p) return;
  const double x[3] = {0, 1, 2}, y[3] = {0, 1, 4};
  hr_style_t line = {HR_RGB_BLUE, HR_LINE_SOLID, 0, HR_MARK_NONE, 0};
  EXPECT(hr_plot_series(p, x, y, 3, &line, "a curve with a long legend label")
         == HR_OK, "series");
  for (int k = 0; k < 3; k++)
    EXPECT(hr_plot_note(p, 0.98, 0.95, 1.0, "12 levels beyond the axis") == HR_OK,
           "note %d", k);
  EXPECT(hr_plot_note(p, 0.02, 0.95, 0.0, "3 levels below the axis") == HR_OK,
         "left note");
  char base[300];
  snprintf(base, sizeof base, "%s/notes", root);
  int overlaps = -1;
  EXPECT(hr_plot_save_checked(p, base, &overlaps) == HR_OK, "save: %s",
         hr_error_message());
  EXPECT(overlaps == 0, "%d notes left overlapping", overlaps);
  check_png(root, "notes");
  hr_plot_free(p);
  hr_error_clear();
}

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  *size = 0;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)(len > 0 ? len : 1) + 1);
  if (buf) *size = fread(buf, 1, (size_t)len, f);
  if (buf) buf[*size] = '\0';
  fclose(f);
  return buf;
}

static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int contains(const unsigned char *buf, size_t size, const char *what) {
  size_t n = strlen(what);
  for (size_t i = 0; i + n <= size; i++)
    if (memcmp(buf + i, what, n) == 0) return 1;
  return 0;
}

static void check_png(const char *dir, const char *name) {
  static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  char path[4200];
  size_t size;
  snprintf(path, sizeof path, "%s/%s.png", dir, name);
  unsigned char *png = read_file(path, &size);
  EXPECT(png != NULL, "%s exists", path);
  if (!png) return;
  EXPECT(size > 24 && memcmp(png, signature, 8) == 0, "%s: PNG signature", path);
  EXPECT(size > 24 && memcmp(png + 12, "IHDR", 4) == 0, "%s: IHDR first", path);
  if (size > 24)
    EXPECT(be32(png + 16) == WIDTH && be32(png + 20) == HEIGHT,
           "%s: %u x %u pixels, expected %d x %d", path, be32(png + 16),
           be32(png + 20), WIDTH, HEIGHT);
  EXPECT(contains(png, size, "IDAT") && contains(png, size, "IEND"),
         "%s: image data and end", path);
  /* a blank 900 x 600 PNG compresses to about 2 kB */
  EXPECT(size > 5000, "%s: %zu bytes, too small to hold a figure", path, size);
  free(png);
}

static void check_svg(const char *dir, const char *name) {
  char path[4200];
  size_t size;
  snprintf(path, sizeof path, "%s/%s.svg", dir, name);
  unsigned char *svg = read_file(path, &size);
  EXPECT(svg != NULL, "%s exists", path);
  if (!svg) return;
  EXPECT(contains(svg, size, "<svg") && contains(svg, size, "</svg>"),
         "%s: an SVG document", path);
  EXPECT(size > 2000, "%s: %zu bytes", path, size);
  free(svg);
}

static void check_no_partial(const char *dir) {
  DIR *d = opendir(dir);
  EXPECT(d != NULL, "open %s", dir);
  if (!d) return;
  struct dirent *e;
  int files = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    files++;
    EXPECT(strstr(e->d_name, ".partial") == NULL, "left behind: %s/%s", dir, e->d_name);
  }
  closedir(d);
  EXPECT(files == 12, "%s holds %d files, expected 12", dir, files);
}

/* strict_layout: a label that found no free place fails the figure. */
static void check_figures(const hr_stats_t *st, const char *dir, int log_density) {
  hr_figures_config_t cfg = {dir, WIDTH, HEIGHT, log_density, 1};
  int rc = hr_stats_figures(st, &cfg);
  EXPECT(rc == HR_OK, "figures into %s: %s", dir, hr_error_message());
  hr_error_clear();
  for (int i = 0; i < 6; i++) {
    check_png(dir, names[i]);
    check_svg(dir, names[i]);
  }
  check_no_partial(dir);
}

static void check_failures(const hr_stats_t *st) {
  hr_figures_config_t cfg = {"/proc/hessrmt-no/x", WIDTH, HEIGHT, 0, 0};
  int rc = hr_stats_figures(st, &cfg);
  EXPECT(rc != HR_OK, "an uncreatable directory must fail");
  EXPECT(strstr(hr_error_message(), "/proc/hessrmt-no/x") != NULL,
         "the message names the directory: %s", hr_error_message());
  hr_error_clear();
  hr_figures_config_t tiny = {"/tmp", 10, 10, 0, 0};
  EXPECT(hr_stats_figures(st, &tiny) == HR_ERR_USAGE, "a 10 x 10 figure is refused");
  hr_error_clear();
}

static void free_stats(hr_stats_t *st) {
  free(st->kept);
  free(st->ratios);
  free(st->spacings);
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  hr_stats_t st;
  fill_synthetic(&st);
  if (!hr_plot_available()) {
    hr_figures_config_t cfg = {"/tmp/hessrmt-figures-unused", WIDTH, HEIGHT, 0, 0};
    EXPECT(hr_stats_figures(&st, &cfg) == HR_ERR_USAGE, "no PLplot: HR_ERR_USAGE");
    EXPECT(strstr(hr_error_message(), "PLplot") != NULL, "message: %s",
           hr_error_message());
    free_stats(&st);
    return test_finish_serial("test_figures");
  }
  char root[] = "/tmp/hessrmt-figures-XXXXXX", dir[256];
  EXPECT(mkdtemp(root) != NULL, "mkdtemp");
  snprintf(dir, sizeof dir, "%s/plots/linear", root);  /* two levels created */
  check_figures(&st, dir, 0);
  check_figures(&st, dir, 0);  /* again: overwrites, PLplot starts afresh */
  snprintf(dir, sizeof dir, "%s/log", root);
  check_figures(&st, dir, 1);
  make_unreliable(&st);
  snprintf(dir, sizeof dir, "%s/unreliable", root);
  check_figures(&st, dir, 0);
  free_stats(&st);
  check_note_layout(root);
  fill_degenerate(&st);
  snprintf(dir, sizeof dir, "%s/degenerate", root);
  check_figures(&st, dir, 1);
  check_failures(&st);
  free_stats(&st);
  if (!getenv("HR_KEEP_FIGURES")) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    EXPECT(system(cmd) == 0, "remove %s", root);
  } else {
    printf("figures kept in %s\n", root);
  }
  return test_finish_serial("test_figures");
}
