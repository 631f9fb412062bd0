/* Files of named tensors: HDF5 datasets such as layers/<l>/weight with the
 * shapes PyTorch gives them, and the root attributes model_spec and
 * model_bias.  This layer knows names, shapes and values only; matching
 * them to a model is the model's job (weights.h).  Serial: one rank. */
#ifndef HESSRMT_TENSOR_FILE_H
#define HESSRMT_TENSOR_FILE_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  hid_t file;
  char path[4096];
} hr_tensor_file_t;

/* A tensor to write: dataset `name` (intermediate groups are made). */
typedef struct {
  const char *name;
  int rank;             /* 1..4 */
  int64_t dims[4];
  const double *data;
} hr_tensor_t;

int hr_tensor_file_open(const char *path, hr_tensor_file_t *tf);
void hr_tensor_file_close(hr_tensor_file_t *tf);

/* Whether a group or dataset `name` exists. */
int hr_tensor_file_exists(const hr_tensor_file_t *tf, const char *name);

/* The shape of dataset `name` (rank 0 when it has none of 1..4 dims). */
int hr_tensor_file_shape(const hr_tensor_file_t *tf, const char *name,
                         int *rank, int64_t dims[4]);

/* Its count values, each checked finite (the error names the element). */
int hr_tensor_file_read(const hr_tensor_file_t *tf, const char *name,
                        int64_t count, double *out);

/* model_spec ("" where absent) and model_bias (-1 where absent). */
int hr_tensor_file_model(const hr_tensor_file_t *tf, char *spec, size_t len,
                         int *bias);

/* "(3, 4)", "(6, 3, 5, 5)" or "(3,)", as PyTorch and numpy print shapes. */
const char *hr_tensor_shape_text(int rank, const int64_t *dims, char *buf,
                                 size_t len);

/* Writes the tensors, model_spec and model_bias, and whatever extra(file,
 * ctx) adds (NULL: nothing), as path.partial renamed when complete, after
 * checking that `bytes` fit on the disk.  extra returns an hr_err_t. */
typedef int (*hr_tensor_extra_fn)(hid_t file, void *ctx);
int hr_tensor_file_write(const char *path, const hr_tensor_t *t, int n,
                         const char *spec, int bias, int64_t bytes,
                         hr_tensor_extra_fn extra, void *ctx);

#endif
