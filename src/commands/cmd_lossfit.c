/* hessrmt lossfit: fit a loss-versus-time curve from a CSV file (the
 * history `train --history` writes) to a + b exp(-c t) (see lossfit.h),
 * serially on rank 0; print the parameters with their errors, and write
 * them as JSON and the data with the fit as a figure.  The file is read
 * here; the fit itself has no I/O.
 *
 * --best-of-runs fits the form the paper's data take instead: every
 * training run (a file, or the rows of one --run-column value) gives one
 * point, its minimum and the x where that is first reached, and the curve
 * is fitted across runs. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/options.h"
#include "hessrmt/context.h"
#include "hessrmt/error.h"
#include "hessrmt/lossfit.h"
#include "hessrmt/output.h"
#include "hessrmt/plot.h"
#include "hessrmt/stats.h"
#include "hessrmt/version.h"

enum { MAX_COLUMNS = 256, BAND_POINTS = 300 };

/* ---- the CSV ------------------------------------------------------------ */

/* One run's best row under --best-of-runs. */
typedef struct {
  const char *file;   /* the CSV it is in */
  char *run;          /* its --run-column value; NULL without one */
  int line;           /* of the minimum; 0 while the run has no value */
  double t, y;        /* y NaN while the run has no value */
} best_point_t;

typedef struct {
  best_point_t *p;
  int n, cap;
  int file_start;     /* the runs of the file being read start here */
} best_t;

/* The chosen columns of a CSV file, rows with no y value left out; or,
 * with best set, every row offered to its run's minimum instead. */
typedef struct {
  const char *path, *x_name, *y_name, *run_name;  /* run_name NULL: none */
  double *t, *y;
  int n, cap;
  int skipped, first_skipped;  /* rows without a y value; the first's line */
  int x_index, y_index, run_index, n_columns;
  char accuracy_name[128];     /* y is 1 - this column (NAME_error asked for,
                                  only NAME_accuracy there); "" if not */
  best_t *best;
} curve_t;

static void curve_free(curve_t *c) {
  free(c->t);
  free(c->y);
  c->t = c->y = NULL;
}

static void best_free(best_t *b) {
  for (int i = 0; i < b->n; i++) free(b->p[i].run);
  free(b->p);
  b->p = NULL;
  b->n = b->cap = 0;
}

/* Spaces, a \r of Windows line ends and quotes around a name go. */
static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  char *end = s + strlen(s);
  while (end > s && strchr(" \t\r\n", end[-1])) *--end = '\0';
  if (end - s >= 2 && *s == '"' && end[-1] == '"') {
    s++;
    end[-1] = '\0';
  }
  return s;
}

/* Split line at commas, in place, into at most max trimmed fields. */
static int split(char *line, char **fields, int max) {
  int count = 0;
  for (char *p = line; count < max;) {
    char *comma = strchr(p, ',');
    if (comma) *comma = '\0';
    fields[count++] = trim(p);
    if (!comma) break;
    p = comma + 1;
  }
  return count;
}

/* Blank lines and # comments are skipped. */
static int blank(const char *line) {
  while (*line == ' ' || *line == '\t' || *line == '\r' || *line == '\n') line++;
  return *line == '\0' || *line == '#';
}

/* The header's names as "a, b, c" for messages. */
static void list_columns(char **names, int count, char *buf, size_t len) {
  buf[0] = '\0';
  for (int i = 0; i < count; i++) {
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s'%s'", i ? ", " : "", names[i]);
  }
}

static int has_column(char **names, int count, const char *want, int *index) {
  for (int i = 0; i < count; i++)
    if (strcmp(names[i], want) == 0) return *index = i, 1;
  return 0;
}

static int find_column(const curve_t *c, char **names, int count, const char *want,
                       const char *option, int *index) {
  if (has_column(names, count, want, index)) return HR_OK;
  char have[2048];
  list_columns(names, count, have, sizeof have);
  HR_FAIL(HR_ERR_INPUT, "%s: no column '%s' (%s); the columns are %s", c->path, want,
          option, have);
}

/* `train --history` records accuracies, while an error rate is what one
 * minimises: NAME_error, where the file lacks it, is 1 - NAME_accuracy. */
