/* Outputs owned by the run that writes them: an fcntl lock on PATH.lock,
 * held by rank 0 from before any work until the run ends (see the header
 * for why a lock, and why on a file of its own). */
#include "hessrmt/output_claim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hessrmt/error.h"

static int lock_whole_file(int fd) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;  /* l_start = l_len = 0: the whole file */
  return fcntl(fd, F_SETLK, &fl);
}

/* The holder's own line, for the message of a refused run. */
static void read_owner(const char *lock, char *buf, size_t len) {
  buf[0] = '\0';
  FILE *f = fopen(lock, "r");
  if (f) {
    size_t got = fread(buf, 1, len - 1, f);
    buf[got] = '\0';
    fclose(f);
  }
  buf[strcspn(buf, "\n")] = '\0';
  if (!buf[0]) snprintf(buf, len, "it has not yet written who it is");
}

static void write_owner(int fd, const char *command_line) {
  char host[256] = "?";
  gethostname(host, sizeof host);
  host[sizeof host - 1] = '\0';
  char when[32] = "?";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char text[4600];
  int n = snprintf(text, sizeof text, "host %s, pid %ld, started %s: %s\n",
                   host, (long)getpid(), when, command_line);
  if (n > (int)sizeof text - 1) n = (int)sizeof text - 1;
  /* Best effort: the lock, not the text, is what keeps others out. */
  if (ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)n, 0) < 0) return;
}

static int locks_unsupported(int err) {
  return err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP || err == EINVAL;
}

/* Rank 0 alone: claim one path; *fd is -1 where the file system has no
 * locks (after a warning). */
static int claim_one(const char *path, const char *lock,
                     const char *command_line, int *fd) {
  *fd = -1;
  for (int attempt = 0; attempt < 5; attempt++) {
    int f = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    /* A directory that is missing or not writable: nothing can be written
     * there, and the command says so in its own words. */
    if (f < 0 && (errno == ENOENT || errno == ENOTDIR || errno == EACCES ||
                  errno == EROFS || errno == EISDIR))
      return HR_OK;
    if (f < 0)
      HR_FAIL(HR_ERR_IO, "cannot create the lock file '%s' for '%s': %s", lock,
              path, strerror(errno));
    if (lock_whole_file(f) != 0) {
      int err = errno;
      close(f);
      if (err == EACCES || err == EAGAIN) {
        char owner[4600];
        read_owner(lock, owner, sizeof owner);
        HR_FAIL(HR_ERR_BUSY, "'%s' is being written by another run (%s); wait "
                "for it to end, or give this run another output", path, owner);
      }
      if (!locks_unsupported(err))
        HR_FAIL(HR_ERR_IO, "cannot lock '%s': %s", lock, strerror(err));
      fprintf(stderr, "hessrmt: warning: cannot lock '%s' (%s): on this file "
              "system a second run writing '%s' at the same time would not be "
              "noticed\n", lock, strerror(err), path);
      unlink(lock);
      return HR_OK;
    }
    /* The run before us may have removed the lock file between our open and
     * our lock: we would hold a lock on a name no one else sees.  Again. */
    struct stat held, named;
    if (fstat(f, &held) == 0 && stat(lock, &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      write_owner(f, command_line);
      *fd = f;
      return HR_OK;
    }
    close(f);
  }
  HR_FAIL(HR_ERR_IO, "cannot lock '%s': another process keeps replacing it", lock);
}

static int already_listed(const hr_claims_t *c, const char *lock) {
  for (int i = 0; i < c->count; i++)
    if (strcmp(c->lock[i], lock) == 0) return 1;
  return 0;
}

int hr_claims_take(MPI_Comm comm, const char *const *paths, int n,
                   const char *command_line, hr_claims_t *claims) {
  memset(claims, 0, sizeof *claims);
  int rank;
  MPI_Comm_rank(comm, &rank);
  int rc = HR_OK;
  for (int i = 0; i < n && rc == HR_OK; i++) {
    if (!paths[i] || !paths[i][0]) continue;
    if (claims->count == HR_MAX_CLAIMS) {
      rc = hr_error_set(HR_ERR_INTERNAL, __FILE__, __LINE__, __func__,
                        "more than %d outputs to claim", HR_MAX_CLAIMS);
      break;
    }
    char *lock = claims->lock[claims->count];
    snprintf(lock, sizeof claims->lock[0], "%s.lock", paths[i]);
    if (already_listed(claims, lock)) continue;
    int fd = -1;
    if (rank == 0) rc = claim_one(paths[i], lock, command_line, &fd);
    claims->fd[claims->count++] = fd;
  }
  rc = hr_agree(comm, rc);
  if (rc != HR_OK) hr_claims_release(claims);
  return rc;
}

void hr_claims_release(hr_claims_t *claims) {
  for (int i = 0; i < claims->count; i++) {
    if (claims->fd[i] < 0) continue;
    /* Removed while still held: a run that opens the name now gets a new
     * file, and one that opened the old one sees it replaced (above). */
    unlink(claims->lock[i]);
    close(claims->fd[i]);
    claims->fd[i] = -1;
  }
  claims->count = 0;
}
