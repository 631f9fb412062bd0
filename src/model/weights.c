/* A model's weights in a file of named tensors (see weights.h): which
 * tensors a model has, with which shapes, and matching a file to it. */
#include "hessrmt/weights.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/random.h"
#include "hessrmt/tensor_file.h"

/* PyTorch's shape of a node's weight: (out, in), (out, in, kh, kw), or
 * the norms' (features). */
static int weight_shape(const hr_layer_t *L, int64_t *dims) {
  if (L->kind != HR_LAYER_LINEAR && L->kind != HR_LAYER_CONV) {
    dims[0] = L->nweight;
    return 1;
  }
  dims[0] = L->out.c;
  dims[1] = L->in.c;
  if (L->kind == HR_LAYER_LINEAR) return 2;
  dims[2] = dims[3] = L->kernel;
  return 4;
}

static int is_conv_or_linear(const hr_layer_t *L) {
  return L->kind == HR_LAYER_LINEAR || L->kind == HR_LAYER_CONV;
}

/* The b-th BatchNorm node's statistics: batchnorm/<b>/running_mean and
 * running_var, (C) each, as PyTorch's buffers. */
static void stat_name(int b, int var, char *name, size_t len) {
  snprintf(name, len, "batchnorm/%d/running_%s", b, var ? "var" : "mean");
}

/* Tensor `name` of the file must exist with exactly the model's shape. */
static int read_param(const hr_tensor_file_t *tf, const char *name, int rank,
                      const int64_t *want, double *out) {
  if (!hr_tensor_file_exists(tf, "layers") || !hr_tensor_file_exists(tf, name))
    HR_FAIL(HR_ERR_INPUT, "weights file '%s' has no dataset '%s' (expected "
            "layers/<l>/weight and layers/<l>/bias)", tf->path, name);
  int have = 0;
  int64_t dims[4];
  HR_CHECK(hr_tensor_file_shape(tf, name, &have, dims));
  int same = have == rank;
  for (int i = 0; i < rank && same; i++) same = dims[i] == want[i];
  if (!same) {
    char got[96], need[96];
    HR_FAIL(HR_ERR_INPUT, "'%s' in '%s' has shape %s but the model needs %s",
            name, tf->path, hr_tensor_shape_text(have, dims, got, sizeof got),
            hr_tensor_shape_text(rank, want, need, sizeof need));
  }
  int64_t count = 1;
  for (int i = 0; i < rank; i++) count *= want[i];
  return hr_tensor_file_read(tf, name, count, out);
}

static int match_layers(const hr_tensor_file_t *tf, const hr_model_t *m,
                        double *theta) {
  char name[64];
  for (int l = 0; l < m->nparam_layers; l++) {
    const hr_layer_t *L = hr_model_param_layer(m, l);
    int64_t dims[4];
    int rank = weight_shape(L, dims);
    snprintf(name, sizeof name, "layers/%d/weight", l);
    HR_CHECK(read_param(tf, name, rank, dims, theta + L->offset_w));
    snprintf(name, sizeof name, "layers/%d/bias", l);
    int64_t nb = L->nbias;
    if (L->nbias)
      HR_CHECK(read_param(tf, name, 1, is_conv_or_linear(L) ? dims : &nb,
                          theta + L->offset_b));
    else if (hr_tensor_file_exists(tf, name))
      HR_FAIL(HR_ERR_INPUT, "'%s' has biases (%s) but the model has none: drop "
              "--no-bias", tf->path, name);
  }
  snprintf(name, sizeof name, "layers/%d", m->nparam_layers);
  if (hr_tensor_file_exists(tf, name))
    HR_FAIL(HR_ERR_INPUT, "'%s' has more layers with parameters than the "
            "model's %d", tf->path, m->nparam_layers);
  return HR_OK;
}

/* The BatchNorm statistics into m's buffer; a file without them (one
 * written before they existed, or by hand) keeps PyTorch's initial ones,
 * mean 0 and variance 1.  Variances must be non-negative. */
static int match_statistics(const hr_tensor_file_t *tf, hr_model_t *m) {
  char name[64];
  for (int i = 0, b = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (L->kind != HR_LAYER_BATCHNORM) continue;
    for (int var = 0; var < 2; var++) {
      stat_name(b, var, name, sizeof name);
      if (!hr_tensor_file_exists(tf, "batchnorm") || !hr_tensor_file_exists(tf, name))
        continue;
      double *at = m->buffer + L->offset_buf + var * L->in.c;
      HR_CHECK(read_param(tf, name, 1, &L->in.c, at));
      for (int64_t c = 0; var && c < L->in.c; c++)
        if (!(at[c] >= 0))
          HR_FAIL(HR_ERR_INPUT, "'%s' in '%s' holds a negative variance "
                  "(%g at channel %lld)", name, tf->path, at[c], (long long)c);
    }
    b++;
  }
  return HR_OK;
}