static int find_y_column(curve_t *c, char **names, int count) {
  if (has_column(names, count, c->y_name, &c->y_index)) return HR_OK;
  size_t len = strlen(c->y_name), tail = strlen("_error");
  if (len > tail && len - tail + sizeof "_accuracy" <= sizeof c->accuracy_name &&
      strcmp(c->y_name + len - tail, "_error") == 0) {
    snprintf(c->accuracy_name, sizeof c->accuracy_name, "%.*s_accuracy",
             (int)(len - tail), c->y_name);
    if (has_column(names, count, c->accuracy_name, &c->y_index)) return HR_OK;
    char have[2048];
    list_columns(names, count, have, sizeof have);
    HR_FAIL(HR_ERR_INPUT, "%s: no column '%s' (--y-column), nor '%s' to read it as "
            "1 - that; the columns are %s", c->path, c->y_name, c->accuracy_name, have);
  }
  return find_column(c, names, count, c->y_name, "--y-column", &c->y_index);
}

static int read_header(FILE *f, curve_t *c, char **line, size_t *cap, int *lineno) {
  do {
    if (getline(line, cap, f) < 0)
      HR_FAIL(HR_ERR_INPUT, "%s: empty file, no header line", c->path);
    ++*lineno;
  } while (blank(*line));
  char *text = *line, *names[MAX_COLUMNS + 1];
  if (strncmp(text, "\xef\xbb\xbf", 3) == 0) text += 3;  /* a UTF-8 byte-order mark */
  c->n_columns = split(text, names, MAX_COLUMNS + 1);
  if (c->n_columns > MAX_COLUMNS)
    HR_FAIL(HR_ERR_INPUT, "%s: more than %d columns", c->path, MAX_COLUMNS);
  HR_CHECK(find_column(c, names, c->n_columns, c->x_name, "--x-column", &c->x_index));
  HR_CHECK(find_y_column(c, names, c->n_columns));
  c->run_index = -1;
  if (c->run_name)
    HR_CHECK(find_column(c, names, c->n_columns, c->run_name, "--run-column",
                         &c->run_index));
  return HR_OK;
}

/* A number, or NaN for an empty field or "nan" (no test set); 0 if the
 * text is not a number. */
static int parse_number(const char *text, double *v) {
  if (!*text) return *v = NAN, 1;
  char *end;
  *v = strtod(text, &end);
  return end != text && *end == '\0';
}

static int field_value(const curve_t *c, char **fields, int column, int lineno,
                       const char *name, double *v) {
  if (!parse_number(fields[column], v))
    HR_FAIL(HR_ERR_INPUT, "%s line %d: '%s' in column '%s' is not a number", c->path,
            lineno, fields[column], name);
  return HR_OK;
}

static int append(curve_t *c, double t, double y) {
  if (c->n == c->cap) {
    int cap = c->cap ? 2 * c->cap : 256;
    double *nt = realloc(c->t, (size_t)cap * sizeof *nt);
    if (nt) c->t = nt;
    double *ny = nt ? realloc(c->y, (size_t)cap * sizeof *ny) : NULL;
    if (!ny) HR_FAIL(HR_ERR_MEMORY, "out of memory for %d rows of %s", cap, c->path);
    c->y = ny, c->cap = cap;
  }
  c->t[c->n] = t, c->y[c->n] = y, c->n++;
  return HR_OK;
}

/* The run `run` (NULL: the file's only one) of the file being read, added
 * without a value when first seen, so that a run with none is noticed. */
static int find_run(best_t *b, const curve_t *c, const char *run, best_point_t **out) {
  for (int i = b->file_start; i < b->n; i++)
    if (!run || strcmp(b->p[i].run, run) == 0) return *out = &b->p[i], HR_OK;
  if (b->n == b->cap) {
    int cap = b->cap ? 2 * b->cap : 64;
    best_point_t *np = realloc(b->p, (size_t)cap * sizeof *np);
    if (!np) HR_FAIL(HR_ERR_MEMORY, "out of memory for %d runs", cap);
    b->p = np, b->cap = cap;
  }
  best_point_t *p = &b->p[b->n];
  *p = (best_point_t){c->path, run ? strdup(run) : NULL, 0, NAN, NAN};
  if (run && !p->run) HR_FAIL(HR_ERR_MEMORY, "out of memory for the runs of %s", c->path);
  b->n++;
  return *out = p, HR_OK;
}

