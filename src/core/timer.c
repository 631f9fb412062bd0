/* Phase timers (see timer.h). */
#include "hessrmt/timer.h"

#include <string.h>

#include "hessrmt/error.h"

static const char *phase_names[HR_PHASE_COUNT] = {
    "read", "generate", "assemble", "check", "solve", "write", "statistics",
    "total"};

const char *hr_phase_name(hr_phase_t phase) { return phase_names[phase]; }

void hr_timer_init(hr_timer_t *t) { memset(t, 0, sizeof *t); }

void hr_timer_start(hr_timer_t *t, hr_phase_t phase) {
  t->started[phase] = MPI_Wtime();
  t->running[phase] = 1;
}

void hr_timer_stop(hr_timer_t *t, hr_phase_t phase) {
  if (!t->running[phase]) return;
  t->elapsed[phase] += MPI_Wtime() - t->started[phase];
  t->running[phase] = 0;
}

int hr_timer_summarize(const hr_timer_t *t, MPI_Comm comm,
                       hr_timing_summary_t *s) {
  HR_MPI(MPI_Allreduce(t->elapsed, s->max, HR_PHASE_COUNT, MPI_DOUBLE, MPI_MAX,
                       comm));
  HR_MPI(MPI_Allreduce(t->elapsed, s->min, HR_PHASE_COUNT, MPI_DOUBLE, MPI_MIN,
                       comm));
  return HR_OK;
}

void hr_timer_print(const hr_timing_summary_t *s, int ranks, FILE *out) {
  fprintf(out, "\nphase        max over %d rank%s (s)   min (s)\n", ranks,
          ranks == 1 ? "" : "s");
  for (int p = 0; p < HR_PHASE_COUNT; p++) {
    if (s->max[p] <= 0.0 && p != HR_PHASE_TOTAL) continue;
    fprintf(out, "%-12s %20.3f %10.3f\n", phase_names[p], s->max[p], s->min[p]);
  }
}
