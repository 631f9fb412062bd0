/* Progress inside one long step (the columns of a dense assembly, the
 * basis of the low-rank path): a spectrum of a conv net can take an hour,
 * and a run that prints nothing for that long looks hung.  A line goes to
 * stderr at most once a minute, the first after a minute, so short steps
 * print nothing; only the rank given `on` prints (world rank 0, not
 * --quiet).  Local: no communication. */
#ifndef HESSRMT_PROGRESS_H
#define HESSRMT_PROGRESS_H

#include <stdint.h>

enum { HR_PROGRESS_INTERVAL_S = 60 };

typedef struct {
  const char *what;  /* "columns of H", "low-rank basis" */
  int64_t total;     /* > 0: an ETA is printed; 0: a count alone */
  double start, last;
  int on;
} hr_progress_t;

void hr_progress_begin(hr_progress_t *p, int on, const char *what,
                       int64_t total);
/* `done` of `total` finished; prints if the interval has passed. */
void hr_progress_step(hr_progress_t *p, int64_t done);

#endif
