/* The precision a matrix is stored and solved in: a base type shared by
 * the distributed matrices, the eigensolver and the spectra files. */
#ifndef HESSRMT_PRECISION_H
#define HESSRMT_PRECISION_H

/* Names in the order of the enum (the front end's --precision choices). */
#define HR_PRECISION_NAMES "double|single"
typedef enum { HR_PRECISION_DOUBLE, HR_PRECISION_SINGLE } hr_precision_t;

static inline const char *hr_precision_name(hr_precision_t p) {
  return p == HR_PRECISION_SINGLE ? "single" : "double";
}

#endif
