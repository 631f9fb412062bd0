/* Error handling: return codes, a readable trace, and collective agreement.
 *
 * Every function that can fail returns an hr_err_t (0 = success).  The
 * macro family below records what failed (message, file, line, function)
 * and returns the code up the stack, in the manner of PETSc's PetscCall, so
 * no return code is dropped and no module prints and exits on its own.
 *
 * Collective safety: a failure seen by one rank must become a clean exit on
 * all ranks, never a hang in a collective.  hr_agree() is the meeting point:
 * every rank of a communicator calls it with its local status, and all of
 * them return the same status together with the message of the lowest
 * failing rank.  main() then exits non-zero everywhere; an error that was
 * never agreed on ends in MPI_Abort, which also cannot hang.
 */
#ifndef HESSRMT_ERROR_H
#define HESSRMT_ERROR_H

#include <mpi.h>
#include <stddef.h>

typedef enum {
  HR_OK = 0,
  HR_ERR_USAGE = 2,   /* bad command line: exit status 2, like getopt tools */
  HR_ERR_INPUT = 3,   /* bad or inconsistent input data, sizes, grids */
  HR_ERR_IO = 4,      /* files: open, read, write, rename */
  HR_ERR_MEMORY = 5,  /* allocation failed or would exceed --max-mem */
  HR_ERR_SOLVER = 6,  /* ELPA / ScaLAPACK reported a failure */
  HR_ERR_MPI = 7,     /* an MPI call returned an error */
  HR_ERR_INTERNAL = 8, /* a broken invariant: a bug in hessrmt */
  HR_ERR_BUSY = 9,    /* an output is being written by another live run */
  HR_ERR_STOPPED = 75  /* stopped by a signal at a safe point, finished work
                          kept: EX_TEMPFAIL, run again with --resume */
} hr_err_t;

/* Record a new error (replacing any earlier one) and return its code. */
int hr_error_set(int code, const char *file, int line, const char *func,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Append one stack frame to the trace of the current error. */
void hr_error_trace(const char *file, int line, const char *func);

/* The current error's message ("" if none) and its trace (for --debug). */
const char *hr_error_message(void);
const char *hr_error_where(void);
int hr_error_code(void);

/* Forget the current error (after it has been handled). */
void hr_error_clear(void);

/* True when every rank already knows about the current error. */
int hr_error_is_agreed(void);

/* Collective over comm.  Returns HR_OK on every rank if every local_status
 * is HR_OK; otherwise returns, on every rank, the code of the lowest failing
 * rank and makes its message (prefixed with the world rank) current. */
int hr_agree(MPI_Comm comm, int local_status);

/* Print "hessrmt: error: ..." for the current error to stderr. */
void hr_error_print(int world_rank, int verbose);

/* ---- the macro family -------------------------------------------------- */

#define HR_FAIL(code, ...) \
  return hr_error_set((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Call something that returns hr_err_t; on failure add a frame and return. */
#define HR_CHECK(call)                                 \
  do {                                                 \
    int hr_check_rc_ = (call);                         \
    if (hr_check_rc_ != HR_OK) {                       \
      hr_error_trace(__FILE__, __LINE__, __func__);    \
      return hr_check_rc_;                             \
    }                                                  \
  } while (0)

/* MPI calls.  Communicators keep MPI_ERRORS_ARE_FATAL (an MPI failure then
 * aborts the whole job, which cannot hang); the check still guards against
 * handlers changed by libraries. */
#define HR_MPI(call)                                                        \
  do {                                                                      \
    int hr_mpi_rc_ = (call);                                                \
    if (hr_mpi_rc_ != MPI_SUCCESS) {                                        \
      char hr_mpi_msg_[MPI_MAX_ERROR_STRING];                               \
      int hr_mpi_len_ = 0;                                                  \
      MPI_Error_string(hr_mpi_rc_, hr_mpi_msg_, &hr_mpi_len_);              \
      HR_FAIL(HR_ERR_MPI, "%s failed: %s", #call, hr_mpi_msg_);             \
    }                                                                       \
  } while (0)

/* Allocate count elements of *ptr's type, zeroed; fail with the byte count. */
#define HR_CALLOC(ptr, count)                                               \
  do {                                                                      \
    size_t hr_n_ = (size_t)(count);                                         \
    (ptr) = calloc(hr_n_ ? hr_n_ : 1, sizeof *(ptr));                       \
    if (!(ptr))                                                             \
      HR_FAIL(HR_ERR_MEMORY, "out of memory allocating %zu bytes for %s",   \
              hr_n_ * sizeof *(ptr), #ptr);                                 \
  } while (0)

#endif
