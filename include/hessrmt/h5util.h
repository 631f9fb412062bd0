/* Small helpers shared by the HDF5 readers and writers. */
#ifndef HESSRMT_H5UTIL_H
#define HESSRMT_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

/* The innermost message on HDF5's error stack, into buf (at least 256
 * bytes).  Call it right after the failing call: any later HDF5 call,
 * a close included, clears the stack. */
const char *hr_h5_reason(char *buf);

/* String attribute `name` of loc into buf: "" if there is none; variable
 * or fixed length, ASCII or UTF-8, as stored (HDF5 will not convert
 * between character sets). */
int hr_h5_read_string_attr(hid_t loc, const char *name, char *buf, size_t len);

/* Scalar attribute `name` of loc (replaced if it exists), and a string
 * attribute as variable-length UTF-8 (h5py reads it as str). */
int hr_h5_write_attr(hid_t loc, const char *name, hid_t type, const void *value);
int hr_h5_write_string_attr(hid_t loc, const char *name, const char *value);

/* A float64 dataset of rank 1 or 2 with the given dims.  Returns < 0 on
 * failure, as HDF5 calls do. */
herr_t hr_h5_write_doubles(hid_t loc, const char *name, int rank,
                           const hsize_t *dims, const double *values);

#endif
