/* The ReLU simulation's mathematics (relu_sim.h) against independent
 * references:
 *   - the gradient against central finite differences of the loss, for
 *     n2 > 1, and against the closed forms with the identity where the
 *     notebook put a matrix of ones;
 *   - the notebook's W2 gradient (ones instead of the identity) is shown
 *     to DIFFER from the finite differences when n2 > 1, and to agree for
 *     n2 = 1: the test that catches the seed's defect;
 *   - H0 = (1/m) J^T J from an explicit Jacobian; H1 = [[0, B], [B^T, 0]]
 *     with B in closed form, so its spectrum is symmetric about zero and
 *     its trace is zero; H0 positive semi-definite;
 *   - gradient descent with a small step never increases the loss, and its
 *     record matches the loss of the weights it leaves;
 *   - the lists of sizes, the sweep, the generator and the result
 *     messages. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hessrmt/error.h"
#include "hessrmt/lapack.h"
#include "hessrmt/relu_sim.h"

/* ---- a run to test on -------------------------------------------------------- */

static hr_relu_run_t make_run(int64_t n0, int64_t n1, int64_t n2, int64_t m,
                              int64_t iters, int64_t r) {
  hr_relu_shape_t s = {n0, n1, n2, m};
  hr_relu_run_t run;
  if (hr_relu_run_create(&s, iters, &run) != HR_OK) abort();
  hr_relu_generate(&run, 12345, 1.0, r);
  return run;
}

static double loss_of(const hr_relu_run_t *run, const double *theta) {
  hr_model_work_t *w;
  if (hr_model_work_create(&run->model, run->shape.m, 1, &w) != HR_OK) abort();
  double loss;
  hr_relu_loss_grad(run, theta, w, &loss, NULL);
  hr_model_work_free(w);
  return loss;
}

static void grad_of(const hr_relu_run_t *run, const double *theta, double *g) {
  hr_model_work_t *w;
  if (hr_model_work_create(&run->model, run->shape.m, 1, &w) != HR_OK) abort();
  double loss;
  hr_relu_loss_grad(run, theta, w, &loss, g);
  hr_model_work_free(w);
}

/* ---- the notebook's quantities, written out -------------------------------- */

/* z = W1 x (n1 x m), relu(z), e = W2 relu(z) - y (n2 x m), in the
 * notebook's orientation. */
typedef struct {
  int64_t n0, n1, n2, m;
  const double *W1, *W2;
  double *x, *z, *a, *e;  /* x: n0 x m */
} notebook_t;

static void notebook_forward(const hr_relu_run_t *run, const double *theta,
                             notebook_t *nb) {
  int64_t n0 = run->shape.n0, n1 = run->shape.n1, n2 = run->shape.n2;
  int64_t m = run->shape.m;
  *nb = (notebook_t){n0, n1, n2, m, theta, theta + n1 * n0, NULL, NULL, NULL, NULL};
  nb->x = malloc((size_t)(n0 * m) * sizeof *nb->x);
  nb->z = calloc((size_t)(n1 * m), sizeof *nb->z);
  nb->a = malloc((size_t)(n1 * m) * sizeof *nb->a);
  nb->e = malloc((size_t)(n2 * m) * sizeof *nb->e);
  for (int64_t u = 0; u < m; u++)
    for (int64_t b = 0; b < n0; b++) nb->x[b * m + u] = run->x[u * n0 + b];
  for (int64_t k = 0; k < n1; k++)
    for (int64_t u = 0; u < m; u++) {
      for (int64_t b = 0; b < n0; b++)
        nb->z[k * m + u] += nb->W1[k * n0 + b] * nb->x[b * m + u];
      nb->a[k * m + u] = fmax(nb->z[k * m + u], 0.0);
    }
  for (int64_t i = 0; i < n2; i++)
    for (int64_t u = 0; u < m; u++) {
      double f = 0;
      for (int64_t k = 0; k < n1; k++) f += nb->W2[i * n1 + k] * nb->a[k * m + u];
      nb->e[i * m + u] = f - run->y[u * n2 + i];
    }
}

static void notebook_free(notebook_t *nb) {
  free(nb->x); free(nb->z); free(nb->a); free(nb->e);
}

