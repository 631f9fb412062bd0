/* Exact derivatives of every model, loss and activation against
 * independent references: central finite differences of the loss (for the
 * gradient), of the analytic gradient (for Hessian-vector products) and of
 * the network outputs (for the Gauss-Newton part J^T Lambda J), plus the
 * identities of DESIGN.md: H = H0 + H1, logistic null directions 1_C (x) v
 * and batch rank B(C-1), and for a one-hidden-layer ReLU network H1's
 * spectrum symmetric about zero with zero trace and H0 positive
 * semi-definite; the first layer's Kronecker block from its curvature
 * M_s; the input-span reduction's spectrum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hessrmt/error.h"
#include "hessrmt/model.h"
#include "hessrmt/random.h"
#include "../src/model/layers.h" /* the pooling routes, tested directly */

void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
             const int *lda, double *w, double *work, const int *lwork,
             int *iwork, const int *liwork, int *info);

typedef struct {
  hr_model_t m;
  hr_samples_t s;
  double *x, *targets, *theta;
  int32_t *labels;
  hr_model_work_t *w;
} problem_t;

static double normal(uint64_t k, int64_t i, int64_t j) {
  return hr_random_normal(77, k, i, j, HR_STREAM_ENTRY);
}

static void problem_init(problem_t *p, const char *spec, int64_t D, int64_t C,
                         int bias, hr_activation_t a, hr_loss_t loss,
                         int real_targets, int64_t S, uint64_t seed) {
  memset(p, 0, sizeof *p);
  if (hr_model_init(&p->m, spec, D, C, bias, a, loss) != HR_OK) abort();
  int64_t N = p->m.nparams, out = p->m.outputs;
  int64_t in = p->m.input.c * p->m.input.h * p->m.input.w;
  p->x = malloc((size_t)(S * in) * sizeof *p->x);
  p->labels = malloc((size_t)S * sizeof *p->labels);
  p->theta = malloc((size_t)N * sizeof *p->theta);
  for (int64_t i = 0; i < S * in; i++) p->x[i] = normal(seed, i, 0);
  for (int64_t i = 0; i < S; i++) p->labels[i] = (int32_t)((i * 7 + seed) % out);
  for (int64_t i = 0; i < N; i++) p->theta[i] = 0.7 * normal(seed + 1, i, 1);
  if (real_targets) {
    p->targets = malloc((size_t)(S * out) * sizeof *p->targets);
    for (int64_t i = 0; i < S * out; i++) p->targets[i] = normal(seed + 2, i, 2);
  }
  /* BatchNorm statistics away from PyTorch's initial 0 and 1 */
  for (int l = 0; l < p->m.nlayers; l++) {
    const hr_layer_t *L = &p->m.layer[l];
    if (L->kind != HR_LAYER_BATCHNORM) continue;
    for (int64_t c = 0; c < L->in.c; c++) {
      double u = normal(seed + 3, l, c);
      p->m.buffer[L->offset_buf + c] = 0.3 * u;
      p->m.buffer[L->offset_buf + L->in.c + c] = 0.4 + u * u;
    }
  }
  p->s = (hr_samples_t){S, p->x, p->labels, p->targets};
  if (hr_model_work_create(&p->m, S, N, &p->w) != HR_OK) abort();
}

static void problem_free(problem_t *p) {
  hr_model_work_free(p->w);
  free(p->x); free(p->labels); free(p->theta); free(p->targets);
}

static double loss_at(problem_t *p, const double *theta) {
  double loss;
  hr_model_loss_grad(&p->m, theta, &p->s, p->w, &loss, NULL);
  return loss;
}

static void grad_at(problem_t *p, const double *theta, double *g) {
  double loss;
  memset(g, 0, (size_t)p->m.nparams * sizeof *g);
  hr_model_loss_grad(&p->m, theta, &p->s, p->w, &loss, g);
}

/* Dense H (or part) from N unit-vector products, column-major N x N. */
static double *dense_hessian(problem_t *p, hr_part_t part) {
  int64_t N = p->m.nparams;
  double *E = calloc((size_t)(N * N), sizeof *E), *H = calloc((size_t)(N * N), sizeof *H);
  for (int64_t j = 0; j < N; j++) E[j * N + j] = 1;
  hr_model_hvp(&p->m, p->theta, &p->s, part, E, N, p->w, H);
  free(E);
  return H;
}

