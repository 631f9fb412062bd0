/* Ensemble generators (see ensemble.h). */
#include "hessrmt/ensemble.h"

#include <math.h>
#include <stdio.h>

#include "hessrmt/blacs.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/error.h"
#include "hessrmt/memory.h"
#include "hessrmt/random.h"

typedef struct {
  const hr_ensemble_t *e;
  uint64_t k;
} entry_ctx_t;

/* GOE: symmetric, N(0,1) off the diagonal and N(0,2) on it, so that the
 * density is proportional to exp(-tr(A^2)/4).  Entry (i,j) and (j,i) come
 * from the same counter. */
static double goe_entry(int64_t i, int64_t j, void *vctx) {
  const entry_ctx_t *c = vctx;
  if (i == j) return M_SQRT2 * hr_random_normal(c->e->seed, c->k, i, i, HR_STREAM_ENTRY);
  int64_t lo = i < j ? i : j, hi = i < j ? j : i;
  return hr_random_normal(c->e->seed, c->k, lo, hi, HR_STREAM_ENTRY);
}

/* Poisson: independent levels, uniform on (0,1), on the diagonal. */
static double poisson_entry(int64_t i, int64_t j, void *vctx) {
  const entry_ctx_t *c = vctx;
  return i == j ? hr_random_uniform(c->e->seed, c->k, i, i, HR_STREAM_ENTRY) : 0.0;
}

static double tridiag_entry(int64_t i, int64_t j, void *vctx) {
  (void)vctx;
  if (i == j) return 2.0;
  return (i - j == 1 || j - i == 1) ? -1.0 : 0.0;
}

/* gp-loss: sqrt(b) GOE + sqrt(a) z I on the first M = N - D indices (the
 * GOE entries of the same seed and member, so a = 0, b = 1 is the GOE),
 * zero on the last D, the outliers on the first K diagonal entries. */
typedef struct {
  entry_ctx_t goe;
  int64_t kept, outliers;
  double sqrt_b, shift, outlier;  /* shift: sqrt(a) z, one z per member */
} gp_ctx_t;

static double gp_loss_entry(int64_t i, int64_t j, void *vctx) {
  const gp_ctx_t *c = vctx;
  if (i >= c->kept || j >= c->kept) return 0.0;
  double h = c->sqrt_b * goe_entry(i, j, (void *)&c->goe);
  if (i != j) return h;
  return h + c->shift + (i < c->outliers ? c->outlier : 0.0);
}

/* The member's z: entries draw from counters (min(i,j), max(i,j)), so the
 * counter (1, 0) of the entry stream is never an entry's. */
static double gp_common_z(const hr_ensemble_t *e, uint64_t k) {
  return hr_random_normal(e->seed, k, 1, 0, HR_STREAM_ENTRY);
}

static void generate_gp_loss(const hr_ensemble_t *e, uint64_t k, hr_dmat_t *a) {
  gp_ctx_t ctx = {{e, k}, e->n - hr_ensemble_degenerate_rows(e), e->outliers,
                  sqrt(e->gp_b), sqrt(e->gp_a) * gp_common_z(e, k),
                  hr_ensemble_outlier_shift(e)};
  hr_dmat_fill(a, gp_loss_entry, &ctx);
}

int64_t hr_ensemble_degenerate_rows(const hr_ensemble_t *e) {
  /* the 1e-9 keeps e.g. F = 0.29, N = 100 at 29, not 28.999... -> 28 */
  return e->kind == HR_KIND_GP_LOSS
             ? (int64_t)floor(e->degenerate * (double)e->n + 1e-9) : 0;
}

double hr_ensemble_outlier_shift(const hr_ensemble_t *e) {
  double m = (double)(e->n - hr_ensemble_degenerate_rows(e));
  return e->outlier_scale * 2.0 * sqrt(e->gp_b * m);
}