/* dyhat_(i,u) / dtheta_p: the Jacobian row of output i, sample u.  W1:
 * W2[i][a] 1[z_au > 0] x[b][u]; W2 (c, d): delta_ic relu(z_du), the
 * identity where the notebook's J_2 had a matrix of ones. */
static double jacobian(const notebook_t *nb, int64_t i, int64_t u, int64_t p) {
  if (p < nb->n1 * nb->n0) {
    int64_t a = p / nb->n0, b = p % nb->n0;
    return nb->z[a * nb->m + u] > 0 ? nb->W2[i * nb->n1 + a] * nb->x[b * nb->m + u] : 0;
  }
  p -= nb->n1 * nb->n0;
  int64_t c = p / nb->n1, d = p % nb->n1;
  return c == i ? nb->a[d * nb->m + u] : 0;
}

/* The gradient (1/m) sum_(i,u) e_iu J_(iu) (the notebook's einsum); with
 * ones = 1 the W2 part uses the notebook's matrix of ones instead. */
static void closed_form_gradient(const notebook_t *nb, int ones, double *g) {
  int64_t N = nb->n1 * (nb->n0 + nb->n2), w2 = nb->n1 * nb->n0;
  for (int64_t p = 0; p < N; p++) {
    double sum = 0;
    for (int64_t i = 0; i < nb->n2; i++)
      for (int64_t u = 0; u < nb->m; u++) {
        double j = jacobian(nb, i, u, p);
        if (ones && p >= w2) j = nb->a[((p - w2) % nb->n1) * nb->m + u];
        sum += nb->e[i * nb->m + u] * j;
      }
    g[p] = sum / (double)nb->m;
  }
}

static void finite_differences(const hr_relu_run_t *run, const double *theta,
                               double *fd) {
  int64_t N = run->model.nparams;
  double *t = malloc((size_t)N * sizeof *t);
  const double h = 1e-6;
  for (int64_t p = 0; p < N; p++) {
    memcpy(t, theta, (size_t)N * sizeof *t);
    t[p] += h;
    double up = loss_of(run, t);
    t[p] -= 2 * h;
    fd[p] = (up - loss_of(run, t)) / (2 * h);
  }
  free(t);
}

/* ---- gradients ------------------------------------------------------------------ */

static void check_gradient(int64_t n2) {
  hr_relu_run_t run = make_run(3, 4, n2, 5, 0, 0);
  int64_t N = run.model.nparams, w2 = hr_model_param_layer(&run.model, 1)->offset_w;
  double *g = malloc((size_t)N * sizeof *g), *fd = malloc((size_t)N * sizeof *fd);
  double *cf = malloc((size_t)N * sizeof *cf), *nbg = malloc((size_t)N * sizeof *nbg);
  grad_of(&run, run.theta, g);
  finite_differences(&run, run.theta, fd);
  notebook_t nb;
  notebook_forward(&run, run.theta, &nb);
  closed_form_gradient(&nb, 0, cf);
  closed_form_gradient(&nb, 1, nbg);
  double e_fd = test_max_rel_diff(g, fd, N), e_cf = test_max_rel_diff(g, cf, N);
  EXPECT(e_fd < 1e-7, "n2 = %lld: gradient vs central differences %.2e",
         (long long)n2, e_fd);
  EXPECT(e_cf < 1e-13, "n2 = %lld: gradient vs the closed form %.2e",
         (long long)n2, e_cf);
  /* The notebook's W1 gradient is right; its W2 gradient is right only
   * for a single output. */
  double e_w1 = test_max_rel_diff(nbg, fd, w2);
  double e_w2 = test_max_rel_diff(nbg + w2, fd + w2, N - w2);
  EXPECT(e_w1 < 1e-7, "n2 = %lld: notebook W1 gradient %.2e", (long long)n2, e_w1);
  if (n2 > 1)
    EXPECT(e_w2 > 1e-2, "n2 = %lld: the notebook's W2 gradient (ones for the "
           "identity) should differ from finite differences, but differs by "
           "only %.2e", (long long)n2, e_w2);
  else
    EXPECT(e_w2 < 1e-7, "n2 = 1: the notebook's W2 gradient %.2e", e_w2);
  notebook_free(&nb);
  free(g); free(fd); free(cf); free(nbg);
  hr_relu_run_free(&run);
}

