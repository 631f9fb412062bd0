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

#endif
