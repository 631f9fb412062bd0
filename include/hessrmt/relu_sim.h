/* The one-hidden-layer ReLU network simulation of the second seed
 * (DESIGN.md, "Seed 2 notebook"), with correct mathematics.
 *
 * Network yhat = W2 relu(W1 x), no biases: W1 is n1 x n0, W2 is n2 x n1.
 * Data x (n0 x m), targets y (n2 x m) and the initial weights have
 * independent N(0, sigma^2) entries.  Loss L = |yhat - y|_F^2 / (2m),
 * minimised by plain gradient descent theta <- theta - step grad L.  At
 * the final weights, the spectra of H, of its Gauss-Newton part
 * H0 = (1/m) sum_mu J_mu^T J_mu and of the residual part H1 = H - H0.
 * N = n1 (n0 + n2) parameters, phi = N / (n2 m).
 *
 * This is the MLP "mlp:n0-n1-n2" of model.h with ReLU, squared error,
 * real-valued targets and no biases; theta is laid out as PyTorch's
 * parameters: W1 row-major, then W2 row-major.  Samples are stored one per
 * row (x as m x n0, y as m x n2), the transpose of the notebook's x and y.
 *
 * Random draws are indexed by (seed, shape, run, array, row, column), never
 * by rank: run r of a shape is the same whatever the sweep, the rank count
 * or the groups. */
#ifndef HESSRMT_RELU_SIM_H
#define HESSRMT_RELU_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hessrmt/context.h"
#include "hessrmt/model.h"
#include "hessrmt/spectra_run.h"

/* Largest parameter count accepted: a dense 10^6 x 10^6 Hessian is 8 TB,
 * and the bound keeps every size computation far from overflow. */
#define HR_RELU_MAX_N 1000000
#define HR_RELU_MAX_SIZE 100000000  /* largest n0, n1, n2 or m */

typedef struct {
  int64_t n0, n1, n2, m;
} hr_relu_shape_t;

/* The three matrices, in the order of every per-part array. */
enum { HR_RELU_H0, HR_RELU_H1, HR_RELU_H, HR_RELU_PARTS };

/* ---- shapes ----------------------------------------------------------------- */

/* A comma-separated list of distinct positive integers ("10,20,50") for
 * option `name` into a new array (*values, *count).  HR_ERR_USAGE with a
 * clear message for anything else. */
int hr_relu_parse_list(const char *name, const char *text, int64_t **values,
                       int *count);

/* The simulation's settings from the command line (the front end fills
 * them: hr_options_relu_settings). */
typedef struct hr_relu_settings {
  const char *n0_list, *n1_list, *n2_list, *m_list;  /* "10,20,50" */
  int64_t runs, iters;
  uint64_t seed;
  double sigma, step;
  int rescale_h1;
  hr_precision_t precision;
} hr_relu_settings_t;

/* Every combination of the --n0, --n1, --n2 and --m lists, n0 outermost
 * and m innermost (itertools.product order), into a new array. */
int hr_relu_sweep(const hr_relu_settings_t *o, hr_relu_shape_t **shapes,
                  int *count);

int64_t hr_relu_params(const hr_relu_shape_t *s);  /* N = n1 (n0 + n2) */
double hr_relu_phi(const hr_relu_shape_t *s);      /* N / (n2 m) */

/* "shape_<n0>_<n1>_<n2>_<m>": the HDF5 group and figure folder name. */
const char *hr_relu_shape_name(const hr_relu_shape_t *s, char *buf,
                               size_t len);

/* ---- one run ------------------------------------------------------------------ */

typedef struct {
  hr_relu_shape_t shape;
  hr_model_t model;
  int64_t iters;
  double *x;        /* m x n0, row-major: one sample per row */
  double *y;        /* m x n2 */
  int32_t *labels;  /* m zeros: unused by squared error with targets */
  double *theta0;   /* N initial weights: W1 (n1 x n0), then W2 (n2 x n1) */
  double *theta;    /* N weights after gradient descent */
  double *losses;   /* iters + 1: losses[t] = L after t updates */
} hr_relu_run_t;

/* Allocate the arrays of a run (zeroed).  HR_ERR_MEMORY on failure. */
int hr_relu_run_create(const hr_relu_shape_t *s, int64_t iters,
                       hr_relu_run_t *run);
void hr_relu_run_free(hr_relu_run_t *run);

/* Draw x, y and theta0 of run r (theta is set to theta0). */
void hr_relu_generate(hr_relu_run_t *run, uint64_t seed, double sigma,
                      int64_t r);