/* Strictly smaller only: the first row of the minimum gives its x. */
static int offer_best(curve_t *c, char **fields, double t, double y, int lineno) {
  best_point_t *p = NULL;
  HR_CHECK(find_run(c->best, c, c->run_index >= 0 ? fields[c->run_index] : NULL, &p));
  if (!isnan(y) && (isnan(p->y) || y < p->y)) p->t = t, p->y = y, p->line = lineno;
  return HR_OK;
}

static int read_row(curve_t *c, char *line, int lineno) {
  char *fields[MAX_COLUMNS + 1];
  int count = split(line, fields, MAX_COLUMNS + 1);
  if (count != c->n_columns)
    HR_FAIL(HR_ERR_INPUT, "%s line %d: %d fields, the header has %d", c->path, lineno,
            count, c->n_columns);
  double t, y;
  const char *y_field = c->accuracy_name[0] ? c->accuracy_name : c->y_name;
  HR_CHECK(field_value(c, fields, c->x_index, lineno, c->x_name, &t));
  HR_CHECK(field_value(c, fields, c->y_index, lineno, y_field, &y));
  if (!isfinite(t))
    HR_FAIL(HR_ERR_INPUT, "%s line %d: %s is %g: the time axis must be finite", c->path,
            lineno, c->x_name, t);
  if (isnan(y) && !c->skipped++) c->first_skipped = lineno;  /* no test set */
  if (!isnan(y) && !isfinite(y))
    HR_FAIL(HR_ERR_INPUT, "%s line %d: %s is %g (did the training diverge?)", c->path,
            lineno, y_field, y);
  if (c->accuracy_name[0]) y = 1.0 - y;
  if (c->best) return offer_best(c, fields, t, y, lineno);
  return isnan(y) ? HR_OK : append(c, t, y);
}

static int read_rows(FILE *f, curve_t *c) {
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0, rc = read_header(f, c, &line, &cap, &lineno);
  while (rc == HR_OK && getline(&line, &cap, f) >= 0) {
    lineno++;
    if (!blank(line)) rc = read_row(c, line, lineno);
  }
  free(line);
  return rc;
}

static int read_file(curve_t *c) {
  FILE *f = fopen(c->path, "r");
  if (!f) HR_FAIL(HR_ERR_IO, "cannot open '%s': %s", c->path, strerror(errno));
  int rc = read_rows(f, c), bad = ferror(f);
  fclose(f);
  HR_CHECK(rc);
  if (bad) HR_FAIL(HR_ERR_IO, "%s: read error", c->path);
  return HR_OK;
}

static int read_curve(curve_t *c) {
  HR_CHECK(read_file(c));
  char empty[128] = "";
  if (c->skipped)  /* all empty: a history without a test set, most likely */
    snprintf(empty, sizeof empty, " (%d without a value%s)", c->skipped,
             c->n ? "" : ": choose another with --y-column");
  if (c->n < 4)
    HR_FAIL(HR_ERR_INPUT, "%s: %d usable rows in column '%s'%s; the fit of a + b "
            "exp(-c t) needs at least 4", c->path, c->n, c->y_name, empty);
  return HR_OK;
}

/* ---- --best-of-runs: one point per run ------------------------------------ */

/* Every run of the file just read has a value: a run that never had one
 * (no test set, a column of NaN) has no minimum, and leaving it out
 * silently would change the fit. */
static int check_runs(const best_t *b, const curve_t *c) {
  if (b->n == b->file_start) HR_FAIL(HR_ERR_INPUT, "%s: no data rows", c->path);
  for (int i = b->file_start; i < b->n; i++) {
    if (!isnan(b->p[i].y)) continue;
    if (b->p[i].run)
      HR_FAIL(HR_ERR_INPUT, "%s: run '%s' (--run-column %s) has no value in column "
              "'%s': no minimum to fit", c->path, b->p[i].run, c->run_name, c->y_name);
    HR_FAIL(HR_ERR_INPUT, "%s: no row has a value in column '%s' (%d without "
            "one): no minimum to fit; choose another with --y-column", c->path,
            c->y_name, c->skipped);
  }
  return HR_OK;
}