static void eigenvalues(double *A, int n, double *ev) {
  int lwork = -1, liwork = -1, iq, info;
  double wq;
  dsyevd_("N", "L", &n, A, &n, ev, &wq, &lwork, &iq, &liwork, &info);
  lwork = (int)wq + 1; liwork = iq + 1;
  double *work = malloc((size_t)lwork * sizeof *work);
  int *iwork = malloc((size_t)liwork * sizeof *iwork);
  dsyevd_("N", "L", &n, A, &n, ev, work, &lwork, iwork, &liwork, &info);
  free(work); free(iwork);
}

/* Gradient, HVP and the GN part against finite differences; H = H0 + H1;
 * H0 = G^T G from the factor rows; symmetry. */
static void check_derivatives(const char *spec, int64_t D, int64_t C, int bias,
                              hr_activation_t a, hr_loss_t loss, int real) {
  problem_t p;
  problem_init(&p, spec, D, C, bias, a, loss, real, 6, 3);
  int64_t N = p.m.nparams, out = p.m.outputs;
  char name[320];
  snprintf(name, sizeof name, "%s D=%lld C=%lld bias=%d act=%d loss=%d real=%d",
           spec, (long long)D, (long long)C, bias, (int)a, (int)loss, real);
  double *g = malloc((size_t)N * sizeof *g), *fd = malloc((size_t)N * sizeof *fd);
  double *t = malloc((size_t)N * sizeof *t);
  const double h = 1e-5;

  grad_at(&p, p.theta, g);
  for (int64_t i = 0; i < N; i++) {
    memcpy(t, p.theta, (size_t)N * sizeof *t);
    t[i] += h; double up = loss_at(&p, t);
    t[i] -= 2 * h; double dn = loss_at(&p, t);
    fd[i] = (up - dn) / (2 * h);
  }
  double e = test_max_rel_diff(g, fd, N);
  EXPECT(e < 1e-7, "%s: gradient vs finite differences %.2e", name, e);

  /* H v against the difference of gradients along a random v. */
  double *v = malloc((size_t)N * sizeof *v), *hv = calloc((size_t)N, sizeof *hv);
  double *gp = malloc((size_t)N * sizeof *gp), *gm = malloc((size_t)N * sizeof *gm);
  for (int64_t i = 0; i < N; i++) v[i] = normal(9, i, 3);
  hr_model_hvp(&p.m, p.theta, &p.s, HR_PART_FULL, v, 1, p.w, hv);
  for (int64_t i = 0; i < N; i++) t[i] = p.theta[i] + h * v[i];
  grad_at(&p, t, gp);
  for (int64_t i = 0; i < N; i++) t[i] = p.theta[i] - h * v[i];
  grad_at(&p, t, gm);
  for (int64_t i = 0; i < N; i++) fd[i] = (gp[i] - gm[i]) / (2 * h);
  e = test_max_rel_diff(hv, fd, N);
  EXPECT(e < 1e-6, "%s: H v vs finite differences of the gradient %.2e", name, e);

  /* H = H0 + H1, H symmetric, H0 = J^T Lambda J with J by differences. */
  double *H = dense_hessian(&p, HR_PART_FULL), *H0 = dense_hessian(&p, HR_PART_GN);
  double *H1 = dense_hessian(&p, HR_PART_RESIDUAL);
  double split = 0, asym = 0, scale = 0;
  for (int64_t i = 0; i < N * N; i++) {
    split = fmax(split, fabs(H[i] - H0[i] - H1[i]));
    scale = fmax(scale, fabs(H[i]));
  }
  for (int64_t i = 0; i < N; i++)
    for (int64_t j = 0; j < N; j++)
      asym = fmax(asym, fabs(H[i * N + j] - H[j * N + i]));
  EXPECT(split <= 1e-13 * scale, "%s: |H - H0 - H1| = %.2e", name, split);
  EXPECT(asym <= 1e-13 * scale, "%s: |H - H^T| = %.2e", name, asym);

  /* Gauss-Newton factor rows: G^T G = H0. */
  int64_t R = p.s.count * out;
  double *G = malloc((size_t)(R * N) * sizeof *G);
  hr_model_gn_factor(&p.m, p.theta, &p.s, p.w, G);
  double gerr = 0, h0max = 0;
  for (int64_t i = 0; i < N; i++)
    for (int64_t j = 0; j < N; j++) {
      double sum = 0;
      for (int64_t r = 0; r < R; r++) sum += G[r * N + i] * G[r * N + j];
      gerr = fmax(gerr, fabs(sum - H0[j * N + i]));
      h0max = fmax(h0max, fabs(H0[j * N + i]));
    }
  EXPECT(gerr <= 1e-12 * h0max, "%s: G^T G vs H0 %.2e", name, gerr);

  /* The layer-wise rows give G G^T without G (the Gram path's identity). */
  int64_t dw = hr_model_gn_delta_width(&p.m), aw = hr_model_gn_input_width(&p.m);
  double *Dl = malloc((size_t)(R * dw) * sizeof *Dl);
  double *Al = malloc((size_t)(p.s.count * aw) * sizeof *Al);
  hr_model_gn_layers(&p.m, p.theta, &p.s, p.w, Dl, Al);
  double *K = malloc((size_t)(R * R) * sizeof *K), *Kd = malloc((size_t)(R * R) * sizeof *Kd);
  double *Ka = malloc((size_t)(p.s.count * p.s.count) * sizeof *Ka);
  hr_model_gram_from_layers(&p.m, Dl, Al, p.s.count, 0.5, 0, 0, K, Kd, Ka);
  double kerr = 0, kmax = 0;
  for (int64_t r = 0; r < R; r++)
    for (int64_t q = 0; q <= r; q++) {
      double direct = 0;
      for (int64_t i = 0; i < N; i++) direct += G[r * N + i] * G[q * N + i];
      kerr = fmax(kerr, fabs(0.5 * direct - K[r * R + q]));
      kmax = fmax(kmax, fabs(0.5 * direct));
    }
  free(K); free(Kd); free(Ka);
  EXPECT(kerr <= 1e-13 * kmax, "%s: layer-wise G G^T %.2e", name, kerr);
  free(Dl);
  free(Al);
  free(G);

  /* J by central differences of the outputs, then J^T Lambda J. */
  int64_t S = p.s.count;
  double *J = malloc((size_t)(S * out * N) * sizeof *J);
  double *fp = malloc((size_t)(S * out) * sizeof *fp), *f0 = malloc((size_t)(S * out) * sizeof *f0);
  for (int64_t i = 0; i < N; i++) {
    memcpy(t, p.theta, (size_t)N * sizeof *t);
    t[i] += h;
    hr_model_outputs(&p.m, t, &p.s, p.w, fp);
    t[i] -= 2 * h;
    hr_model_outputs(&p.m, t, &p.s, p.w, f0);
    for (int64_t r = 0; r < S * out; r++) J[r * N + i] = (fp[r] - f0[r]) / (2 * h);
  }
  hr_model_outputs(&p.m, p.theta, &p.s, p.w, f0);
  double jerr = 0;
  for (int64_t i = 0; i < N; i++)
    for (int64_t j = 0; j < N; j++) {
      double sum = 0;
      for (int64_t s = 0; s < S; s++) {
        const double *f = f0 + s * out;
        double pr[64], mx = f[0], z = 0;
        for (int64_t c = 1; c < out; c++) mx = fmax(mx, f[c]);
        for (int64_t c = 0; c < out; c++) z += exp(f[c] - mx);
        for (int64_t c = 0; c < out; c++) pr[c] = exp(f[c] - mx) / z;
        for (int64_t c = 0; c < out; c++)
          for (int64_t c2 = 0; c2 < out; c2++) {
            double lam = loss == HR_LOSS_CE ? (c == c2 ? pr[c] : 0) - pr[c] * pr[c2]
                                            : (c == c2 ? 1 : 0);
            sum += J[(s * out + c) * N + i] * lam * J[(s * out + c2) * N + j];
          }
      }
      jerr = fmax(jerr, fabs(sum - H0[j * N + i]));
    }
  EXPECT(jerr <= 1e-6 * fmax(h0max, 1e-300), "%s: H0 vs J^T Lambda J by "
         "differences %.2e", name, jerr / h0max);
  free(J); free(fp); free(f0);
  free(H); free(H0); free(H1);
  free(g); free(fd); free(t); free(v); free(hv); free(gp); free(gm);
  problem_free(&p);
}