int hr_ensemble_check(const hr_ensemble_t *e) {
  if (e->kind != HR_KIND_GP_LOSS) return HR_OK;
  if (!(e->gp_b > 0))
    HR_FAIL(HR_ERR_USAGE, "--gp-b %g: the off-diagonal variance B must be "
            "> 0 (see 'hessrmt ensemble --help')", e->gp_b);
  if (!(e->gp_a >= 0))
    HR_FAIL(HR_ERR_USAGE, "--gp-a %g: the diagonal's common variance A must "
            "be >= 0 (see 'hessrmt ensemble --help')", e->gp_a);
  if (!(e->degenerate >= 0 && e->degenerate < 1))
    HR_FAIL(HR_ERR_USAGE, "--degenerate %g: the fraction F of zero rows must "
            "be in [0, 1) (see 'hessrmt ensemble --help')", e->degenerate);
  int64_t zero = hr_ensemble_degenerate_rows(e);
  if (e->outliers < 0 || e->outliers > e->n - zero)
    HR_FAIL(HR_ERR_USAGE, "--outliers %lld: only %lld of N = %lld rows are "
            "not degenerate (--degenerate %g zeroes %lld); K + floor(F N) "
            "must be <= N (see 'hessrmt ensemble --help')",
            (long long)e->outliers, (long long)(e->n - zero), (long long)e->n,
            e->degenerate, (long long)zero);
  return HR_OK;
}

static double wishart_factor_entry(int64_t i, int64_t j, void *vctx) {
  const entry_ctx_t *c = vctx;
  return hr_random_normal(c->e->seed, c->k, i, j, HR_STREAM_FACTOR);
}

int64_t hr_ensemble_wishart_rows(const hr_ensemble_t *e) {
  int64_t m = (int64_t)ceil((double)e->n / e->wishart_ratio - 1e-9);
  return m < 1 ? 1 : m;
}

int64_t hr_ensemble_extra_bytes(const hr_ensemble_t *e, int64_t nb,
                                hr_precision_t precision,
                                const hr_grid_t *grid) {
  if (e->kind != HR_KIND_WISHART) return 0;
  /* X in double, plus the double product when solving in single. */
  return hr_dmat_local_bytes(hr_ensemble_wishart_rows(e), e->n, nb,
                             HR_PRECISION_DOUBLE, grid) +
         (precision == HR_PRECISION_DOUBLE
              ? 0 : hr_dmat_local_bytes(e->n, e->n, nb, HR_PRECISION_DOUBLE,
                                        grid));
}

int64_t hr_ensemble_memory(const hr_ensemble_t *e, hr_solver_t solver,
                           int64_t nb, hr_precision_t prec,
                           const hr_grid_t *grid, char *breakdown, size_t len) {
  int64_t vectors = 2 * e->n * (int64_t)sizeof(double);
  if (e->kind == HR_KIND_BETA) {  /* no matrix: the tridiagonal model */
    snprintf(breakdown, len, "the tridiagonal model's vectors");
    return HR_MEMORY_BASELINE + 2 * vectors;
  }
  int64_t matrix = hr_dmat_local_bytes(e->n, e->n, nb, prec, grid);
  int64_t work = hr_eigensolver_workspace_bytes(solver, e->n, nb, prec, grid);
  int64_t extra = hr_ensemble_extra_bytes(e, nb, prec, grid);
  /* the symmetry check transposes one row strip at a time */
  int64_t strip = hr_dmat_local_bytes(nb * grid->nprow, e->n, nb, prec, grid);
  char a[32], b[32], c[32], d[32];
  snprintf(breakdown, len,
           "matrix %s, then the largest of the symmetry check's strip %s, the "
           "solver workspace %s and the generator's %s",
           hr_format_bytes((double)matrix, a, sizeof a),
           hr_format_bytes((double)strip, d, sizeof d),
           hr_format_bytes((double)work, b, sizeof b),
           hr_format_bytes((double)extra, c, sizeof c));
  /* Generation, the check and the solve come one after another: the peak
   * is the matrix plus the largest of them. */
  int64_t phase = strip > work ? strip : work;
  if (extra > phase) phase = extra;
  return HR_MEMORY_BASELINE + matrix + phase + vectors;
}

