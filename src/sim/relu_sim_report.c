/* What rank 0 makes of the ReLU simulation's results (see relu_sim.h): a
 * few summary lines per shape, and its figures drawn with the primitives
 * of plot.h, as the notebook drew them (loss curves with a 95% band on a
 * log axis, histograms of the three spectra) but with every label
 * saying what is shown. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hessrmt/error.h"
#include "hessrmt/plot.h"
#include "hessrmt/relu_sim.h"
#include "hessrmt/rmt.h"

#define PHI "\xcf\x86"
#define SIGMA "\xcf\x83"
#define LAMBDA "\xce\xbb"
#define PLUS_MINUS "\xc2\xb1"
#define MIDDOT " \xc2\xb7 "
#define SQRT "\xe2\x88\x9a"
#define LESS_EQUAL "\xe2\x89\xa4"
#define EPSILON "\xce\xb5"
#define CAPITAL_SIGMA "\xce\xa3"

static const char *const part_name[HR_RELU_PARTS] = {"H0", "H1", "H"};

/* ---- statistics over runs -------------------------------------------------- */

/* Mean over runs of the loss after t updates, and the half-width of its
 * 95% band, 1.96 s / sqrt(runs) with s the sample standard deviation (0
 * for a single run). */
static void loss_at(const hr_relu_result_t *res, int64_t t, double *mean,
                    double *half) {
  int64_t T = res->iters + 1, R = res->runs;
  double sum = 0, sq = 0;
  for (int64_t r = 0; r < R; r++) sum += res->losses[r * T + t];
  *mean = sum / (double)R;
  for (int64_t r = 0; r < R; r++) {
    double d = res->losses[r * T + t] - *mean;
    sq += d * d;
  }
  *half = R > 1 ? 1.96 * sqrt(sq / (double)(R - 1)) / sqrt((double)R) : 0.0;
}

static void extremes(const double *v, int64_t n, double *lo, double *hi) {
  *lo = INFINITY;
  *hi = -INFINITY;
  for (int64_t i = 0; i < n; i++) {
    *lo = fmin(*lo, v[i]);
    *hi = fmax(*hi, v[i]);
  }
}

/* Largest |l_k + l_(N+1-k)| over the runs: 0 for a spectrum symmetric
 * about zero. */
static double asymmetry_about_zero(const hr_relu_result_t *res) {
  double worst = 0;
  for (int64_t r = 0; r < res->runs; r++) {
    const double *l = res->evals[HR_RELU_H1] + r * res->N;
    for (int64_t k = 0; k < res->N; k++)
      worst = fmax(worst, fabs(l[k] + l[res->N - 1 - k]));
  }
  return worst;
}

/* ---- summary ------------------------------------------------------------------ */

static void print_loss(const hr_relu_result_t *res, FILE *out) {
  double m0, h0, mf, hf;
  loss_at(res, 0, &m0, &h0);
  loss_at(res, res->iters, &mf, &hf);
  fprintf(out, "  loss        %lld run%s, %lld iterations of step %g: %.6g -> "
          "%.6g (mean; 95%% band +/- %.3g)\n", (long long)res->runs,
          res->runs == 1 ? "" : "s", (long long)res->iters, res->step, m0, mf,
          hf);
}

