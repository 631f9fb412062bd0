/* Random-matrix ensembles and the analytic test matrix, generated directly
 * in the distributed layout.  Member k of an ensemble with seed S depends
 * only on (S, k) - never on the rank count, grid or block size. */
#ifndef HESSRMT_ENSEMBLE_H
#define HESSRMT_ENSEMBLE_H

#include <stdint.h>

#include "hessrmt/dmat.h"
#include "hessrmt/eigensolver.h"

/* Names in the order of the enum (the front end's --kind choices). */
#define HR_KIND_NAMES "goe|poisson|wishart|tridiag|beta|gp-loss"
typedef enum { HR_KIND_GOE, HR_KIND_POISSON, HR_KIND_WISHART, HR_KIND_TRIDIAG,
               HR_KIND_BETA, HR_KIND_GP_LOSS } hr_kind_t;

typedef struct {
  hr_kind_t kind;
  int64_t n;
  uint64_t seed;
  double wishart_ratio;  /* N / m */
  double beta;           /* Dyson index (kind beta) */
  /* Kind gp-loss: off-diagonal variance gp_b, diagonal covariance
   * gp_a 11^T + 2 gp_b I; a fraction `degenerate` of zero rows/columns and
   * `outliers` diagonal spikes of outlier_scale bulk radii. */
  double gp_a, gp_b;
  double degenerate;
  int64_t outliers;
  double outlier_scale;
} hr_ensemble_t;

/* Kind gp-loss: B > 0, 0 <= F < 1 and K + floor(F N) <= N, else a usage
 * error naming the options.  HR_OK for the other kinds. */
int hr_ensemble_check(const hr_ensemble_t *e);

/* Kind gp-loss: floor(F N), the zero rows/columns (the last ones). */
int64_t hr_ensemble_degenerate_rows(const hr_ensemble_t *e);

/* Kind gp-loss: what each outlier adds to its diagonal entry, S times the
 * bulk's semicircle radius 2 sqrt(B M), M = N - floor(F N). */
double hr_ensemble_outlier_shift(const hr_ensemble_t *e);

/* Rows m of the Wishart factor X (m x N): ceil(N / ratio). */
int64_t hr_ensemble_wishart_rows(const hr_ensemble_t *e);

/* Estimated peak bytes per rank of one member's generation, checks and
 * solve (beyond the matrix: the largest of the symmetry check's row strip,
 * the solver's workspace and the generator's), with a breakdown. */
int64_t hr_ensemble_memory(const hr_ensemble_t *e, hr_solver_t solver,
                           int64_t nb, hr_precision_t prec,
                           const hr_grid_t *grid, char *breakdown, size_t len);

/* Extra bytes per rank beyond the matrix itself (Wishart's X in double,
 * and its product in double when the matrix is single). */
int64_t hr_ensemble_extra_bytes(const hr_ensemble_t *e, int64_t nb,
                                hr_precision_t precision,
                                const hr_grid_t *grid);

/* Fill a (n x n, already created) with member k.  Collective over the
 * grid for Wishart (a distributed product); local otherwise.
 *
 * Kind gp-loss is the paper's model of the true loss's Hessian: a Gaussian
 * process with an isotropic kernel has, at any point, a Hessian with
 * Cov(H_ij, H_kl) = c (d_ij d_kl + d_ik d_jl + d_il d_jk), c the kernel's
 * fourth derivative at 0 (the paper's k''(0)), i.e. H_ij ~ N(0, b)
 * independent off the diagonal and H_ii = sqrt(a) z + sqrt(2b) g_i with
 * one z per member: a = b = c (a and b are free here).
 * It is sqrt(b) times the GOE member of the same seed plus sqrt(a) z I,
 * then the degenerate rows/columns zeroed and the outliers added. */
int hr_ensemble_generate(const hr_ensemble_t *e, uint64_t k, hr_dmat_t *a);

/* Kind beta: the Dumitriu-Edelman tridiagonal model of the Gaussian beta
 * ensemble (J. Math. Phys. 43, 5830, 2002): diagonal N(0, 1), off-diagonal
 * b_i = chi_(beta (N - i)) / sqrt 2, i = 1..N-1, whose eigenvalues have the
 * joint density prod |l_i - l_j|^beta exp(-sum l^2 / 2).  Member k's
 * diagonal into d (n) and off-diagonal into e (n - 1). */
void hr_ensemble_beta_tridiagonal(const hr_ensemble_t *e, uint64_t k,
                                  double *d, double *offd);

/* The exact eigenvalues, ascending, where known in closed form (tridiag:
 * 2 - 2 cos(k pi / (N + 1))).  Returns 0 if the kind has none. */
int hr_ensemble_exact_eigenvalues(const hr_ensemble_t *e, double *evals);

#endif
