/* Memory planning (see memory.h). */
#include "hessrmt/memory.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "hessrmt/error.h"

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

/* A cgroup v2 limit (Slurm's --mem, a container's) less what the group
 * uses already, in bytes; INT64_MAX when there is none. */
static int64_t cgroup_room(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return INT64_MAX;
  char line[1024], path[1200] = "";
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "0::", 3) == 0) {
      line[strcspn(line, "\n")] = '\0';
      snprintf(path, sizeof path, "/sys/fs/cgroup%s", line + 3);
    }
  fclose(f);
  if (!path[0]) return INT64_MAX;
  char file[1300];
  long long max = -1, current = 0;
  snprintf(file, sizeof file, "%s/memory.max", path);
  if ((f = fopen(file, "r"))) {
    if (fscanf(f, "%lld", &max) != 1) max = -1;  /* "max": no limit */
    fclose(f);
  }
  if (max < 0) return INT64_MAX;
  snprintf(file, sizeof file, "%s/memory.current", path);
  if ((f = fopen(file, "r"))) {
    if (fscanf(f, "%lld", &current) != 1) current = 0;
    fclose(f);
  }
  return max > current ? (int64_t)(max - current) : 0;
}

/* This process's address-space limit (ulimit -v) less its size now and
 * less what OpenBLAS maps on its first calls (a 128 MiB buffer, counted by
 * the limit though barely touched; when it cannot get one it waits for
 * ever instead of failing). */
static int64_t rlimit_room(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return INT64_MAX;
  int64_t used = proc_kb_field("/proc/self/status", "VmSize") + ((int64_t)256 << 20);
  return (int64_t)rl.rlim_cur > used ? (int64_t)rl.rlim_cur - used : 0;
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
  /* The node's available memory, or its cgroup's room if smaller (shared
   * by this node's ranks), or this rank's ulimit -v room if smaller. */
  int64_t available = proc_kb_field("/proc/meminfo", "MemAvailable");
  int64_t mine = available > 0 ? available / on_node : INT64_MAX;
  int64_t group = cgroup_room();
  if (group / on_node < mine) mine = group / on_node;
  int64_t own = rlimit_room();
  if (own < mine) mine = own;
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

const char *hr_format_bytes(double bytes, char *buf, size_t len) {
  static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 5) { bytes /= 1024.0; u++; }
  snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", bytes, unit[u]);
  return buf;
}