static void print_spectra(const hr_relu_result_t *res, FILE *out) {
  int64_t n = res->runs * res->N;
  double lo[HR_RELU_PARTS], hi[HR_RELU_PARTS], sum = 0, trace = 0;
  for (int p = 0; p < HR_RELU_PARTS; p++)
    extremes(res->evals[p], n, &lo[p], &hi[p]);
  for (int64_t r = 0; r < res->runs; r++) {
    double s = 0;
    for (int64_t k = 0; k < res->N; k++) s += res->evals[HR_RELU_H1][r * res->N + k];
    sum = fmax(sum, fabs(s));
    trace = fmax(trace, fabs(res->trace[r * HR_RELU_PARTS + HR_RELU_H1]));
  }
  double top = fmax(fabs(hi[HR_RELU_H0]), DBL_MIN);
  /* the rounding of a solve: the numerical-zero cut of rmt.h */
  double cut = 100.0 * res->eps * (double)res->N * top;
  fprintf(out, "  H0          [%.6g, %.6g]; smallest eigenvalue %.3g = %.2g x "
          "the largest (%s)\n", lo[0], hi[0], lo[0], lo[0] / top,
          lo[0] >= -cut ? "positive semi-definite to rounding"
                        : "NOT positive semi-definite");
  fprintf(out, "  H1%-9s [%.6g, %.6g]; |trace| %.2g, |eigenvalue sum| %.2g, "
          "max |l_k + l_(N+1-k)| %.2g\n", res->rescale_h1 ? " rescaled" : "",
          lo[1], hi[1], trace, sum, asymmetry_about_zero(res));
  fprintf(out, "  H%-10s [%.6g, %.6g]\n", res->rescale_h1 ? " = H0+cH1" : "",
          lo[2], hi[2]);
}

void hr_relu_print_summary(const hr_relu_result_t *res, FILE *out) {
  const hr_relu_shape_t *s = &res->shape;
  char name[128];
  fprintf(out, "%s: n0 = %lld, n1 = %lld, n2 = %lld, m = %lld; N = %lld, "
          "phi = %.4g\n", hr_relu_shape_name(s, name, sizeof name),
          (long long)s->n0, (long long)s->n1, (long long)s->n2,
          (long long)s->m, (long long)res->N, hr_relu_phi(s));
  print_loss(res, out);
  print_spectra(res, out);
}

/* ---- figures ------------------------------------------------------------------ */

/* mkdir -p, as the figures of `stats` make their folders. */
static int make_dir(const char *dir) {
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path)
    HR_FAIL(HR_ERR_USAGE, "figure directory '%s' is too long", dir);
  for (char *c = path + 1;; c++) {
    if (*c != '/' && *c != '\0') continue;
    char keep = *c;
    *c = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      HR_FAIL(HR_ERR_IO, "cannot create figure directory '%s': %s", dir,
              strerror(errno));
    *c = keep;
    if (keep == '\0') break;
  }
  struct stat sb;
  if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
    HR_FAIL(HR_ERR_IO, "cannot create figure directory '%s': a file of that "
            "name is in the way", dir);
  return HR_OK;
}

/* The shape and the simulation's settings: every figure's subtitle. */
static void subtitle(const hr_relu_result_t *res, char *buf, size_t len) {
  const hr_relu_shape_t *s = &res->shape;
  snprintf(buf, len, "n0 %lld, n1 %lld, n2 %lld, m %lld" MIDDOT
           "N = %lld, " PHI " = %.3g" MIDDOT "%lld run%s of %lld iterations, "
           "step %g, " SIGMA " = %g", (long long)s->n0, (long long)s->n1,
           (long long)s->n2, (long long)s->m, (long long)res->N,
           hr_relu_phi(s), (long long)res->runs, res->runs == 1 ? "" : "s",
           (long long)res->iters, res->step, res->sigma);
}

static int save(hr_plot_t *p, const char *dir, const char *name) {
  char base[4200];
  if ((size_t)snprintf(base, sizeof base, "%s/%s", dir, name) >= sizeof base)
    HR_FAIL(HR_ERR_USAGE, "figure directory '%s' is too long", dir);
  return hr_plot_save(p, base);
}

/* mean, lo, hi over iterations; the band's lower edge, where it reaches
 * zero or below, is drawn at the bottom of the log axis, ymin. */
typedef struct {
  double *x, *mean, *lo, *hi, ymin, ymax;
} loss_curve_t;

