/* Prototypes for the BLACS and ScaLAPACK routines hessrmt calls.  Debian's
 * scalapack-openmpi ships no C header, so these follow the Fortran
 * interfaces (all arguments by reference, 1-based indices, 32-bit ints). */
#ifndef HESSRMT_BLACS_H
#define HESSRMT_BLACS_H

#include <mpi.h>

int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *context, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int context, int *nprow, int *npcol, int *myrow,
                     int *mycol);
void Cblacs_gridexit(int context);

void descinit_(int *desc, const int *m, const int *n, const int *mb,
               const int *nb, const int *irsrc, const int *icsrc,
               const int *context, const int *lld, int *info);

void pdtran_(const int *m, const int *n, const double *alpha, const double *a,
             const int *ia, const int *ja, const int *desca,
             const double *beta, double *c, const int *ic, const int *jc,
             const int *descc);
void pstran_(const int *m, const int *n, const float *alpha, const float *a,
             const int *ia, const int *ja, const int *desca,
             const float *beta, float *c, const int *ic, const int *jc,
             const int *descc);

void pdgemm_(const char *transa, const char *transb, const int *m,
             const int *n, const int *k, const double *alpha, const double *a,
             const int *ia, const int *ja, const int *desca, const double *b,
             const int *ib, const int *jb, const int *descb,
             const double *beta, double *c, const int *ic, const int *jc,
             const int *descc);

void pdsyevr_(const char *jobz, const char *range, const char *uplo,
              const int *n, double *a, const int *ia, const int *ja,
              const int *desca, const double *vl, const double *vu,
              const int *il, const int *iu, int *m, int *nz, double *w,
              double *z, const int *iz, const int *jz, const int *descz,
              double *work, const int *lwork, int *iwork, const int *liwork,
              int *info);
void pssyevr_(const char *jobz, const char *range, const char *uplo,
              const int *n, float *a, const int *ia, const int *ja,
              const int *desca, const float *vl, const float *vu,
              const int *il, const int *iu, int *m, int *nz, float *w,
              float *z, const int *iz, const int *jz, const int *descz,
              float *work, const int *lwork, int *iwork, const int *liwork,
              int *info);
void pdsyev_(const char *jobz, const char *uplo, const int *n, double *a,
             const int *ia, const int *ja, const int *desca, double *w,
             double *z, const int *iz, const int *jz, const int *descz,
             double *work, const int *lwork, int *info);
void pssyev_(const char *jobz, const char *uplo, const int *n, float *a,
             const int *ia, const int *ja, const int *desca, float *w,
             float *z, const int *iz, const int *jz, const int *descz,
             float *work, const int *lwork, int *info);

#endif
