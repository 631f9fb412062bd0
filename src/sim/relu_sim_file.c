/* The ReLU simulation's results file (see relu_sim.h), written serially by
 * one rank with plain HDF5:
 *
 *   /                         provenance (as every hessrmt file: version,
 *                             command line, /options, timings) and the
 *                             layout: shapes, loss_definition, solver_used,
 *                             grid, nblk, groups
 *   /shape_<n0>_<n1>_<n2>_<m>/
 *       attributes            n0 n1 n2 m N phi sigma step iters runs seed
 *                             rescale_h1
 *       losses                runs x (iters + 1): [r, t] = L after t updates
 *       H0_evals H1_evals H_evals   runs x N, each row ascending
 *       h1_scale              runs: 1, or sqrt(L_final / L_initial)
 *       trace, asymmetry      runs x 3 (H0, H1, H): trace and max |A - A^T|
 *                             of the matrices assembled
 *       run_<r>/x             m x n0 (one sample per row)
 *       run_<r>/y             m x n2
 *       run_<r>/W1_init W2_init   n1 x n0, n2 x n1
 *       run_<r>/W1 W2         the final weights, at which the spectra are
 *
 * All datasets are float64. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "hessrmt/output.h"
#include "hessrmt/provenance.h"
#include "hessrmt/relu_sim.h"

#define LOSS_DEFINITION                                                     \
  "losses[r, t] = |W2 relu(W1 x) - y|^2 / (2m) of run r after t "           \
  "gradient-descent updates, t = 0 .. iters: column 0 is the loss at the " \
  "initial weights, the last column the loss at the final weights, where " \
  "the spectra are taken"

static int h5_fail(const char *what, const char *name) {
  char why[256];
  hr_h5_reason(why);
  HR_FAIL(HR_ERR_IO, "cannot write %s '%s': %s", what, name, why);
}

/* rows x cols doubles; cols 0 writes a vector of rows. */
static int write_matrix(hid_t loc, const char *name, int64_t rows,
                        int64_t cols, const double *data) {
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
  return hr_h5_write_doubles(loc, name, cols ? 2 : 1, dims, data) < 0
             ? h5_fail("dataset", name) : HR_OK;
}

static int attr_int(hid_t loc, const char *name, int64_t v) {
  return hr_h5_write_attr(loc, name, H5T_NATIVE_INT64, &v);
}

static int attr_double(hid_t loc, const char *name, double v) {
  return hr_h5_write_attr(loc, name, H5T_NATIVE_DOUBLE, &v);
}

static int attr_string(hid_t loc, const char *name, const char *v) {
  return hr_h5_write_string_attr(loc, name, v);
}

/* ---- one shape --------------------------------------------------------------- */

static int shape_attributes(hid_t g, const hr_relu_result_t *res) {
  const hr_relu_shape_t *s = &res->shape;
  HR_CHECK(attr_int(g, "n0", s->n0));
  HR_CHECK(attr_int(g, "n1", s->n1));
  HR_CHECK(attr_int(g, "n2", s->n2));
  HR_CHECK(attr_int(g, "m", s->m));
  HR_CHECK(attr_int(g, "N", res->N));
  HR_CHECK(attr_double(g, "phi", hr_relu_phi(s)));
  HR_CHECK(attr_double(g, "sigma", res->sigma));
  HR_CHECK(attr_double(g, "step", res->step));
  HR_CHECK(attr_int(g, "iters", res->iters));
  HR_CHECK(attr_int(g, "runs", res->runs));
  HR_CHECK(attr_int(g, "seed", (int64_t)res->seed));
  return attr_int(g, "rescale_h1", res->rescale_h1);
}

static int shape_results(hid_t g, const hr_relu_result_t *res) {
  static const char *const names[HR_RELU_PARTS] = {"H0_evals", "H1_evals",
                                                   "H_evals"};
  HR_CHECK(write_matrix(g, "losses", res->runs, res->iters + 1, res->losses));
  for (int p = 0; p < HR_RELU_PARTS; p++)
    HR_CHECK(write_matrix(g, names[p], res->runs, res->N, res->evals[p]));
  HR_CHECK(write_matrix(g, "h1_scale", res->runs, 0, res->h1_scale));
  HR_CHECK(write_matrix(g, "trace", res->runs, HR_RELU_PARTS, res->trace));
  return write_matrix(g, "asymmetry", res->runs, HR_RELU_PARTS,
                      res->asymmetry);
}