/* ---- Hessians ------------------------------------------------------------------- */

/* Dense (1/m) sum of the part's Hessian, column-major N x N, from
 * products with unit vectors. */
static double *dense_part(const hr_relu_run_t *run, hr_part_t part) {
  int64_t N = run->model.nparams, m = run->shape.m;
  double *E = calloc((size_t)(N * N), sizeof *E), *H = calloc((size_t)(N * N), sizeof *H);
  for (int64_t j = 0; j < N; j++) E[j * N + j] = 1;
  hr_model_work_t *w;
  if (hr_model_work_create(&run->model, m, N, &w) != HR_OK) abort();
  hr_samples_t s = {m, run->x, run->labels, run->y};
  hr_model_hvp(&run->model, run->theta, &s, part, E, N, w, H);
  for (int64_t i = 0; i < N * N; i++) H[i] /= (double)m;
  hr_model_work_free(w);
  free(E);
  return H;
}

static void eigenvalues(const double *A, int n, double *ev) {
  double *a = malloc((size_t)n * (size_t)n * sizeof *a);
  memcpy(a, A, (size_t)n * (size_t)n * sizeof *a);
  int lwork = -1, liwork = -1, iq, info;
  double wq;
  dsyevd_("N", "L", &n, a, &n, ev, &wq, &lwork, &iq, &liwork, &info);
  lwork = (int)wq + 1;
  liwork = iq + 1;
  double *work = malloc((size_t)lwork * sizeof *work);
  int *iwork = malloc((size_t)liwork * sizeof *iwork);
  dsyevd_("N", "L", &n, a, &n, ev, work, &lwork, iwork, &liwork, &info);
  if (info != 0) abort();
  free(work); free(iwork); free(a);
}

/* H0 = (1/m) J^T J with the explicit Jacobian. */
static double gn_error(const notebook_t *nb, const double *H0, int64_t N) {
  double err = 0, scale = 0;
  for (int64_t p = 0; p < N; p++)
    for (int64_t q = 0; q < N; q++) {
      double sum = 0;
      for (int64_t i = 0; i < nb->n2; i++)
        for (int64_t u = 0; u < nb->m; u++)
          sum += jacobian(nb, i, u, p) * jacobian(nb, i, u, q);
      sum /= (double)nb->m;
      err = fmax(err, fabs(H0[q * N + p] - sum));
      scale = fmax(scale, fabs(sum));
    }
  return err / scale;
}

/* H1 = [[0, B], [B^T, 0]], B[(a, b), (c, d)] = delta_ad (1/m) sum_u
 * e_cu 1[z_au > 0] x_bu (the notebook's H_1_tr, without its rescaling). */
static double residual_error(const notebook_t *nb, const double *H1, int64_t N) {
  int64_t w2 = nb->n1 * nb->n0;
  double err = 0, scale = 0;
  for (int64_t p = 0; p < N; p++)
    for (int64_t q = 0; q < N; q++) {
      double want = 0;
      int64_t lo = p < q ? p : q, hi = p < q ? q : p;
      if (lo < w2 && hi >= w2) {
        int64_t a = lo / nb->n0, b = lo % nb->n0;
        int64_t c = (hi - w2) / nb->n1, d = (hi - w2) % nb->n1;
        for (int64_t u = 0; a == d && u < nb->m; u++)
          if (nb->z[a * nb->m + u] > 0)
            want += nb->e[c * nb->m + u] * nb->x[b * nb->m + u];
        want /= (double)nb->m;
      }
      err = fmax(err, fabs(H1[q * N + p] - want));
      scale = fmax(scale, fabs(want));
    }
  return err / scale;
}

