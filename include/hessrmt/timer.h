/* Named phases timed with MPI_Wtime on every rank (after PETSc's log
 * stages).  At the end the max and min over ranks are printed by rank 0 and
 * stored in the output file. */
#ifndef HESSRMT_TIMER_H
#define HESSRMT_TIMER_H

#include <mpi.h>
#include <stdio.h>

typedef enum {
  HR_PHASE_READ,
  HR_PHASE_GENERATE,
  HR_PHASE_ASSEMBLE,
  HR_PHASE_CHECK,
  HR_PHASE_SOLVE,
  HR_PHASE_WRITE,
  HR_PHASE_STATISTICS,
  HR_PHASE_TOTAL,
  HR_PHASE_COUNT
} hr_phase_t;

typedef struct {
  double elapsed[HR_PHASE_COUNT];
  double started[HR_PHASE_COUNT];
  int running[HR_PHASE_COUNT];
} hr_timer_t;

typedef struct {
  double max[HR_PHASE_COUNT];
  double min[HR_PHASE_COUNT];
} hr_timing_summary_t;

const char *hr_phase_name(hr_phase_t phase);
void hr_timer_init(hr_timer_t *t);
void hr_timer_start(hr_timer_t *t, hr_phase_t phase);
void hr_timer_stop(hr_timer_t *t, hr_phase_t phase);

/* Max and min of each phase over comm, on every rank.  Collective. */
int hr_timer_summarize(const hr_timer_t *t, MPI_Comm comm,
                       hr_timing_summary_t *s);

/* The table of phases that took any time. */
void hr_timer_print(const hr_timing_summary_t *s, int ranks, FILE *out);

#endif
