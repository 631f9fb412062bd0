/* The data and the model of `hessian` and `train` (see hessian.h):
 * shape, number of outputs, the whole-dataset pass that labels and
 * standardisation need, the model and its weights, and each rank's rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/blockcyclic.h"
#include "hessrmt/dataset.h"
#include "hessrmt/error.h"
#include "hessrmt/hessian.h"
#include "hessrmt/timer.h"
#include "hessrmt/weights.h"

/* The world-sliced pass over the data that classes and standardisation
 * need: largest label, and feature statistics.  Collective. */
static int dataset_pass(hr_ctx_t *ctx, hr_hessian_t *h, int need_classes) {
  int64_t first, count;
  hr_row_slice(h->rows, ctx->rank, ctx->size, &first, &count);
  hr_dataset_t d;
  HR_CHECK(hr_dataset_read(ctx->world, &h->spec, first, count, &d));
  int rc = HR_OK;
  if (need_classes) {
    int max_label = 0;
    rc = hr_dataset_max_label(ctx->world, &d, &max_label);
    h->classes = max_label + 1;
  }
  /* --standardize: batches use the whole dataset's statistics. */
  if (rc == HR_OK) rc = hr_preprocess_fit(ctx->world, &d, &h->prep);
  hr_dataset_free(&d);
  return rc;
}

/* Outputs C: the model's, the targets' columns, --classes, or labels. */
static int resolve_classes(hr_ctx_t *ctx, hr_hessian_t *h, int *need_pass) {
  const hr_hessian_setup_t *o = &h->setup;
  *need_pass = 0;
  int64_t declared = 0;
  HR_CHECK(hr_agree(ctx->world, hr_model_spec_outputs(h->model_spec, h->dim,
                                                      o->loss,
                                                      &declared)));
  if (declared > 0) {
    h->classes = declared;
  } else if (o->targets[0]) {
    int64_t r = 0, cols = 0;
    double *unused = NULL;
    HR_CHECK(hr_matrix_read(ctx->world, o->targets, o->targets_dset, 0, 0, &r,
                            &cols, &unused));
    free(unused);
    h->classes = cols;
  } else if (o->classes) {
    h->classes = o->classes;
  } else if (strcmp(o->spec.data, "synthetic") == 0) {
    h->classes = h->spec.classes;
  } else {
    *need_pass = 1;  /* the largest label decides */
  }
  if (o->classes && h->classes && o->classes != h->classes && !*need_pass)
    HR_CHECK(hr_agree(ctx->world,
                      hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                   "--classes %lld but the model/targets "
                                   "have %lld outputs", (long long)o->classes,
                                   (long long)h->classes)));
  return HR_OK;
}

/* The model: --model, else the spec stored in --weights, else logistic;
 * biases as the weights file says when the spec comes from it. */
static int resolve_spec(hr_ctx_t *ctx, hr_hessian_t *h) {
  const hr_hessian_setup_t *o = &h->setup;
  h->model_bias = o->bias;
  snprintf(h->model_spec, sizeof h->model_spec, "%s", o->model);
  if (o->model[0] || !o->weights[0]) {
    if (!o->model[0]) snprintf(h->model_spec, sizeof h->model_spec, "logistic");
    return HR_OK;
  }
  int bias;
  HR_CHECK(hr_weights_read_spec(ctx->world, o->weights, h->model_spec,
                                sizeof h->model_spec, &bias));
  if (!h->model_spec[0])
    snprintf(h->model_spec, sizeof h->model_spec, "logistic");
  else if (bias >= 0)
    h->model_bias = bias;
  return HR_OK;
}

