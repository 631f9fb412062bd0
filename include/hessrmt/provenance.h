/* Provenance written into every output file: program version, command line,
 * every option's value (from the options table), the run's layout, the
 * per-phase timings, and the identity string that --resume checks. */
#ifndef HESSRMT_PROVENANCE_H
#define HESSRMT_PROVENANCE_H

#include <stddef.h>

#include "hessrmt/context.h"
#include "hessrmt/spectra_file.h"
#include "hessrmt/timer.h"

/* "name=value;..." of the options that define the result. */
int hr_provenance_identity(const hr_options_t *opts, char *buf, size_t len);

/* Version, command line, options, identity, ranks.  Collective; agreed. */
int hr_provenance_write(hr_spectra_file_t *f, const hr_ctx_t *ctx);

/* time_<phase>_max / time_<phase>_min attributes.  Collective; agreed. */
int hr_provenance_write_timings(hr_spectra_file_t *f,
                                const hr_timing_summary_t *s);

#endif