static int loss_curve(const hr_relu_result_t *res, loss_curve_t *c) {
  int64_t T = res->iters + 1;
  HR_CALLOC(c->x, T);
  HR_CALLOC(c->mean, T);
  HR_CALLOC(c->lo, T);
  HR_CALLOC(c->hi, T);
  double floor = INFINITY, top = 0;
  for (int64_t t = 0; t < T; t++) {
    double half;
    loss_at(res, t, &c->mean[t], &half);
    c->x[t] = (double)t;
    c->lo[t] = c->mean[t] - half;
    c->hi[t] = c->mean[t] + half;
    if (c->mean[t] > 0) floor = fmin(floor, c->mean[t]);
    if (c->lo[t] > 0) floor = fmin(floor, c->lo[t]);
    top = fmax(top, c->hi[t]);
  }
  c->ymin = isfinite(floor) ? 0.5 * floor : NAN;
  /* a factor 3 of room on the log axis for the legend */
  c->ymax = top > 0 ? 3.0 * top : NAN;
  for (int64_t t = 0; t < T && isfinite(c->ymin); t++)
    c->lo[t] = fmax(c->lo[t], c->ymin);
  return HR_OK;
}

static void loss_curve_free(loss_curve_t *c) {
  free(c->x); free(c->mean); free(c->lo); free(c->hi);
}

static int loss_layers(const hr_relu_result_t *res, const loss_curve_t *c,
                       hr_plot_t *p) {
  int64_t T = res->iters + 1;
  char label[160];
  hr_style_t line = {HR_RGB_BLUE, HR_LINE_SOLID, 2.5,
                     T == 1 ? HR_MARK_CIRCLE : HR_MARK_NONE, 1.0};
  if (res->runs > 1)
    HR_CHECK(hr_plot_band(p, c->x, c->lo, c->hi, T, HR_RGB_SKY,
                          "95% band: mean " PLUS_MINUS " 1.96 s / " SQRT "runs"));
  snprintf(label, sizeof label, "mean loss over %lld run%s (" PHI " = %.3g)",
           (long long)res->runs, res->runs == 1 ? "" : "s",
           hr_relu_phi(&res->shape));
  HR_CHECK(hr_plot_series(p, c->x, c->mean, T, &line, label));
  snprintf(label, sizeof label, "final mean loss %.4g", c->mean[T - 1]);
  return hr_plot_legend_text(p, label);
}

static int loss_figure(const hr_relu_result_t *res, const char *dir, int width,
                       int height) {
  char sub[512];
  subtitle(res, sub, sizeof sub);
  loss_curve_t c;
  memset(&c, 0, sizeof c);
  int rc = loss_curve(res, &c);
  hr_plot_config_t pc;
  hr_plot_config_default(&pc);
  pc.title = "Loss during gradient descent, L = |W#d2#u relu(W#d1#u x) - y|#u2#d / (2m)";
  pc.subtitle = sub;
  pc.xlabel = "iteration (updates done)";
  pc.ylabel = "loss (log scale)";
  pc.width = width;
  pc.height = height;
  pc.log_y = 1;
  pc.ymin = c.ymin;
  pc.ymax = c.ymax;
  hr_plot_t *p = NULL;
  if (rc == HR_OK) rc = hr_plot_create(&pc, &p);
  if (rc == HR_OK) rc = loss_layers(res, &c, p);
  if (rc == HR_OK) rc = save(p, dir, "losses");
  hr_plot_free(p);
  loss_curve_free(&c);
  return rc;
}

/* The larger of Rice's rule, 2 n^(1/3), and sqrt(n) bins (Hessian spectra
 * have long tails that squeeze the bulk into few bars), kept within
 * 21 .. 201 and odd, so a spectrum symmetric about zero has a bar centred
 * on zero. */
static int bins_for(int64_t n) {
  int b = (int)ceil(fmax(2.0 * cbrt((double)n), sqrt((double)n)));
  b = b < 21 ? 21 : b > 201 ? 201 : b;
  return b | 1;
}