static int init_model(hr_ctx_t *ctx, hr_hessian_t *h) {
  const hr_hessian_setup_t *o = &h->setup;
  HR_CHECK(hr_agree(ctx->world,
                    hr_model_init(&h->model, h->model_spec, h->dim, h->classes,
                                  h->model_bias, o->activation,
                                  o->loss)));
  if (o->targets[0] && o->loss != HR_LOSS_MSE)
    HR_CHECK(hr_agree(ctx->world, hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__,
                                               __func__, "--targets needs "
                                               "--loss mse")));
  h->theta = malloc((size_t)h->model.nparams * sizeof *h->theta);
  HR_CHECK(hr_agree(ctx->world, h->theta ? HR_OK : HR_ERR_MEMORY));
  if (o->weights[0])
    return hr_weights_read(ctx->world, o->weights, &h->model, h->theta);
  hr_weights_init(&h->model, o->init_seed, h->theta);
  return HR_OK;
}

int hr_hessian_prepare(hr_ctx_t *ctx, hr_hessian_t *h) {
  const hr_hessian_setup_t *o = &h->setup;
  h->spec = o->spec;
  h->targets_path = o->targets;
  h->prep.scale_pixels = o->scale_pixels;
  h->prep.standardize = o->standardize;
  HR_CHECK(hr_dataset_shape(ctx->world, &h->spec, &h->rows, &h->dim));
  HR_CHECK(resolve_spec(ctx, h));
  int need_pass = 0;
  HR_CHECK(resolve_classes(ctx, h, &need_pass));
  /* Synthetic data get as many classes as the model has outputs. */
  if (!o->classes && h->classes > 0) h->spec.classes = (int)h->classes;
  if (need_pass || o->standardize) {
    /* the pass holds this rank's share of every row, as doubles */
    int64_t share = (h->rows + ctx->size - 1) / ctx->size;
    h->pass_bytes = share * (h->dim + 1) * (int64_t)sizeof(double);
  }
  if (!o->dry_run && (need_pass || o->standardize)) {
    hr_timer_start(&ctx->timer, HR_PHASE_READ);
    int rc = dataset_pass(ctx, h, need_pass);
    hr_timer_stop(&ctx->timer, HR_PHASE_READ);
    HR_CHECK(rc);
  }
  if (o->dry_run && need_pass)
    h->classes = o->classes ? o->classes : 10;  /* a plan needs a guess */
  return init_model(ctx, h);
}

int hr_hessian_load(hr_ctx_t *ctx, MPI_Comm comm, hr_hessian_t *h,
                    int64_t first, int64_t count) {
  const hr_hessian_setup_t *o = &h->setup;
  int64_t f, c;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  hr_row_slice(count, rank, size, &f, &c);
  if (h->loaded && h->data.first == first + f && h->data.count == c)
    return HR_OK;  /* the whole-dataset slice, already here */
  if (h->loaded) hr_dataset_free(&h->data);
  free(h->targets);
  h->targets = NULL;
  h->loaded = 0;
  hr_timer_start(&ctx->timer, HR_PHASE_READ);
  int rc = hr_dataset_read(comm, &h->spec, first + f, c, &h->data);
  if (rc == HR_OK) h->loaded = 1;
  if (rc == HR_OK && h->targets_path && h->targets_path[0]) {
    int64_t r = 0, cols = 0;
    rc = hr_matrix_read(comm, h->targets_path, o->targets_dset, first + f,
                        c, &r, &cols, &h->targets);
    if (rc == HR_OK && (cols != h->classes || r < first + count))
      rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                        "targets '%s' are %lld x %lld but the data need %lld "
                        "rows of %lld outputs", h->targets_path, (long long)r,
                        (long long)cols, (long long)h->rows,
                        (long long)h->classes);
    rc = hr_agree(comm, rc);
  }
  hr_timer_stop(&ctx->timer, HR_PHASE_READ);
  HR_CHECK(rc);
  return hr_preprocess_apply(comm, &h->prep, &h->data);
}

int hr_hessian_check_labels(const hr_hessian_t *h, MPI_Comm comm) {
  int rc = HR_OK;
  if (!h->targets)
    for (int64_t i = 0; i < h->data.count && rc == HR_OK; i++)
      if (h->data.labels[i] < 0 || h->data.labels[i] >= h->classes)
        rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                          "label %d of row %lld is outside [0, %lld): the "
                          "model has %lld outputs", h->data.labels[i],
                          (long long)(h->data.first + i), (long long)h->classes,
                          (long long)h->classes);
  return hr_agree(comm, rc);
}

