/* Provenance attributes (see provenance.h). */
#include "hessrmt/provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hessrmt/error.h"
#include "hessrmt/version.h"

void hr_provenance_free(hr_provenance_t *p) {
  for (int i = 0; i < p->count; i++) free(p->values[i]);
  free(p->values);
  free((void *)p->names);
  p->values = NULL;
  p->names = NULL;
  p->count = 0;
}

/* Which OpenBLAS kernels produced the numbers, and who chose them: rank
 * 0's (every rank of a job runs the same binary on the same CPU type; a
 * mixed job would still agree on the file). */
static int write_blas(hr_spectra_file_t *f, const hr_blas_core_t *blas) {
  if (!blas) return HR_OK;
  char core[32], chooser[16], original[32];
  snprintf(core, sizeof core, "%s", blas->core);
  snprintf(chooser, sizeof chooser, "%s", hr_blas_chooser_name(blas->chooser));
  snprintf(original, sizeof original, "%s",
           blas->chooser == HR_BLAS_CHOSEN_BY_HESSRMT ? blas->openblas_choice
                                                     : blas->core);
  HR_MPI(MPI_Bcast(core, sizeof core, MPI_CHAR, 0, f->comm));
  HR_MPI(MPI_Bcast(chooser, sizeof chooser, MPI_CHAR, 0, f->comm));
  HR_MPI(MPI_Bcast(original, sizeof original, MPI_CHAR, 0, f->comm));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "blas_core", core));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "blas_core_chosen_by", chooser));
  return hr_spectra_attr_string(f, NULL, "blas_core_openblas_choice", original);
}

static int write_all(hr_spectra_file_t *f, const hr_provenance_t *p,
                     int ranks, const hr_blas_core_t *blas, long long now) {
  char stamp[64];
  time_t t = (time_t)now;
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "program", "hessrmt"));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "version", HR_VERSION_STRING));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "build", HR_BUILD_INFO));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "command", p->command));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "command_line", p->command_line));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "created", stamp));
  HR_CHECK(hr_spectra_attr_string(f, NULL, "identity", p->identity));
  HR_CHECK(hr_spectra_attr_int(f, "ranks", ranks));
  HR_CHECK(write_blas(f, blas));
  for (int i = 0; i < p->count; i++)
    HR_CHECK(hr_spectra_attr_string(f, "options", p->names[i], p->values[i]));
  return HR_OK;
}

int hr_provenance_write(hr_spectra_file_t *f, const hr_provenance_t *p,
                        int ranks, const hr_blas_core_t *blas) {
  /* HDF5 metadata writes are collective and every rank must pass the same
   * value, so the time stamp is rank 0's. */
  long long now = (long long)time(NULL);
  HR_MPI(MPI_Bcast(&now, 1, MPI_LONG_LONG, 0, f->comm));
  return hr_agree(f->comm, write_all(f, p, ranks, blas, now));
}

int hr_provenance_write_timings(hr_spectra_file_t *f,
                                const hr_timing_summary_t *s) {
  int rc = HR_OK;
  for (int p = 0; p < HR_PHASE_COUNT && rc == HR_OK; p++) {
    char name[64];
    snprintf(name, sizeof name, "time_%s_max", hr_phase_name((hr_phase_t)p));
    rc = hr_spectra_attr_double(f, name, s->max[p]);
    snprintf(name, sizeof name, "time_%s_min", hr_phase_name((hr_phase_t)p));
    if (rc == HR_OK) rc = hr_spectra_attr_double(f, name, s->min[p]);
  }
  return hr_agree(f->comm, rc);
}
