/* The ReLU simulation's serial parts (see relu_sim.h): the sweep of
 * shapes, one run's data and gradient descent, and the per-shape results. */
#include "hessrmt/relu_sim.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/random.h"

/* ---- shapes ----------------------------------------------------------------- */

static int list_error(const char *name, const char *text, const char *why) {
  HR_FAIL(HR_ERR_USAGE, "--%s '%s': %s; give distinct positive integers "
          "separated by commas, e.g. --%s 10,20,50 (see 'hessrmt relu-sim "
          "--help')", name, text, why, name);
}

/* One item of a list, without surrounding blanks, into *value. */
static int parse_item(const char *start, const char *end, int64_t *value) {
  while (start < end && isspace((unsigned char)*start)) start++;
  while (end > start && isspace((unsigned char)end[-1])) end--;
  if (start == end) return -1;
  int64_t v = 0;
  for (const char *c = start; c < end; c++) {
    if (!isdigit((unsigned char)*c)) return -1;
    v = 10 * v + (*c - '0');
    if (v > HR_RELU_MAX_SIZE) return -2;
  }
  *value = v;
  return v >= 1 ? 0 : -1;
}

int hr_relu_parse_list(const char *name, const char *text, int64_t **values,
                       int *count) {
  *values = NULL;
  *count = 0;
  int most = 1;
  for (const char *c = text; *c; c++) most += *c == ',';
  int64_t *v = malloc((size_t)most * sizeof *v);
  if (!v) HR_FAIL(HR_ERR_MEMORY, "out of memory for the --%s list", name);
  const char *start = text;
  for (int i = 0; i < most; i++) {
    const char *end = strchr(start, ',');
    if (!end) end = start + strlen(start);
    int bad = parse_item(start, end, &v[i]);
    for (int j = 0; j < i && !bad; j++) bad = v[j] == v[i] ? -3 : 0;
    if (bad) {
      free(v);
      return list_error(name, text, bad == -2 ? "a value is larger than 10^8"
                                    : bad == -3 ? "a value appears twice"
                                                : "not a positive integer");
    }
    start = end + 1;
  }
  *values = v;
  *count = most;
  return HR_OK;
}

int64_t hr_relu_params(const hr_relu_shape_t *s) {
  return s->n1 * (s->n0 + s->n2);
}

double hr_relu_phi(const hr_relu_shape_t *s) {
  return (double)hr_relu_params(s) / ((double)s->n2 * (double)s->m);
}

const char *hr_relu_shape_name(const hr_relu_shape_t *s, char *buf,
                               size_t len) {
  snprintf(buf, len, "shape_%lld_%lld_%lld_%lld", (long long)s->n0,
           (long long)s->n1, (long long)s->n2, (long long)s->m);
  return buf;
}

static int check_shape(const hr_relu_shape_t *s) {
  if (hr_relu_params(s) > HR_RELU_MAX_N)
    HR_FAIL(HR_ERR_INPUT, "n0 = %lld, n1 = %lld, n2 = %lld give N = %lld "
            "parameters: more than %d, whose dense Hessian no machine holds",
            (long long)s->n0, (long long)s->n1, (long long)s->n2,
            (long long)hr_relu_params(s), HR_RELU_MAX_N);
  return HR_OK;
}

static int fill_sweep(int64_t *const lists[4], const int n[4],
                      hr_relu_shape_t *out) {
  int k = 0;
  for (int a = 0; a < n[0]; a++)
    for (int b = 0; b < n[1]; b++)
      for (int c = 0; c < n[2]; c++)
        for (int d = 0; d < n[3]; d++, k++) {
          out[k] = (hr_relu_shape_t){lists[0][a], lists[1][b], lists[2][c],
                                     lists[3][d]};
          HR_CHECK(check_shape(&out[k]));
        }
  return HR_OK;
}

int hr_relu_sweep(const hr_relu_settings_t *o, hr_relu_shape_t **shapes,
                  int *count) {
  static const char *const names[4] = {"n0", "n1", "n2", "m"};
  const char *texts[4] = {o->n0_list, o->n1_list, o->n2_list, o->m_list};
  int64_t *lists[4] = {NULL, NULL, NULL, NULL};
  int n[4] = {0, 0, 0, 0}, rc = HR_OK;
  int64_t total = 1;
  for (int i = 0; i < 4 && rc == HR_OK; i++) {
    rc = hr_relu_parse_list(names[i], texts[i], &lists[i], &n[i]);
    total *= n[i];
  }
  if (rc == HR_OK && total > 100000)
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "the lists make %lld shapes; at most 100000",
                      (long long)total);
  hr_relu_shape_t *all = NULL;
  if (rc == HR_OK) {
    all = malloc((size_t)total * sizeof *all);
    rc = all ? fill_sweep(lists, n, all)
             : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                            "out of memory for %lld shapes", (long long)total);
  }
  for (int i = 0; i < 4; i++) free(lists[i]);
  if (rc != HR_OK) free(all);
  *shapes = rc == HR_OK ? all : NULL;
  *count = rc == HR_OK ? (int)total : 0;
  return rc;
}