void hr_hessian_select_block(hr_hessian_t *h, int i) {
  h->block_first = h->blocks[i].first;
  h->block_count = h->blocks[i].count;
  snprintf(h->block_desc, sizeof h->block_desc, "%s", h->blocks[i].desc);
}

hr_hessian_problem_t hr_hessian_problem(const hr_hessian_t *h) {
  hr_hessian_problem_t p = {&h->model, h->theta, h->data.x, h->data.count,
                            h->dim, h->data.labels, h->targets, h->part,
                            h->scale};
  return p;
}

hr_samples_t hr_problem_samples(const hr_hessian_problem_t *p, int64_t first,
                                int64_t count) {
  hr_samples_t s = {count, p->x + first * p->dim, p->labels + first,
                    p->targets ? p->targets + first * p->model->outputs : NULL};
  return s;
}

hr_samples_t hr_hessian_samples(const hr_hessian_t *h, int64_t first,
                                int64_t count) {
  hr_hessian_problem_t p = hr_hessian_problem(h);
  return hr_problem_samples(&p, first, count);
}

void hr_problem_hvp(const hr_hessian_problem_t *pb, hr_model_work_t *w,
                    int64_t chunk, const double *V, int64_t k, double *HV) {
  for (int64_t i = 0; i < pb->count; i += chunk) {
    int64_t c = pb->count - i < chunk ? pb->count - i : chunk;
    hr_samples_t s = hr_problem_samples(pb, i, c);
    hr_model_hvp(pb->model, pb->theta, &s, pb->part, V, k, w, HV);
  }
}

void hr_problem_block_hvp(const hr_hessian_problem_t *p, hr_model_work_t *w,
                          int64_t chunk, int64_t first, int64_t B,
                          const double *V, int64_t k, double *E, double *R,
                          double *HV) {
  int64_t N = p->model->nparams;
  memset(E, 0, (size_t)(N * k) * sizeof *E);
  memset(R, 0, (size_t)(N * k) * sizeof *R);
  for (int64_t d = 0; d < k; d++)  /* zero outside the block */
    memcpy(E + d * N + first, V + d * B, (size_t)B * sizeof *E);
  hr_problem_hvp(p, w, chunk, E, k, R);
  for (int64_t d = 0; d < k; d++)
    for (int64_t i = 0; i < B; i++) HV[d * B + i] = p->scale * R[d * N + first + i];
}

int hr_hessian_gather_rows(MPI_Comm comm, const double *mine, int64_t local,
                           int64_t width, double *all, int64_t total) {
  int size;
  MPI_Comm_size(comm, &size);
  int *counts = malloc((size_t)size * sizeof *counts);
  int *displs = malloc((size_t)size * sizeof *displs);
  int ok = hr_agree(comm, counts && displs ? HR_OK : HR_ERR_MEMORY);
  if (ok != HR_OK) { free(counts); free(displs); return ok; }
  int n = (int)local;
  MPI_Allgather(&n, 1, MPI_INT, counts, 1, MPI_INT, comm);
  int64_t offset = 0;
  for (int r = 0; r < size; r++) {
    displs[r] = (int)offset;
    offset += counts[r];
  }
  /* One row is the unit, so counts stay small. */
  MPI_Datatype row;
  MPI_Type_contiguous((int)width, MPI_DOUBLE, &row);
  MPI_Type_commit(&row);
  int rc = MPI_Allgatherv(mine, n, row, all, counts, displs, row, comm);
  MPI_Type_free(&row);
  free(counts);
  free(displs);
  if (rc != MPI_SUCCESS || offset != total)
    HR_FAIL(HR_ERR_MPI, "gathering the Gauss-Newton factor failed");
  return HR_OK;
}