/* Logistic regression: H (1_C (x) v) = 0 and batch rank B (C - 1). */
static void check_logistic_structure(void) {
  const int64_t D = 12, C = 4, B = 5;
  problem_t p;
  problem_init(&p, "logistic", D, C, 1, HR_ACT_RELU, HR_LOSS_CE, 0, B, 5);
  int64_t N = p.m.nparams;
  EXPECT(N == C * (D + 1), "logistic N = %lld", (long long)N);
  double *v = calloc((size_t)N, sizeof *v), *hv = calloc((size_t)N, sizeof *hv);
  for (int64_t c = 0; c < C; c++) {
    for (int64_t j = 0; j < D; j++) v[c * D + j] = normal(11, j, 0);
    v[C * D + c] = normal(11, D, 0);  /* the bias entry of x~ = [x; 1] */
  }
  hr_model_hvp(&p.m, p.theta, &p.s, HR_PART_FULL, v, 1, p.w, hv);
  double norm = 0;
  for (int64_t i = 0; i < N; i++) norm = fmax(norm, fabs(hv[i]));
  EXPECT(norm < 1e-14, "H (1_C x v) = %.2e, expected 0", norm);
  double *H = dense_hessian(&p, HR_PART_FULL), *ev = malloc((size_t)N * sizeof *ev);
  eigenvalues(H, (int)N, ev);
  int64_t rank = 0;
  for (int64_t i = 0; i < N; i++) rank += fabs(ev[i]) > 1e-10 * fabs(ev[N - 1]);
  EXPECT(rank == B * (C - 1), "logistic batch rank %lld, expected %lld",
         (long long)rank, (long long)(B * (C - 1)));
  free(v); free(hv); free(H); free(ev);
  problem_free(&p);
}

