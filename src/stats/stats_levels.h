/* What the statistics' two halves share (private to src/stats): the kept
 * levels of every spectrum, which stats.c cuts and stats_unfold.c
 * unfolds. */
#ifndef HESSRMT_STATS_LEVELS_H
#define HESSRMT_STATS_LEVELS_H

#include <stddef.h>
#include <stdint.h>

#include "hessrmt/stats.h"

/* The kept levels of every spectrum, concatenated and each ascending:
 * spectrum s owns level[start[s] .. start[s+1]). */
typedef struct {
  int64_t spectra, count;
  int64_t *start;
  double *level;
} hr_levels_t;

static inline const double *hr_levels_row(const hr_levels_t *k, int64_t s,
                                          int64_t *n) {
  *n = k->start[s + 1] - k->start[s];
  return k->level + k->start[s];
}

void hr_levels_free(hr_levels_t *k);

/* Unfold the kept levels as cfg asks (auto: choose) and fill the spacing
 * and long-range statistics of st, with st->spacing_reliable and
 * st->unfold_note; st->verdict must already be set (the flatness check's
 * allowance follows the ratios' law). */
int hr_stats_unfold(const hr_stats_config_t *cfg, const hr_levels_t *k,
                    hr_stats_t *st);

/* The kept unfolding's name: "spline", "poly 9"; "none" when none was
 * kept. */
void hr_stats_unfold_label(const hr_stats_t *st, char *buf, size_t len);

/* Why the spacing half is unreliable, as a clause: "no unfolding is
 * monotone and flat" (auto) or "the poly 9 unfolding is not monotone and
 * flat" (an unfolding the user named). */
void hr_stats_unreliable_reason(const hr_stats_t *st, char *buf, size_t len);

/* --unfold all: every unfolding in full into st->unfoldings, their
 * spread, and the warning when the spacing verdict depends on them. */
void hr_stats_unfold_all(const hr_stats_config_t *cfg, const hr_levels_t *k,
                         hr_stats_t *st);

#endif