static int read_all(const char *path, hr_model_t *m, double *theta) {
  hr_tensor_file_t tf;
  HR_CHECK(hr_tensor_file_open(path, &tf));
  int rc = match_layers(&tf, m, theta);
  if (rc == HR_OK) rc = match_statistics(&tf, m);
  hr_tensor_file_close(&tf);
  return rc;
}

int hr_weights_read_spec(MPI_Comm comm, const char *path, char *spec,
                         size_t len, int *bias) {
  int rank, rc = HR_OK;
  MPI_Comm_rank(comm, &rank);
  char buf[1024] = "";
  int b = -1;
  if (rank == 0) {
    hr_tensor_file_t tf;
    rc = hr_tensor_file_open(path, &tf);
    if (rc == HR_OK) {
      rc = hr_tensor_file_model(&tf, buf, sizeof buf, &b);
      hr_tensor_file_close(&tf);
    }
  }
  HR_CHECK(hr_agree(comm, rc));
  HR_MPI(MPI_Bcast(buf, sizeof buf, MPI_CHAR, 0, comm));
  HR_MPI(MPI_Bcast(&b, 1, MPI_INT, 0, comm));
  snprintf(spec, len, "%s", buf);
  *bias = b;
  return HR_OK;
}

int hr_weights_read(MPI_Comm comm, const char *path, hr_model_t *m,
                    double *theta) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  HR_CHECK(hr_agree(comm, rank == 0 ? read_all(path, m, theta) : HR_OK));
  HR_MPI(MPI_Bcast(theta, (int)m->nparams, MPI_DOUBLE, 0, comm));
  if (m->nbuffer)
    HR_MPI(MPI_Bcast(m->buffer, (int)m->nbuffer, MPI_DOUBLE, 0, comm));
  return HR_OK;
}

void hr_weights_init(const hr_model_t *m, uint64_t seed, double *theta) {
  for (int l = 0; l < m->nparam_layers; l++) {
    const hr_layer_t *L = hr_model_param_layer(m, l);
    if (!is_conv_or_linear(L)) { /* the norms: gamma 1, beta 0 */
      for (int64_t i = 0; i < L->nweight; i++) theta[L->offset_w + i] = 1.0;
      for (int64_t i = 0; i < L->nbias; i++) theta[L->offset_b + i] = 0.0;
      continue;
    }
    /* fan_in: in for linear, in * kh * kw for conv */
    double bound = 1.0 / sqrt((double)(L->nweight / L->out.c));
    for (int64_t i = 0; i < L->nweight; i++)
      theta[L->offset_w + i] =
          bound * (2.0 * hr_random_uniform(seed, 3000, l, i, HR_STREAM_ENTRY) - 1.0);
    for (int64_t i = 0; i < L->nbias; i++)
      theta[L->offset_b + i] =
          bound * (2.0 * hr_random_uniform(seed, 3001, l, i, HR_STREAM_ENTRY) - 1.0);
  }
}

int hr_weights_write(const char *path, const hr_model_t *m, const double *theta) {
  return hr_weights_write_extra(path, m, theta, NULL, NULL);
}

enum { MAX_TENSORS = 4 * HR_MAX_LAYERS };

int hr_weights_write_extra(const char *path, const hr_model_t *m,
                           const double *theta, hr_weights_extra_fn extra,
                           void *ctx) {
  if (2 * m->nparam_layers > MAX_TENSORS)
    HR_FAIL(HR_ERR_INTERNAL, "%d layers with parameters: more than %d",
            m->nparam_layers, MAX_TENSORS / 2);
  hr_tensor_t t[MAX_TENSORS];
  char names[MAX_TENSORS][64];
  int n = 0;
  for (int l = 0; l < m->nparam_layers; l++) {
    const hr_layer_t *L = hr_model_param_layer(m, l);
    snprintf(names[n], sizeof names[n], "layers/%d/weight", l);
    t[n].name = names[n];
    t[n].rank = weight_shape(L, t[n].dims);
    t[n].data = theta + L->offset_w;
    n++;
    if (L->nbias) {
      snprintf(names[n], sizeof names[n], "layers/%d/bias", l);
      t[n].name = names[n];
      t[n].rank = 1;
      t[n].dims[0] = L->nbias;
      t[n].data = theta + L->offset_b;
      n++;
    }
  }
  for (int i = 0, b = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (L->kind != HR_LAYER_BATCHNORM) continue;
    for (int var = 0; var < 2; var++) {
      stat_name(b, var, names[n], sizeof names[n]);
      t[n].name = names[n];
      t[n].rank = 1;
      t[n].dims[0] = L->in.c;
      t[n].data = m->buffer + L->offset_buf + var * L->in.c;
      n++;
    }
    b++;
  }
  /* The weights, the history and the metadata fit in N doubles and a MiB. */
  return hr_tensor_file_write(path, t, n, m->spec, m->bias,
                              m->nparams * 8 * 2 + (1 << 20), extra, ctx);
}