/* One hidden ReLU layer, no biases, squared error (the seed-2 network):
 * H1 = [[0, B], [B^T, 0]] so its spectrum is symmetric and its trace 0;
 * H0 is positive semi-definite. */
static void check_relu_split(void) {
  problem_t p;
  problem_init(&p, "mlp:5-7-3", 0, 0, 0, HR_ACT_RELU, HR_LOSS_MSE, 1, 9, 8);
  int64_t N = p.m.nparams;
  double *H1 = dense_hessian(&p, HR_PART_RESIDUAL), *H0 = dense_hessian(&p, HR_PART_GN);
  double trace = 0, scale = 0;
  for (int64_t i = 0; i < N; i++) trace += H1[i * N + i];
  for (int64_t i = 0; i < N * N; i++) scale = fmax(scale, fabs(H1[i]));
  EXPECT(scale > 0.1, "H1 is not trivially zero (%g)", scale);
  EXPECT(fabs(trace) < 1e-14 * scale * N, "trace H1 = %.2e", trace);
  double *ev = malloc((size_t)N * sizeof *ev);
  eigenvalues(H1, (int)N, ev);
  double sym = 0;
  for (int64_t i = 0; i < N; i++) sym = fmax(sym, fabs(ev[i] + ev[N - 1 - i]));
  EXPECT(sym < 1e-12 * fabs(ev[N - 1]), "H1 spectrum asymmetry %.2e", sym);
  eigenvalues(H0, (int)N, ev);
  EXPECT(ev[0] > -1e-12 * ev[N - 1], "H0 smallest eigenvalue %.2e", ev[0]);
  free(H1); free(H0); free(ev);
  problem_free(&p);
}

/* Max pooling routes through the first maximal element of each window
 * (PyTorch's rule) when values tie, forward and backward. */