static void check_hessians(void) {
  hr_relu_run_t run = make_run(3, 4, 3, 5, 50, 1);
  EXPECT(hr_relu_descend(&run, 1e-2) == HR_OK, "descent");
  int64_t N = run.model.nparams;
  double *H = dense_part(&run, HR_PART_FULL), *H0 = dense_part(&run, HR_PART_GN);
  double *H1 = dense_part(&run, HR_PART_RESIDUAL);
  notebook_t nb;
  notebook_forward(&run, run.theta, &nb);
  double e0 = gn_error(&nb, H0, N), e1 = residual_error(&nb, H1, N);
  EXPECT(e0 < 1e-13, "H0 vs (1/m) J^T J: %.2e", e0);
  EXPECT(e1 < 1e-13, "H1 vs [[0, B], [B^T, 0]]: %.2e", e1);
  double split = 0, trace = 0, top = 0;
  for (int64_t i = 0; i < N * N; i++) {
    split = fmax(split, fabs(H[i] - H0[i] - H1[i]));
    top = fmax(top, fabs(H[i]));
  }
  for (int64_t i = 0; i < N; i++) trace += H1[i * N + i];
  EXPECT(split < 1e-14 * top, "|H - H0 - H1| = %.2e", split);
  EXPECT(fabs(trace) < 1e-15 * top, "trace(H1) = %.2e", trace);

  double *ev0 = malloc((size_t)N * sizeof *ev0), *ev1 = malloc((size_t)N * sizeof *ev1);
  eigenvalues(H0, (int)N, ev0);
  eigenvalues(H1, (int)N, ev1);
  EXPECT(ev0[0] >= -1e-12 * ev0[N - 1], "H0 not PSD: smallest %.3e, largest %.3e",
         ev0[0], ev0[N - 1]);
  double sym = 0, sum = 0;
  for (int64_t k = 0; k < N; k++) {
    sym = fmax(sym, fabs(ev1[k] + ev1[N - 1 - k]));
    sum += ev1[k];
  }
  EXPECT(ev1[N - 1] > 1e-3, "H1 is not trivially zero (%g)", ev1[N - 1]);
  EXPECT(sym < 1e-12 * ev1[N - 1], "H1 spectrum asymmetry %.2e", sym);
  EXPECT(fabs(sum) < 1e-12 * ev1[N - 1], "H1 eigenvalue sum %.2e", sum);
  notebook_free(&nb);
  free(H); free(H0); free(H1); free(ev0); free(ev1);
  hr_relu_run_free(&run);
}

/* ---- gradient descent ----------------------------------------------------------- */

static void check_descent(void) {
  hr_relu_run_t run = make_run(20, 20, 20, 50, 300, 0);
  EXPECT(hr_relu_descend(&run, 0.0005) == HR_OK, "descent");
  int64_t rises = 0;
  for (int64_t t = 0; t < run.iters; t++)
    rises += run.losses[t + 1] > run.losses[t] * (1 + 1e-14);
  EXPECT(rises == 0, "the loss rose %lld times in %lld small steps",
         (long long)rises, (long long)run.iters);
  EXPECT(run.losses[run.iters] < 0.5 * run.losses[0], "loss %g -> %g",
         run.losses[0], run.losses[run.iters]);
  EXPECT(run.losses[0] == loss_of(&run, run.theta0), "losses[0] is L(theta0)");
  EXPECT(run.losses[run.iters] == loss_of(&run, run.theta),
         "losses[iters] is the loss of the final weights");
  double c = hr_relu_h1_scale(&run);
  EXPECT_NEAR(c, sqrt(run.losses[run.iters] / run.losses[0]), 1e-15,
              "h1 scale %g", c);
  /* a step far too large: a clear error, not NaN spectra */
  hr_relu_run_t wild = make_run(20, 20, 20, 50, 200, 0);
  EXPECT(hr_relu_descend(&wild, 50.0) == HR_ERR_INPUT &&
             strstr(hr_error_message(), "diverged"),
         "divergence not reported: %s", hr_error_message());
  hr_error_clear();
  hr_relu_run_free(&wild);
  hr_relu_run_free(&run);
}

/* ---- lists, sweep, generator, messages ---------------------------------------------- */