/* ---- one run ------------------------------------------------------------------ */

int hr_relu_run_create(const hr_relu_shape_t *s, int64_t iters,
                       hr_relu_run_t *run) {
  memset(run, 0, sizeof *run);
  run->shape = *s;
  run->iters = iters;
  char spec[128];
  snprintf(spec, sizeof spec, "mlp:%lld-%lld-%lld", (long long)s->n0,
           (long long)s->n1, (long long)s->n2);
  HR_CHECK(hr_model_init(&run->model, spec, s->n0, s->n2, 0, HR_ACT_RELU,
                       HR_LOSS_MSE));
  int64_t N = run->model.nparams;
  HR_CALLOC(run->x, s->m * s->n0);
  HR_CALLOC(run->y, s->m * s->n2);
  HR_CALLOC(run->labels, s->m);
  HR_CALLOC(run->theta0, N);
  HR_CALLOC(run->theta, N);
  HR_CALLOC(run->losses, iters + 1);
  return HR_OK;
}

void hr_relu_run_free(hr_relu_run_t *run) {
  free(run->x); free(run->y); free(run->labels);
  free(run->theta0); free(run->theta); free(run->losses);
  memset(run, 0, sizeof *run);
}

/* Arrays of a run, each its own stream of draws. */
enum { DRAW_X, DRAW_Y, DRAW_W1, DRAW_W2, DRAWS };

/* The key of a shape: Philox itself as the hash of (n0, n1, n2, m), so
 * shapes get unrelated streams and a shape keeps its own in any sweep. */
static uint64_t shape_key(uint64_t seed, const hr_relu_shape_t *s) {
  uint32_t w[4];
  hr_philox4x32(seed, (uint32_t)s->n0, (uint32_t)s->n1, (uint32_t)s->n2,
                (uint32_t)s->m, w);
  return ((uint64_t)w[1] << 32) | w[0];
}

/* Entry (i, j) of array `what` of run r, in the notebook's orientation:
 * x (n0 x m), y (n2 x m), W1 (n1 x n0), W2 (n2 x n1). */
static double draw(uint64_t key, double sigma, int64_t r, int what, int64_t i,
                   int64_t j) {
  return sigma * hr_random_normal(key, (uint64_t)(DRAWS * r + what), i, j,
                                  HR_STREAM_ENTRY);
}

void hr_relu_generate(hr_relu_run_t *run, uint64_t seed, double sigma,
                      int64_t r) {
  const hr_relu_shape_t *s = &run->shape;
  uint64_t key = shape_key(seed, s);
  for (int64_t u = 0; u < s->m; u++) {
    for (int64_t f = 0; f < s->n0; f++)
      run->x[u * s->n0 + f] = draw(key, sigma, r, DRAW_X, f, u);
    for (int64_t c = 0; c < s->n2; c++)
      run->y[u * s->n2 + c] = draw(key, sigma, r, DRAW_Y, c, u);
  }
  double *w1 = run->theta0 + hr_model_param_layer(&run->model, 0)->offset_w;
  double *w2 = run->theta0 + hr_model_param_layer(&run->model, 1)->offset_w;
  for (int64_t a = 0; a < s->n1; a++)
    for (int64_t b = 0; b < s->n0; b++)
      w1[a * s->n0 + b] = draw(key, sigma, r, DRAW_W1, a, b);
  for (int64_t c = 0; c < s->n2; c++)
    for (int64_t d = 0; d < s->n1; d++)
      w2[c * s->n1 + d] = draw(key, sigma, r, DRAW_W2, c, d);
  memcpy(run->theta, run->theta0,
         (size_t)run->model.nparams * sizeof *run->theta);
}

void hr_relu_loss_grad(const hr_relu_run_t *run, const double *theta,
                       hr_model_work_t *w, double *loss, double *grad) {
  int64_t N = run->model.nparams, m = run->shape.m;
  hr_samples_t all = {m, run->x, run->labels, run->y};
  if (grad) memset(grad, 0, (size_t)N * sizeof *grad);
  /* model.c sums 1/2 |f - y|^2 and its gradient over the samples */
  hr_model_loss_grad(&run->model, theta, &all, w, loss, grad);
  *loss /= (double)m;
  for (int64_t i = 0; grad && i < N; i++) grad[i] /= (double)m;
}