static void check_maxpool_ties(void) {
  hr_model_t m;
  if (hr_model_init(&m, "input 1x4x5, maxpool 2 stride 2, flatten, linear 1",
                    0, 0, 0, HR_ACT_RELU, HR_LOSS_MSE) != HR_OK) abort();
  const hr_layer_t *L = &m.layer[0];
  EXPECT(L->out.h == 2 && L->out.w == 2, "pool 4x5 -> %lldx%lld, want 2x2 "
         "(the last column is dropped)", (long long)L->out.h, (long long)L->out.w);
  /* window (0,0): 3 3 / 3 1 -> index 0; window (0,1): 1 2 / 2 2 -> index 3;
   * window (1,0): all 7 -> index 10; window (1,1): 0 0 / 5 5 -> index 17 */
  const double x[20] = {3, 3, 1, 2, 9, 3, 1, 2, 2, 9, 7, 7, 0, 0, 9, 7, 7, 5, 5, 9};
  double y[4], g[4] = {1, 2, 3, 4}, dx[20];
  int32_t arg[4];
  hr_pool_forward(L, x, 1, y, arg);
  static const int32_t want[4] = {0, 3, 10, 17};
  for (int o = 0; o < 4; o++)
    EXPECT(arg[o] == want[o], "tie window %d routes to %d, want %d", o, arg[o], want[o]);
  hr_pool_back(L, g, 1, 1, arg, dx, 0);
  double total = 0;
  for (int i = 0; i < 20; i++) total += dx[i];
  EXPECT(dx[0] == 1 && dx[3] == 2 && dx[10] == 3 && dx[17] == 4 && total == 10,
         "tie back-routing");
}

/* check_derivatives on each spec (3 outputs), with and without biases,
 * for cross-entropy and for squared error on real targets. */
static void check_specs(const char *const *specs, size_t n) {
  for (size_t i = 0; i < n; i++)
    for (int bias = 0; bias <= 1; bias++) {
      check_derivatives(specs[i], 0, 3, bias, HR_ACT_RELU, HR_LOSS_CE, 0);
      check_derivatives(specs[i], 0, 3, bias, HR_ACT_RELU, HR_LOSS_MSE, 1);
    }
}

/* Every layer kind and combination: stride, padding, odd sizes, windows
 * that do not tile, overlapping pools, conv after conv, pooling first. */
static void check_conv_models(void) {
  static const char *specs[] = {
      "input 2x5x5, conv 3 3, relu, maxpool 2, flatten, linear 3",
      "input 1x7x6, conv 2 3 stride 2 pad 1, tanh, avgpool 2 stride 1, flatten, linear 3",
      "input 2x6x6, conv 3 3 pad 1, relu, conv 2 3 stride 2, tanh, maxpool 2 stride 1, "
      "flatten, linear 4, relu, linear 3",
      "input 1x6x6, avgpool 2, flatten, linear 3",
      "input 2x4x4, maxpool 3 stride 1, tanh, conv 3 2, identity, flatten, linear 3",
  };
  check_specs(specs, sizeof specs / sizeof specs[0]);
}

/* Graphs: residual adds (a value read two and three times, a projection
 * branch, a branch from the input), BatchNorm on images and on vectors
 * with non-trivial statistics, LayerNorm with and without affine (on
 * vectors, and on the last axis of an image), every activation, scalar
 * multiply, dropout, global average pooling, pooling with padding. */
static void check_graph_models(void) {
  static const char *specs[] = {
      "input 6, linear 5 as a, gelu, linear 5, silu, add a, layernorm, linear 3",
      "input 6, linear 5, layernorm noaffine, sigmoid as s, mul 0.5, softplus, "
      "add s, elu 0.7, linear 4, leaky_relu 0.1, linear 3",
      "input 2x6x6, conv 3 3 pad 1 as c1, batchnorm, relu as r1, conv 3 3 pad 1, "
      "batchnorm, add r1, relu as r2, conv 4 1 stride 2 from r2 as p, batchnorm as pb, "
      "conv 4 3 stride 2 pad 1 from r2, batchnorm eps 0.01, add pb, tanh, gap, linear 3",
      "input 2x5x5, maxpool 3 stride 2 pad 1, avgpool 2 stride 1 pad 1, flatten, "
      "batchnorm, dropout 0.5, linear 3",
      "input 4, linear 4 as a, tanh, add a, add a, elu, linear 3",
      "input 4, linear 3 as a, tanh as t, linear 3 from input, add t, gelu, linear 3",
      "input 2x3x4, layernorm eps 0.1, conv 2 2, silu, flatten, linear 3",
  };
  check_specs(specs, sizeof specs / sizeof specs[0]);
}

/* The text form: the canonical spec parses back to itself; the presets'
 * sizes; the refusals name the item. */