static void check_lists(void) {
  int64_t *v;
  int n;
  EXPECT(hr_relu_parse_list("n1", "10,20,50", &v, &n) == HR_OK && n == 3 &&
             v[0] == 10 && v[1] == 20 && v[2] == 50, "10,20,50");
  free(v);
  EXPECT(hr_relu_parse_list("n1", " 7 ", &v, &n) == HR_OK && n == 1 && v[0] == 7,
         "blanks around a value");
  free(v);
  const char *bad[] = {"0", "abc", "10,,20", "", "10,10", "-5", "1e3", "3.5",
                       "10,", "999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = hr_relu_parse_list("n1", bad[i], &v, &n);
    EXPECT(rc == HR_ERR_USAGE && strstr(hr_error_message(), "--n1"),
           "'%s' accepted (rc %d)", bad[i], rc);
    hr_error_clear();
  }
  hr_relu_settings_t o;
  memset(&o, 0, sizeof o);
  o.n0_list = "5,8";
  o.n1_list = "6";
  o.n2_list = "1,3";
  o.m_list = "10,20,30";
  hr_relu_shape_t *s;
  EXPECT(hr_relu_sweep(&o, &s, &n) == HR_OK && n == 12, "sweep of 12");
  EXPECT(s[0].n0 == 5 && s[0].n2 == 1 && s[0].m == 10 && s[1].m == 20 &&
             s[3].n2 == 3 && s[6].n0 == 8 && s[11].m == 30, "sweep order");
  EXPECT(hr_relu_params(&s[3]) == 6 * (5 + 3), "N");
  EXPECT_NEAR(hr_relu_phi(&s[3]), 48.0 / 30.0, 1e-15, "phi");
  char name[64];
  EXPECT(!strcmp(hr_relu_shape_name(&s[3], name, sizeof name), "shape_5_6_3_10"),
         "name %s", name);
  free(s);
}

static void check_generator(void) {
  hr_relu_run_t a = make_run(4, 5, 2, 7, 0, 3), b = make_run(4, 5, 2, 7, 0, 3);
  hr_relu_run_t c = make_run(4, 5, 2, 7, 0, 4), d = make_run(4, 5, 2, 8, 0, 3);
  int64_t N = a.model.nparams;
  EXPECT(!memcmp(a.x, b.x, 28 * sizeof *a.x) && !memcmp(a.theta0, b.theta0,
             (size_t)N * sizeof *a.theta0), "the same run twice");
  EXPECT(a.x[0] != c.x[0] && a.theta0[0] != c.theta0[0], "runs 3 and 4 differ");
  EXPECT(a.y[0] != d.y[0], "shapes differing only in m differ");
  EXPECT(a.x[0] != a.y[0] && a.theta0[0] != a.x[0], "arrays differ");
  double s2 = 0;
  hr_relu_run_t big = make_run(100, 1, 1, 100, 0, 0);
  for (int64_t i = 0; i < 10000; i++) s2 += big.x[i] * big.x[i];
  EXPECT(fabs(s2 / 10000 - 1) < 0.05, "variance of x %g", s2 / 10000);
  hr_relu_run_free(&a); hr_relu_run_free(&b); hr_relu_run_free(&c);
  hr_relu_run_free(&d); hr_relu_run_free(&big);
}

static void check_pack(void) {
  hr_relu_run_t run = make_run(3, 4, 2, 5, 3, 0);
  EXPECT(hr_relu_descend(&run, 1e-3) == HR_OK, "descent");
  int64_t N = run.model.nparams;
  hr_relu_settings_t o;
  memset(&o, 0, sizeof o);
  o.runs = 2;
  o.iters = 3;
  hr_relu_result_t res;
  EXPECT(hr_relu_result_create(&run.shape, &o, &res) == HR_OK, "result");
  double *ev = malloc((size_t)(3 * N) * sizeof *ev);
  for (int64_t i = 0; i < 3 * N; i++) ev[i] = (double)i;
  hr_relu_spectra_t sp = {{ev, ev + N, ev + 2 * N}, {1, 2, 3}, {4, 5, 6}};
  double *buf = malloc((size_t)hr_relu_pack_size(&res) * sizeof *buf);
  hr_relu_pack(&run, &sp, 0.5, buf);
  hr_relu_unpack(buf, 1, &res);
  EXPECT(res.losses[4 + 3] == run.losses[3] && res.evals[2][N + 1] == 2 * N + 1 &&
             res.theta[N] == run.theta[0] && res.h1_scale[1] == 0.5 &&
             res.trace[5] == 3 && res.asymmetry[3] == 4, "pack and unpack");
  free(buf); free(ev);
  hr_relu_result_free(&res);
  hr_relu_run_free(&run);
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  check_gradient(3);
  check_gradient(1);
  check_hessians();
  check_descent();
  check_lists();
  check_generator();
  check_pack();
  return test_finish_serial("test_relu_sim");
}
