/* Atomic output paths (see output.h). */
#include "hessrmt/output.h"

#include <errno.h>
#include <math.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hessrmt/error.h"

int hr_output_partial_path(const char *path, char *buf, size_t len) {
  int n = snprintf(buf, len, "%s.partial", path);
  if (n < 0 || (size_t)n >= len)
    HR_FAIL(HR_ERR_IO, "output path is too long: %s", path);
  return HR_OK;
}

static int check_writable_local(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    HR_FAIL(HR_ERR_IO, "output path '%s' is a directory; give a file name",
            path);
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  const char *dir = dirname(copy);
  if (stat(dir, &st) != 0)
    HR_FAIL(HR_ERR_IO, "cannot write '%s': directory '%s' does not exist "
            "(%s)", path, dir, strerror(errno));
  if (!S_ISDIR(st.st_mode))
    HR_FAIL(HR_ERR_IO, "cannot write '%s': '%s' is not a directory", path, dir);
  if (access(dir, W_OK | X_OK) != 0)
    HR_FAIL(HR_ERR_IO, "cannot write '%s': no write permission in directory "
            "'%s' (%s)", path, dir, strerror(errno));
  return HR_OK;
}

int hr_output_check_writable(MPI_Comm comm, const char *path) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int rc = rank == 0 ? check_writable_local(path) : HR_OK;
  return hr_agree(comm, rc);
}

int hr_output_commit(MPI_Comm comm, const char *partial, const char *final) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int rc = HR_OK;
  if (rank == 0 && rename(partial, final) != 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot rename '%s' to '%s': %s (the finished result "
                      "is kept in '%s')",
                      partial, final, strerror(errno), partial);
  return hr_agree(comm, rc);
}

void hr_output_discard(MPI_Comm comm, const char *partial) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) unlink(partial);
  MPI_Barrier(comm);
}

int hr_output_exists(MPI_Comm comm, const char *path) {
  int rank, exists = 0;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0) exists = access(path, F_OK) == 0;
  MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
  return exists;
}

int hr_output_write_json(json_t *j, const char *path) {
  char partial[4096];
  HR_CHECK(hr_output_partial_path(path, partial, sizeof partial));
  if (json_dump_file(j, partial, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                     JSON_REAL_PRECISION(12)) != 0) {
    remove(partial);
    HR_FAIL(HR_ERR_IO, "cannot write the JSON file '%s' (does its directory "
            "exist and is it writable?)", path);
  }
  if (rename(partial, path) != 0) {
    int e = errno;
    remove(partial);
    HR_FAIL(HR_ERR_IO, "cannot rename '%s' to '%s': %s", partial, path, strerror(e));
  }
  return HR_OK;
}

json_t *hr_json_number(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}