/* A = X^T X / m with X (m x N) Gaussian, formed with pdgemm in double. */
static int generate_wishart(const hr_ensemble_t *e, uint64_t k, hr_dmat_t *a) {
  entry_ctx_t ctx = {e, k};
  int64_t m = hr_ensemble_wishart_rows(e);
  hr_dmat_t x, prod;
  int rc = hr_dmat_create(a->grid, m, e->n, a->nb, HR_PRECISION_DOUBLE, &x);
  HR_CHECK(hr_agree(a->grid->comm, rc));
  hr_dmat_t *target = a;
  if (a->precision != HR_PRECISION_DOUBLE) {
    rc = hr_dmat_create(a->grid, e->n, e->n, a->nb, HR_PRECISION_DOUBLE, &prod);
    rc = hr_agree(a->grid->comm, rc);
    if (rc != HR_OK) { hr_dmat_free(&x); return rc; }
    target = &prod;
  }
  hr_dmat_fill(&x, wishart_factor_entry, &ctx);
  int im = (int)m, in = (int)e->n, one = 1;
  double alpha = 1.0 / (double)m, beta = 0.0;
  pdgemm_("T", "N", &in, &in, &im, &alpha, x.data, &one, &one, x.desc,
          x.data, &one, &one, x.desc, &beta, target->data, &one, &one,
          target->desc);
  hr_dmat_free(&x);
  if (target != a) {
    float *dst = a->data;
    const double *src = prod.data;
    size_t count = (size_t)a->lld * (size_t)a->local_cols;
    for (size_t i = 0; i < count; i++) dst[i] = (float)src[i];
    hr_dmat_free(&prod);
  }
  return HR_OK;
}

int hr_ensemble_generate(const hr_ensemble_t *e, uint64_t k, hr_dmat_t *a) {
  entry_ctx_t ctx = {e, k};
  switch (e->kind) {
    case HR_KIND_GOE: hr_dmat_fill(a, goe_entry, &ctx); return HR_OK;
    case HR_KIND_POISSON: hr_dmat_fill(a, poisson_entry, &ctx); return HR_OK;
    case HR_KIND_TRIDIAG: hr_dmat_fill(a, tridiag_entry, &ctx); return HR_OK;
    case HR_KIND_WISHART: return generate_wishart(e, k, a);
    case HR_KIND_GP_LOSS: generate_gp_loss(e, k, a); return HR_OK;
    case HR_KIND_BETA: break;  /* tridiagonal: see hr_ensemble_beta_tridiagonal */
  }
  HR_FAIL(HR_ERR_INTERNAL, "unknown ensemble kind %d", (int)e->kind);
}

/* Gamma(alpha, 1) by Marsaglia and Tsang (ACM TOMS 26, 363, 2000), with
 * every attempt drawing from its own counter so the variate depends only on
 * (seed, k, i); alpha < 1 is boosted: Gamma(alpha) = Gamma(alpha + 1) U^(1/alpha). */
static double gamma_variate(uint64_t seed, uint64_t k, int64_t i, double alpha) {
  double boost = 1.0;
  if (alpha < 1.0) {
    boost = pow(hr_random_uniform(seed, k, i, 1 << 20, HR_STREAM_FACTOR), 1.0 / alpha);
    alpha += 1.0;
  }
  double d = alpha - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
  for (int64_t attempt = 0;; attempt++) {
    double x = hr_random_normal(seed, k, i, 2 * attempt, HR_STREAM_FACTOR);
    double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    double u = hr_random_uniform(seed, k, i, 2 * attempt + 1, HR_STREAM_FACTOR);
    if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return boost * d * v;
  }
}

void hr_ensemble_beta_tridiagonal(const hr_ensemble_t *e, uint64_t k,
                                  double *d, double *offd) {
  for (int64_t i = 0; i < e->n; i++)
    d[i] = hr_random_normal(e->seed, k, i, i, HR_STREAM_ENTRY);
  /* chi_m = sqrt(2 Gamma(m / 2)), so chi_m / sqrt 2 = sqrt(Gamma(m / 2)). */
  for (int64_t i = 1; i < e->n; i++)
    offd[i - 1] = sqrt(gamma_variate(e->seed, k, i, 0.5 * e->beta * (double)(e->n - i)));
}

int hr_ensemble_exact_eigenvalues(const hr_ensemble_t *e, double *evals) {
  if (e->kind != HR_KIND_TRIDIAG) return 0;
  /* Eigenvalues of the (2,-1) Toeplitz tridiagonal matrix of order N:
   * 2 - 2 cos(k pi/(N+1)), k = 1..N, already ascending in k. */
  for (int64_t k = 1; k <= e->n; k++)
    evals[k - 1] = 2.0 - 2.0 * cos((double)k * M_PI / (double)(e->n + 1));
  return 1;
}
