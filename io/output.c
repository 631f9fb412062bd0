/* Atomic output paths (see output.h). */
#include "hessrmt/output.h"

#include <errno.h>
#include <math.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "hessrmt/error.h"
#include "hessrmt/memory.h"

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

/* Bytes free on the file system of path's directory; < 0 if unknown (also
 * for pseudo file systems such as /proc, which count no blocks at all). */
static double free_bytes(const char *path) {
  char copy[4096];
  snprintf(copy, sizeof copy, "%s", path);
  struct statvfs fs;
  if (statvfs(dirname(copy), &fs) != 0 || fs.f_blocks == 0) return -1.0;
  return (double)fs.f_bavail * (double)fs.f_frsize;
}

const char *hr_output_full_note(const char *path) {
  double avail = free_bytes(path);
  return avail >= 0 && avail < 65536.0 ? ", its file system is full (no space left)" : "";
}

int hr_output_check_space_serial(const char *path, int64_t bytes) {
  double avail = free_bytes(path);
  if (avail < 0 || avail >= (double)bytes) return HR_OK;  /* unknown: the write will tell */
  char need[32], have[32];
  HR_FAIL(HR_ERR_IO, "no space left for '%s': it needs %s and its file system "
          "has %s free", path, hr_format_bytes((double)bytes, need, sizeof need),
          hr_format_bytes(avail, have, sizeof have));
}

int hr_output_check_space(MPI_Comm comm, const char *path, int64_t bytes) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  return hr_agree(comm, rank == 0 ? hr_output_check_space_serial(path, bytes) : HR_OK);
}

int hr_output_commit(MPI_Comm comm, const char *partial, const char *final) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int rc = HR_OK;
  if (rank == 0 && rename(partial, final) != 0) {
    int err = errno;
    /* Never point to a file that is not there. */
    if (access(partial, F_OK) == 0)
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot rename '%s' to '%s': %s (the finished result "
                        "is kept in '%s')",
                        partial, final, strerror(err), partial);
    else
      rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                        "cannot rename '%s' to '%s': %s ('%s' is gone: "
                        "removed, or renamed by another process, while this "
                        "run wrote it; its result is lost)",
                        partial, final, strerror(err), partial);
  }
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
    const char *full = hr_output_full_note(path);
    if (full[0]) HR_FAIL(HR_ERR_IO, "cannot write the JSON file '%s'%s", path, full);
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
