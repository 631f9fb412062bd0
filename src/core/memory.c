/* Memory planning (see memory.h). */
#include "hessrmt/memory.h"

#include <stdio.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/options.h"

/* A "Name:   1234 kB" line of a /proc file, in bytes; 0 if absent. */
static int64_t proc_kb_field(const char *file, const char *field) {
  FILE *f = fopen(file, "r");
  if (!f) return 0;
  char line[256];
  long long kb = 0;
  size_t len = strlen(field);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, field, len) == 0 && line[len] == ':') {
      sscanf(line + len + 1, "%lld", &kb);
      break;
    }
  fclose(f);
  return (int64_t)kb * 1024;
}

int hr_memory_limit(MPI_Comm world, int64_t requested, int64_t *limit) {
  if (requested > 0) {
    *limit = requested;
    return HR_OK;
  }
  MPI_Comm node;
  HR_MPI(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
                             &node));
  int on_node;
  MPI_Comm_size(node, &on_node);
  MPI_Comm_free(&node);
  int64_t available = proc_kb_field("/proc/meminfo", "MemAvailable");
  int64_t mine = available > 0 ? available / on_node : INT64_MAX;
  HR_MPI(MPI_Allreduce(&mine, limit, 1, MPI_INT64_T, MPI_MIN, world));
  return HR_OK;
}

int hr_memory_check(MPI_Comm world, int64_t need, int64_t limit,
                    const char *breakdown) {
  int64_t worst = 0;
  HR_MPI(MPI_Allreduce(&need, &worst, 1, MPI_INT64_T, MPI_MAX, world));
  if (worst <= limit) return HR_OK;
  int rank;
  MPI_Comm_rank(world, &rank);
  char a[32], b[32];
  int rc = HR_OK;
  if (rank == 0)
    rc = hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                      "not enough memory: this run needs about %s per rank "
                      "(%s) but the limit is %s per rank; use more ranks (or "
                      "fewer per node), fewer --groups, or raise --max-mem",
                      hr_format_bytes((double)worst, a, sizeof a), breakdown,
                      hr_format_bytes((double)limit, b, sizeof b));
  return hr_agree(world, rank == 0 ? rc : HR_ERR_MEMORY);
}

int64_t hr_memory_peak_bytes(void) {
  return proc_kb_field("/proc/self/status", "VmHWM");
}
