/* Small helpers shared by the HDF5 readers and writers. */
#ifndef HESSRMT_H5UTIL_H
#define HESSRMT_H5UTIL_H

#include <stddef.h>

/* The innermost message on HDF5's error stack, into buf (at least 256
 * bytes).  Call it right after the failing call: any later HDF5 call,
 * a close included, clears the stack. */
const char *hr_h5_reason(char *buf);

#endif
