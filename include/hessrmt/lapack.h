/* Prototypes of the serial LAPACK routines hessrmt calls (Fortran
 * interfaces: arguments by reference, column-major). */
#ifndef HESSRMT_LAPACK_H
#define HESSRMT_LAPACK_H

void dgeqp3_(const int *m, const int *n, double *a, const int *lda, int *jpvt,
             double *tau, double *work, const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a,
             const int *lda, const double *tau, double *work,
             const int *lwork, int *info);
void dsterf_(const int *n, double *d, double *e, int *info);
void dstev_(const char *jobz, const int *n, double *d, double *e, double *z,
            const int *ldz, double *work, int *info);
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a,
             const int *lda, double *w, double *work, const int *lwork,
             int *iwork, const int *liwork, int *info);

/* Eigenvalues only through the two-stage reduction (full -> band ->
 * tridiagonal, then dsterf): the fastest LAPACK path for JOBZ = 'N'. */
void dsyev_2stage_(const char *jobz, const char *uplo, const int *n, double *a,
                   const int *lda, double *w, double *work, const int *lwork,
                   int *info);
void ssyev_2stage_(const char *jobz, const char *uplo, const int *n, float *a,
                   const int *lda, float *w, float *work, const int *lwork,
                   int *info);

#endif