/* Data and weights of run r: drawn again, so nothing was sent for them. */
static int run_arrays(hid_t g, const hr_relu_result_t *res, int64_t r,
                      hr_relu_run_t *run) {
  const hr_relu_shape_t *s = &res->shape;
  hr_relu_generate(run, res->seed, res->sigma, r);
  const double *final = res->theta + r * res->N;
  int64_t w2 = hr_model_param_layer(&run->model, 1)->offset_w;
  HR_CHECK(write_matrix(g, "x", s->m, s->n0, run->x));
  HR_CHECK(write_matrix(g, "y", s->m, s->n2, run->y));
  HR_CHECK(write_matrix(g, "W1_init", s->n1, s->n0, run->theta0));
  HR_CHECK(write_matrix(g, "W2_init", s->n2, s->n1, run->theta0 + w2));
  HR_CHECK(write_matrix(g, "W1", s->n1, s->n0, final));
  return write_matrix(g, "W2", s->n2, s->n1, final + w2);
}

static int write_runs(hid_t shape, const hr_relu_result_t *res) {
  hr_relu_run_t run;
  HR_CHECK(hr_relu_run_create(&res->shape, 0, &run));
  int rc = HR_OK;
  for (int64_t r = 0; r < res->runs && rc == HR_OK; r++) {
    char name[64];
    snprintf(name, sizeof name, "run_%lld", (long long)r);
    hid_t g = H5Gcreate2(shape, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = g >= 0 ? run_arrays(g, res, r, &run) : h5_fail("group", name);
    if (g >= 0) H5Gclose(g);
  }
  hr_relu_run_free(&run);
  return rc;
}

static int write_shape(hid_t file, const hr_relu_result_t *res) {
  char name[128];
  hr_relu_shape_name(&res->shape, name, sizeof name);
  hid_t g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return h5_fail("group", name);
  int rc = shape_attributes(g, res);
  if (rc == HR_OK) rc = shape_results(g, res);
  if (rc == HR_OK) rc = write_runs(g, res);
  H5Gclose(g);
  return rc;
}

/* ---- the root ------------------------------------------------------------------ */

/* "shape_a,shape_b,..." in sweep order: a reader's list of the groups. */
static int attr_shape_list(hid_t file, const hr_relu_result_t *res,
                           int nshapes) {
  size_t len = (size_t)nshapes * 64 + 1, used = 0;
  char *list = malloc(len), name[64];
  if (!list) HR_FAIL(HR_ERR_MEMORY, "out of memory for the list of shapes");
  list[0] = '\0';
  for (int i = 0; i < nshapes; i++) {
    hr_relu_shape_name(&res[i].shape, name, sizeof name);
    used += (size_t)snprintf(list + used, len - used, "%s%s", i ? "," : "",
                             name);
  }
  int rc = attr_string(file, "shapes", list);
  free(list);
  return rc;
}

static int root_attributes(hid_t file, const hr_relu_result_t *res,
                           int nshapes, const hr_relu_file_info_t *info) {
  /* The provenance writers need only the file and a communicator. */
  hr_spectra_file_t view;
  memset(&view, 0, sizeof view);
  view.comm = MPI_COMM_SELF;
  view.file = file;
  HR_CHECK(hr_provenance_write(&view, info->ctx->provenance, info->ctx->size,
                               info->ctx->blas));
  HR_CHECK(hr_provenance_write_timings(&view, info->times));
  const char *solver = hr_solver_name(info->layout->solver);
  HR_CHECK(attr_shape_list(file, res, nshapes));
  HR_CHECK(attr_int(file, "n_shapes", nshapes));
  HR_CHECK(attr_string(file, "loss_definition", LOSS_DEFINITION));
  HR_CHECK(attr_string(file, "solver_used", solver));
  HR_CHECK(attr_string(file, "grid", info->layout->grid_desc));
  HR_CHECK(attr_int(file, "nblk", info->layout->nblk));
  HR_CHECK(attr_int(file, "groups", info->layout->groups.count));
  HR_CHECK(attr_int(file, "peak_rss_bytes_max", info->peak_rss));
  return attr_int(file, "memory_estimate_bytes_max", info->memory_estimate);
}

int hr_relu_write_file(const char *path, const hr_relu_result_t *res,
                       int nshapes, const hr_relu_file_info_t *info) {
  /* A full disk is found before HDF5 meets it: every run's packed
   * results, as doubles, and a MiB for names and attributes. */
  int64_t bytes = 1 << 20;
  for (int s = 0; s < nshapes; s++)
    bytes += hr_relu_pack_size(&res[s]) * (int64_t)res[s].runs * 8;
  HR_CHECK(hr_output_check_space_serial(path, bytes));
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) return h5_fail("file", path);
  int rc = root_attributes(file, res, nshapes, info);
  for (int i = 0; i < nshapes && rc == HR_OK; i++)
    rc = write_shape(file, &res[i]);
  if (H5Fclose(file) < 0 && rc == HR_OK)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot close '%s' (disk full?)", path);
  return rc;
}
