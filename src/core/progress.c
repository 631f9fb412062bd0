/* Progress lines inside a long step (progress.h). */
#include "hessrmt/progress.h"

#include <mpi.h>
#include <stdio.h>

void hr_progress_begin(hr_progress_t *p, int on, const char *what,
                       int64_t total) {
  p->what = what;
  p->total = total;
  p->start = p->last = MPI_Wtime();
  p->on = on;
}

void hr_progress_step(hr_progress_t *p, int64_t done) {
  if (!p->on) return;
  double now = MPI_Wtime();
  if (now - p->last < HR_PROGRESS_INTERVAL_S) return;
  p->last = now;
  double elapsed = now - p->start;
  if (p->total > 0 && done > 0)
    fprintf(stderr, "hessrmt: %s: %lld/%lld (%.0f%%) after %.0f s, about %.0f s "
            "to go\n", p->what, (long long)done, (long long)p->total,
            100.0 * (double)done / (double)p->total, elapsed,
            elapsed * (double)(p->total - done) / (double)done);
  else
    fprintf(stderr, "hessrmt: %s: %lld after %.0f s\n", p->what,
            (long long)done, elapsed);
  fflush(stderr);
}
