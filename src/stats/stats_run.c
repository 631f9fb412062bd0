/* A statistics run over spectra files (see hr_stats_job_t in stats.h):
 * what `hessrmt stats` does, and what ensemble and hessian do at their
 * end.  Serial on one rank, except the output checks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hessrmt/error.h"
#include "hessrmt/output.h"
#include "hessrmt/stats.h"

/* Figures of one file go to --plots DIR; of several, to DIR/<file name
 * without its extension>, so they do not overwrite each other. */
static void figure_dir(const char *plots, const char *path, int count,
                       char *buf, size_t len) {
  if (count == 1) { snprintf(buf, len, "%s", plots); return; }
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  int stem = dot && dot != base ? (int)(dot - base) : (int)strlen(base);
  snprintf(buf, len, "%s/%.*s", plots, stem, base);
}

static int one_file(const hr_stats_job_t *job, const char *path, int count,
                    hr_stats_t *st, FILE *out) {
  hr_stats_config_t cfg = job->analysis;
  cfg.path = path;
  HR_CHECK(hr_stats_compute(&cfg, st));
  hr_stats_print(st, out);
  int rc = HR_OK;
  if (job->plots[0]) {
    char dir[4096];
    figure_dir(job->plots, path, count, dir, sizeof dir);
    hr_figures_config_t fig = {dir, job->plot_width, job->plot_height,
                               job->log_density, 0};
    rc = hr_stats_figures(st, &fig);
    if (rc == HR_OK) fprintf(out, "  figures     %s/{density,degeneracy,ratios,"
                             "spacings,number_variance,rigidity%s%s}.{png,svg}\n", dir,
                             st->paper.computed ? ",paper_ratios,paper_spacings" : "",
                             st->slq.present ? ",slq_density" : "");
  }
  hr_stats_free(st);  /* the scalars stay for the JSON */
  return rc;
}

int hr_stats_run(const hr_stats_job_t *job, const char *const *paths,
                 int count, FILE *out) {
  hr_stats_t *all = calloc((size_t)count, sizeof *all);
  if (!all) HR_FAIL(HR_ERR_MEMORY, "out of memory for %d statistics", count);
  int rc = HR_OK;
  for (int i = 0; rc == HR_OK && i < count; i++) {
    if (i) fprintf(out, "\n");
    rc = one_file(job, paths[i], count, &all[i], out);
  }
  if (rc == HR_OK && job->json[0]) {
    rc = hr_stats_write_json(all, count, job->json);
    if (rc == HR_OK) fprintf(out, "  json        %s\n", job->json);
  }
  free(all);
  return rc;
}

/* The figure directory exists or can be made now. */
static int make_plot_dir(const char *dir) {
  struct stat sb;
  if (stat(dir, &sb) == 0) {
    if (!S_ISDIR(sb.st_mode))
      HR_FAIL(HR_ERR_IO, "--plots %s: exists and is not a directory", dir);
    return HR_OK;
  }
  if (mkdir(dir, 0777) != 0)
    HR_FAIL(HR_ERR_IO, "--plots %s: cannot create the directory: %s", dir,
            strerror(errno));
  return HR_OK;
}

int hr_stats_check_outputs(MPI_Comm comm, const char *json, const char *plots) {
  if (json[0]) HR_CHECK(hr_output_check_writable(comm, json));
  int rank, rc = HR_OK;
  MPI_Comm_rank(comm, &rank);
  if (rank == 0 && plots[0]) rc = make_plot_dir(plots);
  return hr_agree(comm, rc);
}