static void check_graph_text(void) {
  hr_model_t *m = malloc(sizeof *m), *again = malloc(sizeof *again);
  if (hr_model_init(m, "resnet-mini", 0, 10, 1, HR_ACT_RELU, HR_LOSS_CE) != HR_OK)
    abort();
  EXPECT(m->nparams == 19954, "resnet-mini: N = %lld", (long long)m->nparams);
  EXPECT(hr_model_first_linear(m) < 0, "resnet-mini does not reduce");
  if (hr_model_init(again, m->spec, 0, 10, 1, HR_ACT_RELU, HR_LOSS_CE) != HR_OK)
    abort();
  EXPECT(!strcmp(m->spec, again->spec) && again->nparams == m->nparams,
         "canonical spec round trip:\n%s\n%s", m->spec, again->spec);
  static const char *bad[] = {
      "input 4, linear 3, add nowhere, linear 2",       /* unknown name */
      "input 4, linear 3 as a, linear 2 as a",          /* name taken */
      "input 4, linear 3 as a, linear 5, add a, linear 2", /* shapes differ */
      "input 4, linear 3 as a, linear 3 from input, linear 2", /* a unread */
      "input 4, relu nobias, linear 2",                 /* nobias on relu */
      "input 1x4x4, maxpool 2 pad 2, flatten, linear 2", /* pad > K/2 */
      "input 4, cumsum, linear 2",                      /* unknown op */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = hr_model_init(again, bad[i], 0, 0, 1, HR_ACT_RELU, HR_LOSS_CE);
    EXPECT(rc != HR_OK, "spec '%s' was accepted", bad[i]);
    hr_error_clear();
  }
  free(m);
  free(again);
}

/* The whole Hessian (part) of a problem, N x N column-major. */
static double *hessian_of(problem_t *p, hr_part_t part) {
  int64_t N = p->m.nparams;
  double *E = calloc((size_t)(N * N), sizeof *E);
  double *H = calloc((size_t)(N * N), sizeof *H);
  for (int64_t i = 0; i < N; i++) E[i * N + i] = 1.0;
  hr_model_hvp(&p->m, p->theta, &p->s, part, E, N, p->w, H);
  free(E);
  return H;
}

/* The first layer's block is sum_s M_s (x) x~_s x~_s^T, M_s from
 * hr_model_first_curvature, against the unit-direction products. */
static void check_first_curvature(void) {
  static const hr_part_t parts[] = {HR_PART_FULL, HR_PART_GN, HR_PART_RESIDUAL};
  for (int pi = 0; pi < 3; pi++) {
    problem_t p;
    problem_init(&p, "mlp:4-6-5-3", 4, 3, 1, HR_ACT_TANH, HR_LOSS_CE, 0, 3, 41);
    int64_t N = p.m.nparams, S = 3, h = 6, D = 4, Dx = 5;
    double *H = hessian_of(&p, parts[pi]);
    double *M = malloc((size_t)(S * h * h) * sizeof *M);
    hr_model_first_curvature(&p.m, p.theta, &p.s, parts[pi], p.w, M);
    double err = 0, scale = 0;
    for (int64_t r = 0; r < h * Dx; r++)
      for (int64_t q = 0; q < h * Dx; q++) {
        /* (c, j): weight W[c][j] at c*D + j, bias b[c] at h*D + c (j = D) */
        int64_t c = r < h * D ? r / D : r - h * D, j = r < h * D ? r % D : D;
        int64_t cp = q < h * D ? q / D : q - h * D, jp = q < h * D ? q % D : D;
        double want = 0;
        for (int64_t i = 0; i < S; i++) {
          double xj = j < D ? p.x[i * D + j] : 1.0, xq = jp < D ? p.x[i * D + jp] : 1.0;
          want += M[(i * h + c) * h + cp] * xj * xq;
        }
        err = fmax(err, fabs(want - H[q * N + r]));
        scale = fmax(scale, fabs(H[q * N + r]));
      }
    EXPECT(err <= 1e-13 * scale, "first-layer curvature, part %d: %.3g of %.3g",
           pi, err, scale);
    free(M);
    free(H);
    problem_free(&p);
  }
}

/* The reduced model's Hessian has the original's eigenvalues, the rest
 * exactly zero, when the batch (2 rows) spans less than the inputs (6). */