/* The minimum of every run of every file into b; rows without a value
 * are counted in skipped. */
static int read_runs(const hr_options_t *o, best_t *b, int *skipped,
                     char *accuracy_name, size_t len) {
  for (int i = 0; i < o->n_inputs; i++) {
    curve_t c = {.path = o->inputs[i], .x_name = o->x_column, .y_name = o->y_column,
                 .run_name = o->run_column[0] ? o->run_column : NULL, .best = b};
    b->file_start = b->n;
    int rc = read_file(&c);
    if (rc == HR_OK) rc = check_runs(b, &c);
    *skipped += c.skipped;
    if (c.accuracy_name[0]) snprintf(accuracy_name, len, "%s", c.accuracy_name);
    curve_free(&c);
    HR_CHECK(rc);
  }
  if (b->n < 4)
    HR_FAIL(HR_ERR_INPUT, "--best-of-runs: %d run%s in %d file%s, one point each; "
            "the fit of a + b exp(-c t) has 3 parameters and needs at least 4 "
            "points (runs) to leave a degree of freedom for the errors", b->n,
            b->n == 1 ? "" : "s", o->n_inputs, o->n_inputs == 1 ? "" : "s");
  return HR_OK;
}

/* The runs' minima as the curve to fit. */
static int best_curve(const best_t *b, curve_t *c) {
  c->t = malloc((size_t)b->n * sizeof *c->t);
  c->y = malloc((size_t)b->n * sizeof *c->y);
  if (!c->t || !c->y) HR_FAIL(HR_ERR_MEMORY, "out of memory for %d runs", b->n);
  for (int i = 0; i < b->n; i++) c->t[i] = b->p[i].t, c->y[i] = b->p[i].y;
  c->n = c->cap = b->n;
  return HR_OK;
}

/* A run's name: its file, and its --run-column value. */
static void run_label(const best_point_t *p, char *buf, size_t len) {
  snprintf(buf, len, "%s%s%s", p->file, p->run ? " run " : "", p->run ? p->run : "");
}

static void print_points(const curve_t *c, FILE *out) {
  fprintf(out, "  runs        %d; the points, each run's minimum of %s at its first "
          "occurrence:\n", c->best->n, c->y_name);
  fprintf(out, "    %12s  %14s  run (line)\n", c->x_name, c->y_name);
  for (int i = 0; i < c->best->n; i++) {
    const best_point_t *p = &c->best->p[i];
    char name[4200];
    run_label(p, name, sizeof name);
    fprintf(out, "    %12.10g  %14.10g  %s (%d)\n", p->t, p->y, name, p->line);
  }
}

/* ---- the summary ---------------------------------------------------------- */

static void time_range(const curve_t *c, double *t0, double *t1) {
  *t0 = INFINITY, *t1 = -INFINITY;
  for (int i = 0; i < c->n; i++) *t0 = fmin(*t0, c->t[i]), *t1 = fmax(*t1, c->t[i]);
}

/* "value +/- error" to two significant digits of the error. */
static void format_pm(double v, double e, const char *pm, char *buf, size_t len) {
  if (!(isfinite(e) && e > 0.0)) {
    snprintf(buf, len, "%.6g %s %g", v, pm, e);
    return;
  }
  int digits = 1 - (int)floor(log10(e));
  if (fabs(v) < 1e6 && digits <= 8)
    snprintf(buf, len, "%.*f %s %.*f", digits > 0 ? digits : 0, v, pm,
             digits > 0 ? digits : 0, e);
  else
    snprintf(buf, len, "%.10g %s %.2g", v, pm, e);
}

