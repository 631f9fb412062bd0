/* A model's weights (src/model/weights.c), in a file of named tensors
 * (tensor_file.h), one group per layer with parameters:
 *   layers/<l>/weight   (out, in) for linear, (out, in, kh, kw) for conv,
 *                       as PyTorch stores them
 *   layers/<l>/bias     (out), when the model has biases
 *   (BatchNorm and LayerNorm nodes: weight = gamma, bias = beta, (features))
 *   batchnorm/<b>/running_mean, running_var   the b-th BatchNorm node's
 *                       frozen statistics (C), read into the model
 *   attributes model_spec (the canonical spec, model.h) and model_bias
 * or PyTorch's default initialisation, uniform on +-1/sqrt(fan_in), drawn
 * from a counter-based stream so every rank gets the same parameters. */
#ifndef HESSRMT_WEIGHTS_H
#define HESSRMT_WEIGHTS_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "hessrmt/model.h"
#include "hessrmt/tensor_file.h"

/* Rank 0 reads path, checks every shape against the model (the error
 * names both shapes) and that all values are finite, and broadcasts
 * theta (length N) and the BatchNorm statistics (into m).  Collective;
 * agreed. */
int hr_weights_read(MPI_Comm comm, const char *path, hr_model_t *m,
                    double *theta);

/* The model_spec and model_bias attributes of a weights file: spec "" and
 * bias -1 where the file has none (files from before they existed).
 * Collective; agreed. */
int hr_weights_read_spec(MPI_Comm comm, const char *path, char *spec,
                         size_t len, int *bias);

/* PyTorch's nn.Linear and nn.Conv2d default: weight and bias uniform on
 * [-1/sqrt(fan_in), 1/sqrt(fan_in)]. */
void hr_weights_init(const hr_model_t *m, uint64_t seed, double *theta);

/* Write theta in the layout above (serial; call on one rank).  The file
 * is written as path.partial and renamed when complete. */
int hr_weights_write(const char *path, const hr_model_t *m, const double *theta);

/* The same, with more content (training history, optimiser state) written
 * into the open file by extra(file, ctx) before it is closed and renamed;
 * extra returns an hr_err_t. */
typedef hr_tensor_extra_fn hr_weights_extra_fn;
int hr_weights_write_extra(const char *path, const hr_model_t *m,
                           const double *theta, hr_weights_extra_fn extra,
                           void *ctx);

#endif