static int all_finite(const double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

static int diverged(const hr_relu_run_t *run, int64_t t, double step) {
  HR_FAIL(HR_ERR_INPUT, "gradient descent diverged for n0 = %lld, n1 = %lld, "
          "n2 = %lld, m = %lld: the loss is %g after %lld iterations; use a "
          "smaller --step than %g", (long long)run->shape.n0,
          (long long)run->shape.n1, (long long)run->shape.n2,
          (long long)run->shape.m, run->losses[t], (long long)t, step);
}

static int descend_with(hr_relu_run_t *run, double step, hr_model_work_t *w,
                        double *grad) {
  int64_t N = run->model.nparams;
  for (int64_t t = 0; t < run->iters; t++) {
    hr_relu_loss_grad(run, run->theta, w, &run->losses[t], grad);
    if (!isfinite(run->losses[t]) || !all_finite(grad, N))
      return diverged(run, t, step);
    for (int64_t i = 0; i < N; i++) run->theta[i] -= step * grad[i];
  }
  hr_relu_loss_grad(run, run->theta, w, &run->losses[run->iters], NULL);
  if (!isfinite(run->losses[run->iters]) || !all_finite(run->theta, N))
    return diverged(run, run->iters, step);
  return HR_OK;
}

int hr_relu_descend(hr_relu_run_t *run, double step) {
  int64_t N = run->model.nparams;
  memcpy(run->theta, run->theta0, (size_t)N * sizeof *run->theta);
  hr_model_work_t *w = NULL;
  HR_CHECK(hr_model_work_create(&run->model, run->shape.m, 1, &w));
  double *grad = malloc((size_t)N * sizeof *grad);
  int rc = grad ? descend_with(run, step, w, grad)
                : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                               "out of memory for a gradient of %lld values",
                               (long long)N);
  free(grad);
  hr_model_work_free(w);
  return rc;
}

double hr_relu_h1_scale(const hr_relu_run_t *run) {
  double l0 = run->losses[0], lf = run->losses[run->iters];
  return l0 > 0 ? sqrt(lf / l0) : 1.0;
}

/* ---- results ------------------------------------------------------------------ */

int64_t hr_relu_result_bytes(const hr_relu_shape_t *s, int64_t runs,
                             int64_t iters) {
  int64_t N = hr_relu_params(s);
  return runs * ((iters + 1) + 4 * N + 7) * (int64_t)sizeof(double);
}

int hr_relu_result_create(const hr_relu_shape_t *s, const hr_relu_settings_t *o,
                          hr_relu_result_t *res) {
  memset(res, 0, sizeof *res);
  res->shape = *s;
  res->N = hr_relu_params(s);
  res->runs = o->runs;
  res->iters = o->iters;
  res->seed = o->seed;
  res->sigma = o->sigma;
  res->step = o->step;
  res->rescale_h1 = o->rescale_h1;
  res->eps = o->precision == HR_PRECISION_SINGLE ? FLT_EPSILON : DBL_EPSILON;
  HR_CALLOC(res->losses, res->runs * (res->iters + 1));
  for (int p = 0; p < HR_RELU_PARTS; p++)
    HR_CALLOC(res->evals[p], res->runs * res->N);
  HR_CALLOC(res->theta, res->runs * res->N);
  HR_CALLOC(res->h1_scale, res->runs);
  HR_CALLOC(res->trace, res->runs * HR_RELU_PARTS);
  HR_CALLOC(res->asymmetry, res->runs * HR_RELU_PARTS);
  return HR_OK;
}

void hr_relu_result_free(hr_relu_result_t *res) {
  free(res->losses);
  for (int p = 0; p < HR_RELU_PARTS; p++) free(res->evals[p]);
  free(res->theta); free(res->h1_scale);
  free(res->trace); free(res->asymmetry);
  memset(res, 0, sizeof *res);
}

/* Message layout: losses, the three spectra, theta, h1_scale, traces,
 * asymmetries. */
int64_t hr_relu_pack_size(const hr_relu_result_t *res) {
  return (res->iters + 1) + 4 * res->N + 1 + 2 * HR_RELU_PARTS;
}

void hr_relu_pack(const hr_relu_run_t *run, const hr_relu_spectra_t *sp,
                  double h1_scale, double *buf) {
  int64_t N = run->model.nparams, T = run->iters + 1;
  memcpy(buf, run->losses, (size_t)T * sizeof *buf);
  buf += T;
  for (int p = 0; p < HR_RELU_PARTS; p++, buf += N)
    memcpy(buf, sp->evals[p], (size_t)N * sizeof *buf);
  memcpy(buf, run->theta, (size_t)N * sizeof *buf);
  buf += N;
  *buf++ = h1_scale;
  for (int p = 0; p < HR_RELU_PARTS; p++) *buf++ = sp->trace[p];
  for (int p = 0; p < HR_RELU_PARTS; p++) *buf++ = sp->asymmetry[p];
}

void hr_relu_unpack(const double *buf, int64_t r, hr_relu_result_t *res) {
  int64_t N = res->N, T = res->iters + 1;
  memcpy(res->losses + r * T, buf, (size_t)T * sizeof *buf);
  buf += T;
  for (int p = 0; p < HR_RELU_PARTS; p++, buf += N)
    memcpy(res->evals[p] + r * N, buf, (size_t)N * sizeof *buf);
  memcpy(res->theta + r * N, buf, (size_t)N * sizeof *buf);
  buf += N;
  res->h1_scale[r] = *buf++;
  for (int p = 0; p < HR_RELU_PARTS; p++)
    res->trace[r * HR_RELU_PARTS + p] = *buf++;
  for (int p = 0; p < HR_RELU_PARTS; p++)
    res->asymmetry[r * HR_RELU_PARTS + p] = *buf++;
}
