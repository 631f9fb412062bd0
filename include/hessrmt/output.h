/* Atomic output files: everything is written to PATH.partial and renamed
 * to PATH only once complete, so a crash or a kill never leaves a file that
 * looks finished, and an existing PATH is untouched until the new one is
 * whole.  A killed run's PATH.partial is what --resume continues from. */
#ifndef HESSRMT_OUTPUT_H
#define HESSRMT_OUTPUT_H

#include <jansson.h>
#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* PATH.partial into buf. */
int hr_output_partial_path(const char *path, char *buf, size_t len);

/* Fail clearly, on every rank, if PATH cannot be created: its directory is
 * missing or not writable, or PATH is a directory.  Collective. */
int hr_output_check_writable(MPI_Comm comm, const char *path);

/* Fail clearly, on every rank, if the file system of PATH has fewer than
 * bytes free (for files whose size is known before they are written, such
 * as a spectra file, whose datasets are allocated when it is created: a
 * full disk is found before any work, not by a failed write).  Collective. */
int hr_output_check_space(MPI_Comm comm, const char *path, int64_t bytes);

/* The same on the calling rank alone (serial writers: weights, relu-sim,
 * merge), and ", its file system is full" when PATH's file system has
 * (almost) nothing free, else "": for the messages of failed writes, whose
 * library (HDF5, jansson, PLplot) does not say why. */
int hr_output_check_space_serial(const char *path, int64_t bytes);
const char *hr_output_full_note(const char *path);

/* Rename partial to final on rank 0 and agree on the outcome.  Collective. */
int hr_output_commit(MPI_Comm comm, const char *partial, const char *final);

/* Remove partial (rank 0), best effort, for runs that failed.  Collective. */
void hr_output_discard(MPI_Comm comm, const char *partial);

/* Write a JSON document (indented, keys in order) to path.partial and
 * rename it to path.  Serial; the caller keeps its reference to j. */
int hr_output_write_json(json_t *j, const char *path);

/* v as a JSON number, or null when it is NaN or infinite (JSON has
 * neither). */
json_t *hr_json_number(double v);

/* Whether a file exists (rank 0's view, broadcast).  Collective. */
int hr_output_exists(MPI_Comm comm, const char *path);

#endif