static void print_fit(const curve_t *c, const hr_lossfit_t *f, FILE *out) {
  char s[128];
  double t0, t1;
  time_range(c, &t0, &t1);
  fprintf(out, "hessrmt lossfit: %s\n", c->path);
  fprintf(out, "  model       %s%s = a + b exp(-c %s)\n", c->best ? "best " : "",
          c->y_name, c->x_name);
  if (c->accuracy_name[0])
    fprintf(out, "  y           %s = 1 - %s\n", c->y_name, c->accuracy_name);
  fprintf(out, "  points      %d, %s from %g to %g", f->n, c->x_name, t0, t1);
  if (c->skipped) fprintf(out, "; %d rows without a value skipped", c->skipped);
  format_pm(f->a, f->a_err, "+/-", s, sizeof s);
  if (f->c > 0.0)
    fprintf(out, "\n  a           %-26s the asymptote: %s as %s -> infinity\n", s,
            c->y_name, c->x_name);
  else
    fprintf(out, "\n  a           %-26s no asymptote: c <= 0\n", s);
  format_pm(f->b, f->b_err, "+/-", s, sizeof s);
  fprintf(out, "  b           %-26s the excess over a at %s = 0\n", s, c->x_name);
  format_pm(f->c, f->c_err, "+/-", s, sizeof s);
  fprintf(out, "  c           %-26s per unit of %s\n", s, c->x_name);
  if (f->c > 0.0) {
    format_pm(M_LN2 / f->c, M_LN2 * f->c_err / (f->c * f->c), "+/-", s, sizeof s);
    fprintf(out, "  half-life   %-26s ln 2 / c, in units of %s\n", s, c->x_name);
  }
  fprintf(out, "  residuals   std %.4g over %d degrees of freedom (chi^2 %.4g); "
          "R^2 %.6f\n", f->residual_std, f->dof, f->chi2, f->r2);
  fprintf(out, "  solver      GSL trust region, Levenberg-Marquardt: %s %d "
          "iteration%s\n", f->converged ? "converged in" : "NOT converged after",
          f->iterations, f->iterations == 1 ? "" : "s");
}

/* Doubts about the fit go to stderr; none of them is a failure. */
static void warn_fit(const curve_t *c, const hr_lossfit_t *f) {
  if (c->skipped && c->best)  /* lines of several files: the count only */
    fprintf(stderr, "hessrmt: note: %d rows have no value in '%s' and were "
            "skipped\n", c->skipped, c->y_name);
  else if (c->skipped)
    fprintf(stderr, "hessrmt: note: %d rows have no value in '%s' (the first at line "
            "%d) and were skipped\n", c->skipped, c->y_name, c->first_skipped);
  if (!f->converged)
    fprintf(stderr, "hessrmt: warning: the fit did not converge in %d iterations: "
            "the parameters are its last iterate, not an optimum\n", f->iterations);
  if (!f->identifiable)
    fprintf(stderr, "hessrmt: warning: the data do not determine all three "
            "parameters (the Jacobian is rank deficient): errors are NaN\n");
  if (f->c <= 0.0)
    fprintf(stderr, "hessrmt: warning: c = %g <= 0: the curve does not decay, and a "
            "is not an asymptote\n", f->c);
  else if (f->identifiable && f->c < 2.0 * f->c_err)
    fprintf(stderr, "hessrmt: warning: the decay rate is not significant: c = %g +/- "
            "%g\n", f->c, f->c_err);
}

/* ---- JSON (NaN as null: hr_json_number) ------------------------------ */

/* --best-of-runs: the files, and the points with where each was found. */
static void add_runs_json(json_t *j, const best_t *b) {
  json_t *files = json_array(), *points = json_array();
  for (int i = 0; i < b->n; i++) {
    const best_point_t *p = &b->p[i];
    if (i == 0 || strcmp(p->file, b->p[i - 1].file) != 0)
      json_array_append_new(files, json_string(p->file));
    json_array_append_new(points, json_pack("{s:s, s:o, s:i, s:o, s:o}", "file",
                                            p->file, "run", p->run ? json_string(p->run)
                                            : json_null(), "line", p->line, "x",
                                            hr_json_number(p->t), "y",
                                            hr_json_number(p->y)));
  }
  json_object_set_new(j, "best_of_runs", json_true());
  json_object_set_new(j, "n_runs", json_integer(b->n));
  json_object_set_new(j, "files", files);
  json_object_set_new(j, "points", points);
}