/* L(theta) = |yhat - y|^2 / (2m) and, if grad is not NULL, its gradient
 * (overwritten).  w: a workspace for m samples and 1 direction. */
void hr_relu_loss_grad(const hr_relu_run_t *run, const double *theta,
                       hr_model_work_t *w, double *loss, double *grad);

/* Gradient descent from theta0: losses[t] for t = 0 .. iters, theta the
 * weights after iters updates.  HR_ERR_INPUT naming the iteration if the
 * loss or the weights stop being finite (a step too large). */
int hr_relu_descend(hr_relu_run_t *run, double step);

/* The notebook's factor sqrt(L_final / L_initial), or 1 when L_initial
 * is 0. */
double hr_relu_h1_scale(const hr_relu_run_t *run);

/* ---- the spectra (distributed) ---------------------------------------------- */

typedef struct {
  double *evals[HR_RELU_PARTS];      /* N each, ascending (every rank) */
  double trace[HR_RELU_PARTS];       /* of the assembled matrices */
  double asymmetry[HR_RELU_PARTS];   /* max |A - A^T| */
} hr_relu_spectra_t;

/* The spectra of H0, h1_scale * H1 and H0 + h1_scale * H1 (H itself for
 * h1_scale 1) at run->theta, assembled in the block-cyclic layout of
 * layout->grid from each rank's slice of the samples and solved with
 * layout->solver.  Every rank of the group holds the whole run.
 * Collective over layout->grid.comm; agreed. */
int hr_relu_spectra(hr_ctx_t *ctx, hr_run_t *layout, const hr_relu_run_t *run,
                    double h1_scale, hr_relu_spectra_t *out);

/* Estimated bytes per rank of one run of shape s and its spectra. */
int64_t hr_relu_memory(const hr_run_t *layout,
                       const hr_relu_shape_t *s, int64_t iters,
                       char *breakdown, size_t len);

/* ---- results, file, report --------------------------------------------------- */

/* Everything about one shape that the file, the summary and the figures
 * need; rows are runs. */
typedef struct {
  hr_relu_shape_t shape;
  int64_t N, runs, iters;
  uint64_t seed;
  double sigma, step;
  int rescale_h1;
  double eps;                       /* unit roundoff of the solve */
  double *losses;                   /* runs x (iters + 1) */
  double *evals[HR_RELU_PARTS];     /* runs x N each, rows ascending */
  double *theta;                    /* runs x N final weights */
  double *h1_scale;                 /* runs */
  double *trace;                    /* runs x 3 */
  double *asymmetry;                /* runs x 3 */
} hr_relu_result_t;

int hr_relu_result_create(const hr_relu_shape_t *s, const hr_relu_settings_t *o,
                          hr_relu_result_t *res);
void hr_relu_result_free(hr_relu_result_t *res);
int64_t hr_relu_result_bytes(const hr_relu_shape_t *s, int64_t runs,
                             int64_t iters);

/* One run's results as one message (hr_relu_pack_size doubles), so group
 * leaders can send them to rank 0. */
int64_t hr_relu_pack_size(const hr_relu_result_t *res);
void hr_relu_pack(const hr_relu_run_t *run, const hr_relu_spectra_t *sp,
                  double h1_scale, double *buf);
void hr_relu_unpack(const double *buf, int64_t r, hr_relu_result_t *res);

/* What the file records besides the results. */
typedef struct {
  const hr_ctx_t *ctx;
  const hr_run_t *layout;
  const hr_timing_summary_t *times;
  int64_t peak_rss, memory_estimate;  /* bytes, largest over ranks */
} hr_relu_file_info_t;

/* Write all shapes into `path` (a new file, serial HDF5: call it on one
 * rank only); the data and initial weights are drawn again from the
 * generator, which gives exactly the arrays the runs used. */
int hr_relu_write_file(const char *path, const hr_relu_result_t *res,
                       int nshapes, const hr_relu_file_info_t *info);

/* A few lines per shape: loss, phi, extremes of the spectra, trace(H1),
 * the smallest eigenvalue of H0. */
void hr_relu_print_summary(const hr_relu_result_t *res, FILE *out);

/* Figures of one shape into dir (created if needed): losses (mean with a
 * 95% band, log scale) and spectrum_H0, spectrum_H1, spectrum_H
 * (histograms of all runs' eigenvalues), each .png and .svg. */
int hr_relu_figures(const hr_relu_result_t *res, const char *dir, int width,
                    int height);

/* Before a long run: HR_ERR_USAGE if this build has no PLplot; dir made
 * (with its parents) or a clear HR_ERR_IO. */
int hr_relu_figures_prepare(const char *dir);

#endif
