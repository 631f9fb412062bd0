/* Command-line options: one table drives parsing, --help text and the
 * provenance attributes written into every output file (STYLE.md, after
 * PETSc's options database).  Parsing is pure (no MPI), so --help and
 * usage errors work without mpirun and give the same answer on all ranks. */
#ifndef HESSRMT_OPTIONS_H
#define HESSRMT_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "hessrmt/provenance.h"

/* Commands, as bits so an option can belong to several. */
typedef enum {
  HR_CMD_NONE = 0,
  HR_CMD_ENSEMBLE = 1u << 0,
  HR_CMD_HESSIAN = 1u << 1,
  HR_CMD_STATS = 1u << 2,
  HR_CMD_TRAIN = 1u << 3,
  HR_CMD_RELU_SIM = 1u << 4,
  HR_CMD_LOSSFIT = 1u << 5,
  HR_CMD_MERGE = 1u << 6,
} hr_command_t;

/* Most positional arguments a command takes (stats FILE...). */
enum { HR_MAX_INPUTS = 256 };

/* The enums that choice options parse into belong to their modules
 * (hr_solver_t: eigensolver.h, hr_precision_t: precision.h, hr_kind_t:
 * ensemble.h, hr_method_t: hessian.h); the fields below hold them as int. */

#define HR_REDUCTION_CHOICES "mean|sum"
typedef enum { HR_REDUCTION_MEAN, HR_REDUCTION_SUM } hr_reduction_t;

/* Every option of every command.  Fields hold parsed values; 0 means
 * "auto" where the help text says so. */
typedef struct hr_options {
  hr_command_t command;
  const char *command_name;

  /* ensemble */
  int kind;                 /* hr_kind_t */
  int64_t n;                /* matrix order */
  int64_t count;            /* number of matrices */
  int64_t seed;
  double wishart_ratio;     /* N / m for X (m x N) */
  double beta;              /* Dyson index of --kind beta */
  double gp_a, gp_b;        /* --kind gp-loss: kernel curvatures a, b */
  double degenerate;        /* gp-loss: fraction of rows/columns set to 0 */
  int64_t outliers;         /* gp-loss: diagonal outliers ... */
  double outlier_scale;     /* ... of this many semicircle radii */
  const char *output;

  /* hessian: data (synthetic rows use n/seed too) */
  const char *data, *labels, *features_dset, *labels_dset;
  const char *targets, *targets_dset;
  int64_t rows, dim, classes, limit;
  double separation;
  int scale_pixels, standardize;
  /* hessian: model */
  const char *model, *weights;
  int activation, loss, bias;
  int64_t init_seed;
  /* hessian: what to compute */
  int64_t batch_size, max_batches, first_batch;  /* batch_size 0 = all */
  const char *block, *params;  /* a diagonal block only: --block L, --params A:B */
  const char *slq;             /* "M,K": also the Lanczos density estimate */
  int part, method, reduction;
  int dry_run;

  /* layout and solver */
  int solver;               /* hr_solver_t */
  int precision;            /* hr_precision_t */
  int grid_rows, grid_cols; /* 0 x 0 = as square as possible */
  int64_t nblk;             /* 0 = auto */
  int64_t eigenvectors;     /* --eigenvectors K: both ends' vectors (0: none) */
  int64_t groups;
  int64_t max_mem;          /* bytes per rank; 0 = what the node has */

  /* train */
  int64_t epochs, train_batch, checkpoint_every, shuffle_seed;
  double lr, momentum, weight_decay;
  int lr_schedule;          /* hr_lr_schedule_t (train.h) */
  const char *test_data, *test_labels, *test_targets, *train_resume, *history;

  /* relu-sim: comma-separated lists of sizes, swept in every combination */
  const char *n0_list, *n1_list, *n2_list, *m_list;
  double sigma, step;
  int64_t iters, runs;
  int rescale_h1;

  /* lossfit */
  const char *x_column, *y_column;
  int best_of_runs;         /* one point per run: its minimum */
  const char *run_column;   /* groups the rows of one file into runs */

  /* statistics (stats, and the end of ensemble / hessian) */
  const char *inputs[HR_MAX_INPUTS];  /* positional arguments */
  int n_inputs;
  const char *stats_dataset;
  double cut;               /* < 0 = auto */
  int unfold;               /* hr_unfold_t (stats.h) */
  int64_t poly_degree;
  double trim;
  const char *json, *plots;
  int64_t plot_width, plot_height;
  int log_density;
  int paper_conventions;   /* also the paper's notebooks' statistics */
  int no_stats;

  /* run control */
  int resume;
  int quiet;
  int debug;
  int version_shown; /* --version was printed (main adds the BLAS line) */

  /* the command line as typed, for provenance */
  char command_line[4096];
} hr_options_t;

typedef enum {
  HR_PARSE_RUN = 0,      /* options parsed: run the command */
  HR_PARSE_EXIT_OK = 1,  /* --help or --version was printed: exit 0 */
} hr_parse_result_t;

/* Parse argv into opts.  Messages (help, errors) go to out/err only when
 * print is non-zero (rank 0).  Returns HR_PARSE_RUN, HR_PARSE_EXIT_OK or an
 * hr_err_t (HR_ERR_USAGE) with the message recorded. */
int hr_options_parse(int argc, char **argv, hr_options_t *opts, int print,
                     FILE *out);

/* Called once per option of opts->command with its name, its value as
 * text, and whether it defines the result (such options must match for
 * --resume), for provenance. */
typedef int (*hr_option_visitor_t)(const char *name, const char *value,
                                   int identity, void *ctx);
int hr_options_visit(const hr_options_t *opts, hr_option_visitor_t visit,
                     void *ctx);

/* The provenance record (provenance.h) of the command line: command,
 * command line, every option's value and the identity --resume checks.
 * Free with hr_provenance_free. */
int hr_options_provenance(const hr_options_t *opts, hr_provenance_t *p);

/* The data and model set-up of hessian and train (hessian.h): the data
 * spec, --targets, --model, --weights, --bias, --activation, --loss,
 * --classes, --init-seed, --scale-pixels, --standardize, --dry-run. */
struct hr_hessian_setup;
void hr_options_hessian_setup(const hr_options_t *opts, struct hr_hessian_setup *s);

/* The run layer's settings (spectra_run.h): -o, --groups, --grid,
 * --solver, --precision, --nblk, --eigenvectors, --max-mem, --quiet,
 * --resume. */
struct hr_run_settings;
void hr_options_run_settings(const hr_options_t *opts, struct hr_run_settings *s);

/* The ReLU simulation's settings (relu_sim.h): the size lists, --runs,
 * --iters, --seed, --sigma, --step, --rescale-h1, --precision. */
struct hr_relu_settings;
void hr_options_relu_settings(const hr_options_t *opts, struct hr_relu_settings *s);

/* The statistics job (stats.h) the options describe: --dataset (for the
 * stats command), --cut, --unfold, --poly-degree, --trim,
 * --paper-conventions, --json, --plots and the figure size. */
struct hr_stats_job;
void hr_options_stats_job(const hr_options_t *opts, struct hr_stats_job *job);

/* The files (and figure directories) opts->command will write, for the run
 * to claim before any work: up to max paths into paths; returns how many
 * (0 for --dry-run).  Checkpoints are covered by the -o they derive from. */
int hr_options_outputs(const hr_options_t *opts, const char **paths, int max);

/* The name of a choice value, e.g. hr_choice_name(HR_SOLVER_CHOICES, 1) is
 * "elpa1"; written into buf, which is returned. */
const char *hr_choice_name(const char *choices, int index, char *buf,
                           size_t len);


#endif