static json_t *fit_json(const curve_t *c, const hr_lossfit_t *f) {
  double half = f->c > 0 ? M_LN2 / f->c : NAN;
  json_t *cov = json_array();
  for (int i = 0; i < 3; i++)
    json_array_append_new(cov, json_pack("[o, o, o]", hr_json_number(f->cov[i][0]),
                                         hr_json_number(f->cov[i][1]),
                                         hr_json_number(f->cov[i][2])));
  json_t *j = json_pack("{s:s, s:s, s:s, s:s}",
                        "program", "hessrmt " HR_VERSION_STRING,
                        "x_column", c->x_name, "y_column", c->y_name,
                        "model", "a + b*exp(-c*t)");
  if (c->best) add_runs_json(j, c->best);
  else json_object_set_new(j, "file", json_string(c->path));
  if (c->accuracy_name[0])  /* y is 1 - that column */
    json_object_set_new(j, "y_from_accuracy", json_string(c->accuracy_name));
  const char *keys[] = {"a", "a_err", "b", "b_err", "c", "c_err", "half_life",
                        "half_life_err", "chi2", "residual_std", "r2"};
  double values[] = {f->a, f->a_err, f->b, f->b_err, f->c, f->c_err, half,
                     half * f->c_err / f->c, f->chi2, f->residual_std, f->r2};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    json_object_set_new(j, keys[i], hr_json_number(values[i]));
  json_object_set_new(j, "cov", cov);
  json_object_set_new(j, "dof", json_integer(f->dof));
  json_object_set_new(j, "n_points", json_integer(f->n));
  json_object_set_new(j, "n_skipped", json_integer(c->skipped));
  json_object_set_new(j, "converged", json_boolean(f->converged));
  json_object_set_new(j, "identifiable", json_boolean(f->identifiable));
  json_object_set_new(j, "iterations", json_integer(f->iterations));
  return j;
}

/* Written to PATH.partial and renamed when whole. */
static int write_json(const curve_t *c, const hr_lossfit_t *f, const char *path) {
  json_t *j = fit_json(c, f);
  int rc = hr_output_write_json(j, path);
  json_decref(j);
  return rc;
}

/* ---- the figure ------------------------------------------------------------ */

#define PM "\xc2\xb1"
#define SIGMA "\xcf\x83"
#define LE "\xe2\x89\xa4"
#define MINUS "\xe2\x88\x92"
#define DOT "\xc2\xb7"      /* a product */
#define SEP " \xc2\xb7 "    /* between items */

static double fitted(double t, void *fit) { return hr_lossfit_eval(fit, t); }

/* Room for the legend (about half the frame's height) where the curve is
 * not: above a falling curve, below a rising one (b < 0: an accuracy). */
static void legend_room(const curve_t *c, const hr_lossfit_t *f, hr_plot_config_t *pc) {
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < c->n; i++) lo = fmin(lo, c->y[i]), hi = fmax(hi, c->y[i]);
  if (f->b >= 0.0) {
    pc->headroom = 0.45;
    return;
  }
  pc->ymin = lo - 0.5 * (hi - lo);
  pc->headroom = 0.08;
}

/* The figure's texts: names from the file are escaped for PLplot. */
typedef struct {
  hr_plot_config_t pc;
  char title[512], subtitle[1024], x[128], y[128], xlabel[192];
} figure_text_t;

static void figure_config(const curve_t *c, const hr_lossfit_t *f, const hr_options_t *o,
                          figure_text_t *ft) {
  char file[512];
  double t0, t1;
  time_range(c, &t0, &t1);
  hr_plot_escape(c->x_name, ft->x, sizeof ft->x);
  snprintf(ft->xlabel, sizeof ft->xlabel, "%s%s", ft->x,
           c->best ? " of the run's minimum" : "");
  hr_plot_escape(c->y_name, ft->y, sizeof ft->y);
  const char *base = strrchr(c->path, '/');  /* a long path would not fit */
  hr_plot_escape(base ? base + 1 : c->path, file, sizeof file);
  hr_plot_config_default(&ft->pc);
  ft->pc.width = (int)o->plot_width;
  ft->pc.height = (int)o->plot_height;
  snprintf(ft->title, sizeof ft->title, "%s = %.4g %s %.4g" DOT "exp(%s%.4g" DOT "%s)",
           ft->y, f->a, f->b < 0 ? MINUS : "+", fabs(f->b), f->c < 0 ? "" : MINUS,
           fabs(f->c), ft->x);
  snprintf(ft->subtitle, sizeof ft->subtitle, "%s" SEP "%d points" SEP "least-squares fit"
           SEP "residual std %.3g" SEP "R#u2#d = %.5f", file,
           f->n, f->residual_std, f->r2);
  ft->pc.title = ft->title;
  ft->pc.subtitle = ft->subtitle;
  ft->pc.xlabel = ft->xlabel;
  ft->pc.ylabel = ft->y;
  legend_room(c, f, &ft->pc);
  ft->pc.xmin = t0 - 0.02 * (t1 - t0);  /* the first and last points clear of the frame */
  ft->pc.xmax = t1 + 0.02 * (t1 - t0);
}