static void check_input_reduction(void) {
  problem_t p;
  problem_init(&p, "mlp:6-4-3", 6, 3, 1, HR_ACT_RELU, HR_LOSS_CE, 0, 2, 43);
  int64_t N = p.m.nparams, dx = hr_model_reduce_width(&p.m), r = 2;
  EXPECT(dx == 7 && hr_model_reduced_order(&p.m, r) == N - 4 * 7 + 4 * 2,
         "reduced order");
  /* an orthonormal basis of the two x~ (Gram-Schmidt; row-major dx x r) */
  double Q[7 * 2];
  for (int c = 0; c < 2; c++) {
    for (int j = 0; j < 7; j++) Q[j * 2 + c] = j < 6 ? p.x[c * 6 + j] : 1.0;
    for (int b = 0; b < c; b++) {
      double dot = 0;
      for (int j = 0; j < 7; j++) dot += Q[j * 2 + c] * Q[j * 2 + b];
      for (int j = 0; j < 7; j++) Q[j * 2 + c] -= dot * Q[j * 2 + b];
    }
    double norm = 0;
    for (int j = 0; j < 7; j++) norm += Q[j * 2 + c] * Q[j * 2 + c];
    for (int j = 0; j < 7; j++) Q[j * 2 + c] /= sqrt(norm);
  }
  problem_t q = p;
  int64_t n = hr_model_reduced_order(&p.m, r);
  double *theta = malloc((size_t)n * sizeof *theta), xr[2 * 2];
  EXPECT(hr_model_reduce_input(&p.m, p.theta, Q, r, &q.m, theta) == HR_OK &&
             q.m.nparams == n, "reduce");
  for (int i = 0; i < 2; i++)
    for (int c = 0; c < 2; c++) {
      xr[i * 2 + c] = 0;
      for (int j = 0; j < 7; j++)
        xr[i * 2 + c] += Q[j * 2 + c] * (j < 6 ? p.x[i * 6 + j] : 1.0);
    }
  q.theta = theta;
  q.s.x = xr;
  hr_model_work_create(&q.m, 2, n, &q.w);
  double *H = hessian_of(&p, HR_PART_FULL), *Hr = hessian_of(&q, HR_PART_FULL);
  double *ev = malloc((size_t)N * sizeof *ev), *evr = calloc((size_t)N, sizeof *evr);
  int nn = (int)N, nr = (int)n, lwork = 4 * (int)N * (int)N + 64, liwork = 8 * (int)N + 16, info;
  double *work = malloc((size_t)lwork * sizeof *work);
  int *iwork = malloc((size_t)liwork * sizeof *iwork);
  dsyevd_("N", "L", &nn, H, &nn, ev, work, &lwork, iwork, &liwork, &info);
  dsyevd_("N", "L", &nr, Hr, &nr, evr, work, &lwork, iwork, &liwork, &info);
  /* merge the reduced spectrum with N - n zeros, ascending */
  double *all = malloc((size_t)N * sizeof *all);
  int64_t a = 0, z = N - n;
  for (int64_t k = 0; k < n && evr[k] < 0; k++) all[a++] = evr[k];
  int64_t neg = a;
  for (int64_t k = 0; k < z; k++) all[a++] = 0.0;
  for (int64_t k = neg; k < n; k++) all[a++] = evr[k];
  EXPECT(test_max_rel_diff(all, ev, N) < 1e-12, "reduced spectrum %.3g",
         test_max_rel_diff(all, ev, N));
  free(all); free(work); free(iwork); free(ev); free(evr); free(H); free(Hr);
  hr_model_work_free(q.w);
  free(theta);
  problem_free(&p);
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  check_first_curvature();
  check_input_reduction();
  static const hr_activation_t acts[] = {HR_ACT_RELU, HR_ACT_TANH, HR_ACT_LINEAR};
  for (int a = 0; a < 3; a++)
    for (int bias = 0; bias <= 1; bias++) {
      check_derivatives("logistic", 5, 3, bias, acts[a], HR_LOSS_CE, 0);
      check_derivatives("mlp:4-6-3", 4, 3, bias, acts[a], HR_LOSS_CE, 0);
      check_derivatives("mlp:3-5-4-2", 3, 2, bias, acts[a], HR_LOSS_MSE, 0);
      check_derivatives("mlp:3-5-4-2", 3, 2, bias, acts[a], HR_LOSS_MSE, 1);
      check_derivatives("mlp:4-6-3", 4, 3, bias, acts[a], HR_LOSS_MSE, 1);
    }
  check_logistic_structure();
  check_relu_split();
  check_maxpool_ties();
  check_conv_models();
  check_graph_models();
  check_graph_text();
  return test_finish_serial("test_model");
}