/* Eigenvalues at zero to the rounding of the solve, over all runs. */
static int64_t zeros(const hr_relu_result_t *res, int part) {
  int64_t count = 0;
  for (int64_t r = 0; r < res->runs; r++) {
    const double *l = res->evals[part] + r * res->N;
    double cut = hr_zero_cut(l, res->N, res->eps);
    for (int64_t k = 0; k < res->N; k++) count += fabs(l[k]) <= cut;
  }
  return count;
}

static const char *spectrum_title(const hr_relu_result_t *res, int part) {
  switch (part) {
    case HR_RELU_H0: return "Eigenvalues of H#d0#u, the Gauss-Newton part (1/m) "
                            CAPITAL_SIGMA " J#uT#d J";
    case HR_RELU_H1: return res->rescale_h1
                                ? "Eigenvalues of c H#d1#u, the residual part "
                                  "rescaled by c = " SQRT "(L#dfinal#u / L#dinitial#u)"
                                : "Eigenvalues of H#d1#u = H - H#d0#u, the residual part";
    default: return res->rescale_h1
                        ? "Eigenvalues of H#d0#u + c H#d1#u (the notebook's rescaled H)"
                        : "Eigenvalues of the Hessian H = H#d0#u + H#d1#u";
  }
}

static int spectrum_layers(const hr_relu_result_t *res, int part,
                           hr_plot_t *p) {
  static const hr_rgb_t colour[HR_RELU_PARTS] = {
      HR_RGB_BLUE, HR_RGB_VERMILLION, HR_RGB_GREEN};
  int64_t n = res->runs * res->N;
  double lo, hi;
  extremes(res->evals[part], n, &lo, &hi);
  char label[160];
  snprintf(label, sizeof label, "%lld eigenvalues (%lld run%s x N = %lld)",
           (long long)n, (long long)res->runs, res->runs == 1 ? "" : "s",
           (long long)res->N);
  HR_CHECK(hr_plot_histogram(p, res->evals[part], n, lo, hi, bins_for(n), 1,
                             colour[part], label));
  snprintf(label, sizeof label, "smallest %.4g, largest %.4g", lo, hi);
  HR_CHECK(hr_plot_legend_text(p, label));
  snprintf(label, sizeof label, "%lld at zero (|" LAMBDA "| " LESS_EQUAL
           " 100 " EPSILON " N max|" LAMBDA "|)", (long long)zeros(res, part));
  return hr_plot_legend_text(p, label);
}

static int spectrum_figure(const hr_relu_result_t *res, int part,
                           const char *dir, int width, int height) {
  char sub[512], name[32];
  subtitle(res, sub, sizeof sub);
  hr_plot_config_t pc;
  hr_plot_config_default(&pc);
  pc.title = spectrum_title(res, part);
  pc.subtitle = sub;
  pc.xlabel = "eigenvalue " LAMBDA;
  pc.ylabel = "density";
  pc.width = width;
  pc.height = height;
  pc.headroom = 0.4;  /* room for the legend above the bars */
  hr_plot_t *p = NULL;
  int rc = hr_plot_create(&pc, &p);
  if (rc == HR_OK) rc = spectrum_layers(res, part, p);
  snprintf(name, sizeof name, "spectrum_%s", part_name[part]);
  if (rc == HR_OK) rc = save(p, dir, name);
  hr_plot_free(p);
  return rc;
}

int hr_relu_figures_prepare(const char *dir) {
  if (!hr_plot_available()) HR_FAIL(HR_ERR_USAGE, "--plots: " HR_PLOT_MISSING);
  return make_dir(dir);
}

int hr_relu_figures(const hr_relu_result_t *res, const char *dir, int width,
                    int height) {
  HR_CHECK(hr_relu_figures_prepare(dir));
  HR_CHECK(loss_figure(res, dir, width, height));
  for (int part = 0; part < HR_RELU_PARTS; part++)
    HR_CHECK(spectrum_figure(res, part, dir, width, height));
  return HR_OK;
}