/* The curve's +-2 sigma band, sigma from the parameter covariance. */
static int add_band(hr_plot_t *p, const curve_t *c, const hr_lossfit_t *f, double t0,
                    double t1) {
  double *x = malloc(3 * BAND_POINTS * sizeof *x), *lo = x + BAND_POINTS,
         *hi = lo + BAND_POINTS;
  if (!x) HR_FAIL(HR_ERR_MEMORY, "out of memory for the band of %s", c->path);
  for (int i = 0; i < BAND_POINTS; i++) {
    x[i] = t0 + (t1 - t0) * i / (BAND_POINTS - 1.0);
    double m = hr_lossfit_eval(f, x[i]), e = hr_lossfit_eval_err(f, x[i]);
    lo[i] = m - 2.0 * e, hi[i] = m + 2.0 * e;
  }
  int rc = hr_plot_band(p, x, lo, hi, BAND_POINTS, HR_RGB_ORANGE,
                        "fit " PM " 2" SIGMA " (parameter covariance, delta method)");
  free(x);
  return rc;
}

static int parameter_notes(hr_plot_t *p, const hr_lossfit_t *f) {
  char line[160], s[96];
  format_pm(f->b, f->b_err, PM, s, sizeof s);
  snprintf(line, sizeof line, "b = %s", s);
  HR_CHECK(hr_plot_legend_text(p, line));
  format_pm(f->c, f->c_err, PM, s, sizeof s);
  snprintf(line, sizeof line, "c = %s", s);
  if (f->c > 0) {
    size_t used = strlen(line);
    format_pm(M_LN2 / f->c, M_LN2 * f->c_err / (f->c * f->c), PM, s, sizeof s);
    snprintf(line + used, sizeof line - used, ";  half-life ln 2 / c = %s", s);
  }
  HR_CHECK(hr_plot_legend_text(p, line));
  if (!f->converged) HR_CHECK(hr_plot_note(p, 0.5, 0.5, 0.5, "the fit did NOT converge"));
  return HR_OK;
}

static int figure_layers(hr_plot_t *p, const curve_t *c, const hr_lossfit_t *f) {
  hr_style_t data = {HR_RGB_BLACK, HR_LINE_NONE, 0, HR_MARK_CIRCLE, 0.8};
  hr_style_t curve = {HR_RGB_VERMILLION, HR_LINE_SOLID, 2.5, HR_MARK_NONE, 0};
  hr_style_t asymptote = {HR_RGB_BLUE, HR_LINE_DASHED, 2.0, HR_MARK_NONE, 0};
  double t0, t1;
  time_range(c, &t0, &t1);
  char label[160], s[96];
  if (c->best) snprintf(label, sizeof label, "each run's minimum: %d runs", c->n);
  else snprintf(label, sizeof label, "data: %d points", c->n);
  HR_CHECK(hr_plot_series(p, c->t, c->y, c->n, &data, label));
  HR_CHECK(hr_plot_function(p, fitted, (void *)f, t0, t1, BAND_POINTS, &curve,
                            "fit: a + b" DOT "exp(" MINUS "c" DOT "t)"));
  if (f->identifiable) HR_CHECK(add_band(p, c, f, t0, t1));
  format_pm(f->a, f->a_err, PM, s, sizeof s);
  snprintf(label, sizeof label, "%s a = %s",
           f->c > 0 ? "asymptote" : "no decay (c " LE " 0): offset", s);
  HR_CHECK(hr_plot_series(p, (double[]){t0, t1}, (double[]){f->a, f->a}, 2, &asymptote,
                          label));
  return parameter_notes(p, f);
}

