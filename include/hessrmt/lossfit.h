/* The fit of `hessrmt lossfit`: a loss curve y(t) against the model
 *
 *     y = a + b exp(-c t)
 *
 * by nonlinear least squares (GSL's trust-region Levenberg-Marquardt with
 * the analytic Jacobian), as in the paper's "exponential hardness of the
 * true loss" (Baskerville, Granziol, Keating, arXiv 2102.06740): a is the
 * loss the curve approaches, b the excess at t = 0, c the decay rate.
 * No I/O: reading the CSV, the summary and the figure live in
 * cmd_lossfit.c. */
#ifndef HESSRMT_LOSSFIT_H
#define HESSRMT_LOSSFIT_H

typedef struct {
  double a, b, c;              /* y = a + b exp(-c t) */
  double t0, b_shifted;        /* the first t, and b exp(-c t0): the same
                                  curve as a + b_shifted exp(-c (t - t0)),
                                  finite where b overflows */
  double a_err, b_err, c_err;  /* standard errors; NaN where undetermined */
  double cov[3][3];            /* covariance of (a, b, c) */
  double chi2;                 /* sum of squared residuals */
  double residual_std;         /* sqrt(chi2 / dof): the noise of one point */
  double r2;                   /* 1 - chi2 / total sum of squares */
  int n, dof, iterations;
  int converged;     /* GSL's driver met its tolerances */
  int identifiable;  /* the Jacobian has full rank at the optimum, so the
                        three errors are finite and mean something */
} hr_lossfit_t;

/* Fit y[i] at t[i], i < n.  Fails (HR_ERR_INPUT) on fewer than 4 points,
 * non-finite values, a single t or a constant y; a fit that did not
 * converge or whose errors are undetermined is not a failure: see the
 * flags. */
int hr_lossfit(const double *t, const double *y, int n, hr_lossfit_t *fit);

/* The fitted curve at t. */
double hr_lossfit_eval(const hr_lossfit_t *fit, double t);

/* Its standard error at t, from the parameter covariance by the delta
 * method: sqrt(g' C g) with g the gradient of the model in (a, b, c). */
double hr_lossfit_eval_err(const hr_lossfit_t *fit, double t);

#endif
