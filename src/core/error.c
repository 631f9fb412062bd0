/* The error record and collective agreement (see include/hessrmt/error.h).
 *
 * The record is the one piece of process-wide mutable state in hessrmt:
 * like PETSc's error stack it must be reachable from any depth without
 * threading a context through every leaf function.  It is written only on
 * the failure path and read by main(). */
#include "hessrmt/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum { HR_MSG_MAX = 2048, HR_WHERE_MAX = 4096 };

static struct {
  int code;
  int agreed;
  char message[HR_MSG_MAX];
  char where[HR_WHERE_MAX];
} hr_error_record;

static void append_frame(const char *file, int line, const char *func) {
  size_t used = strlen(hr_error_record.where);
  if (used + 1 >= sizeof hr_error_record.where) return;
  snprintf(hr_error_record.where + used, sizeof hr_error_record.where - used,
           "  at %s (%s:%d)\n", func, file, line);
}

int hr_error_set(int code, const char *file, int line, const char *func,
                 const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(hr_error_record.message, sizeof hr_error_record.message, fmt, ap);
  va_end(ap);
  hr_error_record.code = code ? code : HR_ERR_INTERNAL;
  hr_error_record.agreed = 0;
  hr_error_record.where[0] = '\0';
  append_frame(file, line, func);
  return hr_error_record.code;
}

void hr_error_trace(const char *file, int line, const char *func) {
  append_frame(file, line, func);
}

const char *hr_error_message(void) { return hr_error_record.message; }
const char *hr_error_where(void) { return hr_error_record.where; }
int hr_error_code(void) { return hr_error_record.code; }
int hr_error_is_agreed(void) { return hr_error_record.agreed; }

void hr_error_clear(void) { memset(&hr_error_record, 0, sizeof hr_error_record); }

int hr_agree(MPI_Comm comm, int local_status) {
  int rank, size, world_rank;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);

  /* The lowest failing rank speaks for everyone. */
  int mine = local_status != HR_OK ? rank : size;
  int first = size;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
  if (first == size) return HR_OK;

  struct { int code; int world_rank; char message[HR_MSG_MAX]; } packet;
  if (rank == first) {
    packet.code = local_status;
    packet.world_rank = world_rank;
    if (hr_error_record.code == HR_OK)   /* failed without a message: a bug */
      snprintf(packet.message, sizeof packet.message,
               "internal error %d without a message", local_status);
    else
      memcpy(packet.message, hr_error_record.message, sizeof packet.message);
  }
  MPI_Bcast(&packet, (int)sizeof packet, MPI_BYTE, first, comm);

  /* A rank that failed itself keeps its own trace for --debug. */
  if (local_status == HR_OK) hr_error_record.where[0] = '\0';
  hr_error_record.code = packet.code;
  /* Name the rank once, even when an agreed error is agreed again higher up. */
  if (size > 1 && !strstr(packet.message, "(rank "))
    snprintf(hr_error_record.message, sizeof hr_error_record.message,
             "%.*s (rank %d)", HR_MSG_MAX - 16, packet.message,
             packet.world_rank);
  else
    memcpy(hr_error_record.message, packet.message, sizeof packet.message);
  hr_error_record.agreed = 1;
  return hr_error_record.code;
}

void hr_error_print(int world_rank, int verbose) {
  if (hr_error_record.agreed && hr_error_record.code == HR_ERR_STOPPED)
    fprintf(stderr, "hessrmt: stopped: %s\n", hr_error_record.message);
  else if (hr_error_record.agreed)
    fprintf(stderr, "hessrmt: error: %s\n", hr_error_record.message);
  else
    fprintf(stderr, "hessrmt: error on rank %d: %s\n", world_rank,
            hr_error_record.message);
  if (verbose && hr_error_record.where[0])
    fprintf(stderr, "%s", hr_error_record.where);
}