static int write_figure(const curve_t *c, const hr_lossfit_t *f, const hr_options_t *o,
                        char *base, size_t len) {
  figure_text_t ft;
  figure_config(c, f, o, &ft);
  if ((size_t)snprintf(base, len, "%s/lossfit", o->plots) >= len)
    HR_FAIL(HR_ERR_USAGE, "figure directory '%s' is too long", o->plots);
  hr_plot_t *p;
  HR_CHECK(hr_plot_create(&ft.pc, &p));
  int rc = figure_layers(p, c, f);
  if (rc == HR_OK) rc = hr_plot_save(p, base);
  hr_plot_free(p);
  return rc;
}

/* ---- the command ------------------------------------------------------------ */

/* The fit; its complaints about the data name the file and column. */
static int fit_curve(const curve_t *c, hr_lossfit_t *f) {
  int rc = hr_lossfit(c->t, c->y, c->n, f);
  if (rc == HR_OK) return HR_OK;
  char why[512];
  snprintf(why, sizeof why, "%s", hr_error_message());
  HR_FAIL(rc, "%s, column '%s': %s", c->path, c->y_name, why);
}

/* The fit of c, read already, and its outputs. */
static int fit_and_report(const hr_options_t *o, curve_t *c, FILE *out) {
  hr_lossfit_t f;
  HR_CHECK(fit_curve(c, &f));
  print_fit(c, &f, out);
  if (c->best) print_points(c, out);
  warn_fit(c, &f);
  if (o->json[0]) {
    HR_CHECK(write_json(c, &f, o->json));
    fprintf(out, "  json        %s\n", o->json);
  }
  if (o->plots[0]) {
    char base[4096];
    HR_CHECK(write_figure(c, &f, o, base, sizeof base));
    fprintf(out, "  figure      %s.{png,svg}\n", base);
  }
  return HR_OK;
}

static int fit_best_of_runs(const hr_options_t *o, FILE *out) {
  best_t b = {0};
  char label[128];
  curve_t c = {.x_name = o->x_column, .y_name = o->y_column, .best = &b};
  int rc = read_runs(o, &b, &c.skipped, c.accuracy_name, sizeof c.accuracy_name);
  if (rc == HR_OK) rc = best_curve(&b, &c);
  snprintf(label, sizeof label, "best of %d runs in %d file%s", b.n, o->n_inputs,
           o->n_inputs == 1 ? "" : "s");
  c.path = label;
  if (rc == HR_OK) rc = fit_and_report(o, &c, out);
  curve_free(&c);
  best_free(&b);
  return rc;
}

static int check_usage(const hr_options_t *o) {
  if (o->plots[0] && !hr_plot_available()) HR_FAIL(HR_ERR_USAGE, HR_PLOT_MISSING);
  if (o->n_inputs > 1 && !o->best_of_runs)
    HR_FAIL(HR_ERR_USAGE, "%d CSV files given: lossfit fits one curve from one "
            "file; for one point per training run from several, add --best-of-runs "
            "(see 'hessrmt lossfit --help')", o->n_inputs);
  if (o->run_column[0] && !o->best_of_runs)
    HR_FAIL(HR_ERR_USAGE, "--run-column groups rows into runs for --best-of-runs: "
            "add that, or leave --run-column out (see 'hessrmt lossfit --help')");
  return HR_OK;
}

static int run(const hr_options_t *o, FILE *out) {
  HR_CHECK(check_usage(o));
  if (o->best_of_runs) return fit_best_of_runs(o, out);
  curve_t c = {.path = o->inputs[0], .x_name = o->x_column, .y_name = o->y_column};
  int rc = read_curve(&c);
  if (rc == HR_OK) rc = fit_and_report(o, &c, out);
  curve_free(&c);
  return rc;
}

int hr_cmd_lossfit(hr_ctx_t *ctx) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(hr_stats_check_outputs(ctx->world, o->json, o->plots));
  int rc = HR_OK;
  if (ctx->rank == 0) {
    rc = run(o, stdout);
    fflush(stdout);
  }
  return hr_agree(ctx->world, rc);
}
