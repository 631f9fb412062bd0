/* hessrmt train: data-parallel mini-batch SGD with momentum and weight
 * decay, as the paper trained its models (PyTorch's SGD: g = grad + wd w,
 * v = mu v + g, w -= lr v).
 *
 * Every rank holds a contiguous slice of the training rows.  Each epoch's
 * order is a permutation drawn from (--shuffle-seed, epoch) alone; each
 * mini-batch is a run of that order, every rank adds the gradient of the
 * batch rows it holds, and MPI_Allreduce sums them.  The weights therefore
 * depend on the rank count only through the order of floating-point sums.
 * After each epoch the loss and accuracy of the whole training set (and of
 * --test-data) are measured with the epoch's final weights.  The learning
 * rate of an epoch comes from --lr-schedule (hr_train_lr, train.h). */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "hessrmt/options.h"
#include "hessrmt/context.h"
#include "hessrmt/error.h"
#include "hessrmt/h5util.h"
#include "hessrmt/hessian.h"
#include "hessrmt/output.h"
#include "hessrmt/provenance.h"
#include "hessrmt/random.h"
#include "hessrmt/signals.h"
#include "hessrmt/train.h"
#include "hessrmt/version.h"
#include "hessrmt/weights.h"

/* Per-epoch record: epoch, train loss, train accuracy, test loss, test
 * accuracy (NaN without a test set, or accuracy for real targets), and the
 * learning rate the epoch used.  New columns go last: lossfit and other
 * readers find the older ones by name and position. */
enum { HIST_EPOCH, HIST_TRAIN_LOSS, HIST_TRAIN_ACC, HIST_TEST_LOSS,
       HIST_TEST_ACC, HIST_LR, HIST_COLS };
static const char *const hist_names[HIST_COLS] = {
    "epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr"};

enum { EVAL_CHUNK = 256 };

typedef struct {
  hr_hessian_t train, test;  /* rows, model and theta (test shares them) */
  int have_test;
  int64_t batch;             /* mini-batch size */
  double *velocity, *grad;   /* N each */
  int64_t *order;            /* the epoch's permutation of the rows */
  double *xbuf, *tbuf;       /* the batch rows this rank holds */
  int32_t *lbuf;
  double *outputs;           /* EVAL_CHUNK x C */
  hr_model_work_t *work;
  int64_t epochs_done;       /* > 0 after --resume */
  double *history;           /* epochs x HIST_COLS */
} trainer_t;

/* ---- the learning-rate schedule ---------------------------------------- */

/* Garipov et al.'s SWA schedule as the paper's training code has it (its
 * final ratio 0.01 fixed, as there). */
static double paper_factor(double alpha) {
  if (alpha <= 0.5) return 1.0;
  if (alpha <= 0.9) return 1.0 - (alpha - 0.5) / 0.4 * (1.0 - 0.01);
  return 0.01;
}

double hr_train_lr(int schedule, double lr, int64_t epoch, int64_t epochs) {
  if (schedule != HR_LR_PAPER || epochs < 1) return lr;
  return paper_factor((double)epoch / (double)epochs) * lr;
}

/* ---- set-up ------------------------------------------------------------ */

static int check_options(const hr_ctx_t *ctx) {
  const hr_options_t *o = ctx->opts;
  int rc = HR_OK;
  if (o->test_targets[0] && !(o->targets[0] && o->test_data[0]))
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--test-targets goes with --targets and --test-data");
  else if (o->targets[0] && o->test_data[0] && !o->test_targets[0])
    rc = hr_error_set(HR_ERR_USAGE, __FILE__, __LINE__, __func__,
                      "--test-data of a regression (--targets) needs "
                      "--test-targets: the held-out targets");
  return hr_agree(ctx->world, rc);
}

/* The held-out set: the training set's spec with other files, its model,
 * weights and preprocessing (fitted on the training rows). */
static int prepare_test(hr_ctx_t *ctx, trainer_t *t) {
  const hr_options_t *o = ctx->opts;
  t->test = t->train;
  t->test.loaded = 0;
  t->test.targets = NULL;
  memset(&t->test.data, 0, sizeof t->test.data);
  t->test.spec.data = o->test_data;
  t->test.spec.labels = o->test_labels[0] ? o->test_labels : NULL;
  t->test.targets_path = o->test_targets;
  t->test.spec.limit = 0;
  int64_t dim = 0;
  HR_CHECK(hr_dataset_shape(ctx->world, &t->test.spec, &t->test.rows, &dim));
  int rc = HR_OK;
  if (dim != t->train.dim)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "--test-data '%s' has %lld features but the training "
                      "data have %lld", o->test_data, (long long)dim,
                      (long long)t->train.dim);
  HR_CHECK(hr_agree(ctx->world, rc));
  HR_CHECK(hr_hessian_load(ctx, ctx->world, &t->test, 0, t->test.rows));
  t->have_test = 1;
  return hr_hessian_check_labels(&t->test, ctx->world);
}

static int allocate(hr_ctx_t *ctx, trainer_t *t) {
  const hr_options_t *o = ctx->opts;
  int64_t N = t->train.model.nparams, C = t->train.classes, d = t->train.dim;
  /* A rank gathers at most the batch rows it holds. */
  int64_t b = t->batch < t->train.data.count ? t->batch : t->train.data.count;
  if (b < 1) b = 1;
  int64_t chunk = b > EVAL_CHUNK ? b : EVAL_CHUNK;
  t->velocity = calloc((size_t)N, sizeof *t->velocity);
  t->grad = malloc((size_t)N * sizeof *t->grad);
  t->order = malloc((size_t)t->train.rows * sizeof *t->order);
  t->xbuf = malloc((size_t)(b * d) * sizeof *t->xbuf);
  t->tbuf = malloc((size_t)(b * C) * sizeof *t->tbuf);
  t->lbuf = malloc((size_t)b * sizeof *t->lbuf);
  t->outputs = malloc((size_t)(EVAL_CHUNK * C) * sizeof *t->outputs);
  t->history = calloc((size_t)(o->epochs * HIST_COLS), sizeof *t->history);
  int ok = t->velocity && t->grad && t->order && t->xbuf && t->tbuf &&
           t->lbuf && t->outputs && t->history;
  int rc = ok ? hr_model_work_create(&t->train.model, chunk, 1, &t->work)
              : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                             "out of memory for training buffers (N = %lld)",
                             (long long)N);
  return hr_agree(ctx->world, rc);
}

static int setup(hr_ctx_t *ctx, trainer_t *t) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(check_options(ctx));
  t->train.part = HR_PART_FULL;
  hr_options_hessian_setup(o, &t->train.setup);
  HR_CHECK(hr_hessian_prepare(ctx, &t->train));
  HR_CHECK(hr_hessian_load(ctx, ctx->world, &t->train, 0, t->train.rows));
  HR_CHECK(hr_hessian_check_labels(&t->train, ctx->world));
  if (o->test_data[0]) HR_CHECK(prepare_test(ctx, t));
  t->batch = o->train_batch < t->train.rows ? o->train_batch : t->train.rows;
  return allocate(ctx, t);
}

static void trainer_free(trainer_t *t) {
  if (t->train.loaded) hr_dataset_free(&t->train.data);
  if (t->test.loaded) hr_dataset_free(&t->test.data);
  free(t->train.targets);
  free(t->train.theta);
  hr_preprocess_free(&t->train.prep);
  free(t->velocity);
  free(t->grad);
  free(t->order);
  free(t->xbuf);
  free(t->tbuf);
  free(t->lbuf);
  free(t->outputs);
  free(t->history);
  if (t->work) hr_model_work_free(t->work);
}

/* ---- one epoch ------------------------------------------------------------ */

/* Fisher-Yates from (seed, epoch) only: the same order on every rank and
 * for any rank count. */
static void shuffle(uint64_t seed, int64_t epoch, int64_t n, int64_t *order) {
  for (int64_t i = 0; i < n; i++) order[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    double u = hr_random_uniform(seed, (uint64_t)epoch, i, 0, HR_STREAM_SHUFFLE);
    int64_t j = (int64_t)(u * (double)(i + 1));
    int64_t tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
}

/* The rows of batch[0..count) this rank holds, copied together. */
static hr_samples_t gather(trainer_t *t, const int64_t *batch, int64_t count) {
  const hr_hessian_t *h = &t->train;
  int64_t first = h->data.first, last = first + h->data.count, got = 0;
  int64_t d = h->dim, C = h->classes;
  for (int64_t i = 0; i < count; i++) {
    int64_t r = batch[i];
    if (r < first || r >= last) continue;
    memcpy(t->xbuf + got * d, h->data.x + (r - first) * d, (size_t)d * sizeof(double));
    t->lbuf[got] = h->data.labels[r - first];
    if (h->targets)
      memcpy(t->tbuf + got * C, h->targets + (r - first) * C, (size_t)C * sizeof(double));
    got++;
  }
  hr_samples_t s = {got, t->xbuf, t->lbuf, h->targets ? t->tbuf : NULL};
  return s;
}

/* One SGD step of rate lr on the mean loss of the batch. */
static int sgd_step(hr_ctx_t *ctx, trainer_t *t, const int64_t *batch,
                    int64_t count, double lr) {
  const hr_options_t *o = ctx->opts;
  int64_t N = t->train.model.nparams;
  double *w = t->train.theta, loss = 0.0;
  memset(t->grad, 0, (size_t)N * sizeof *t->grad);
  hr_samples_t s = gather(t, batch, count);
  if (s.count > 0) hr_model_loss_grad(&t->train.model, w, &s, t->work, &loss, t->grad);
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, t->grad, (int)N, MPI_DOUBLE, MPI_SUM, ctx->world));
  double scale = 1.0 / (double)count;
  for (int64_t i = 0; i < N; i++) {
    double g = t->grad[i] * scale + o->weight_decay * w[i];
    t->velocity[i] = o->momentum * t->velocity[i] + g;
    w[i] -= lr * t->velocity[i];
  }
  return HR_OK;
}

static int64_t argmax(const double *v, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

/* Mean loss and accuracy of all rows of h (summed over ranks). */
static int evaluate(hr_ctx_t *ctx, trainer_t *t, const hr_hessian_t *h,
                    double *loss, double *accuracy) {
  double sums[2] = {0.0, 0.0};  /* loss, correct */
  int64_t C = h->classes;
  for (int64_t i = 0; i < h->data.count; i += EVAL_CHUNK) {
    int64_t c = h->data.count - i < EVAL_CHUNK ? h->data.count - i : EVAL_CHUNK;
    hr_samples_t s = hr_hessian_samples(h, i, c);
    double part = 0.0;
    hr_model_loss_grad(&h->model, h->theta, &s, t->work, &part, NULL);
    sums[0] += part;
    hr_model_outputs(&h->model, h->theta, &s, t->work, t->outputs);
    for (int64_t k = 0; k < c; k++)
      sums[1] += argmax(t->outputs + k * C, C) == s.labels[k];
  }
  HR_MPI(MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, ctx->world));
  *loss = sums[0] / (double)h->rows;
  *accuracy = h->targets ? NAN : sums[1] / (double)h->rows;
  return HR_OK;
}

/* Epoch `epoch` (1-based) of --epochs: its rate is the schedule's after
 * epoch - 1 epochs of --epochs in all, whether or not this run resumed. */
static int run_epoch(hr_ctx_t *ctx, trainer_t *t, int64_t epoch) {
  const hr_options_t *o = ctx->opts;
  int64_t n = t->train.rows;
  double lr = hr_train_lr(o->lr_schedule, o->lr, epoch - 1, o->epochs);
  shuffle((uint64_t)o->shuffle_seed, epoch, n, t->order);
  for (int64_t b = 0; b < n; b += t->batch) {
    int64_t count = n - b < t->batch ? n - b : t->batch;
    HR_CHECK(sgd_step(ctx, t, t->order + b, count, lr));
  }
  double *row = t->history + (epoch - 1) * HIST_COLS;
  row[HIST_EPOCH] = (double)epoch;
  row[HIST_LR] = lr;
  HR_CHECK(evaluate(ctx, t, &t->train, &row[HIST_TRAIN_LOSS], &row[HIST_TRAIN_ACC]));
  row[HIST_TEST_LOSS] = row[HIST_TEST_ACC] = NAN;
  if (t->have_test)
    HR_CHECK(evaluate(ctx, t, &t->test, &row[HIST_TEST_LOSS], &row[HIST_TEST_ACC]));
  /* The loss is summed over all ranks, so every rank sees the same value
   * and stops together. */
  int rc = HR_OK;
  if (!isfinite(row[HIST_TRAIN_LOSS]))
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "training diverged: the training loss after epoch %lld "
                      "is %g; lower --lr (now %g)", (long long)epoch,
                      row[HIST_TRAIN_LOSS], o->lr);
  return hr_agree(ctx->world, rc);
}

/* ---- files ----------------------------------------------------------------- */

typedef struct {
  const hr_ctx_t *ctx;
  const trainer_t *t;
  int64_t epochs;       /* rows of history to write */
} file_extra_t;

/* Column c of the history (or a whole vector with stride 1) as a dataset. */
static herr_t write_vector(hid_t loc, const char *name, const double *v,
                           int64_t n, int64_t stride) {
  double *copy = malloc((size_t)(n ? n : 1) * sizeof *copy);
  if (!copy) return -1;
  for (int64_t i = 0; i < n; i++) copy[i] = v[i * stride];
  hsize_t dims[1] = {(hsize_t)n};
  herr_t st = hr_h5_write_doubles(loc, name, 1, dims, copy);
  free(copy);
  return st;
}

static int option_attr(const char *name, const char *value, int identity,
                       void *group) {
  (void)identity;
  return hr_h5_write_string_attr(*(hid_t *)group, name, value);
}

/* Provenance, the per-epoch history and the momentum, so that any
 * weights file (checkpoint or final) can be resumed. */
static int write_training_state(hid_t file, void *vctx) {
  const file_extra_t *e = vctx;
  const hr_options_t *o = e->ctx->opts;
  char model[1024];
  hr_model_describe(&e->t->train.model, model, sizeof model);
  double epoch = (double)e->epochs;
  int rc = hr_h5_write_string_attr(file, "program", "hessrmt");
  if (rc == HR_OK) rc = hr_h5_write_string_attr(file, "version", HR_VERSION_STRING);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(file, "command_line", o->command_line);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(file, "model", model);
  if (rc == HR_OK) rc = hr_h5_write_string_attr(file, "data", o->data);
  if (rc == HR_OK) rc = hr_h5_write_attr(file, "epoch", H5T_NATIVE_DOUBLE, &epoch);
  if (rc == HR_OK)
    rc = hr_h5_write_string_attr(file, "identity", e->ctx->provenance->identity);
  HR_CHECK(rc);
  herr_t st = 0;
  hid_t g = H5Gcreate2(file, "history", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  for (int c = 0; c < HIST_COLS && st >= 0; c++)
    st = g >= 0 ? write_vector(g, hist_names[c], e->t->history + c, e->epochs, HIST_COLS) : -1;
  if (g >= 0) H5Gclose(g);
  if (st >= 0)
    st = write_vector(file, "velocity", e->t->velocity, e->t->train.model.nparams, 1);
  hid_t opt = st >= 0 ? H5Gcreate2(file, "options", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
  rc = opt >= 0 ? hr_options_visit(o, option_attr, &opt) : HR_ERR_IO;
  if (opt >= 0) H5Gclose(opt);
  if (st < 0 || rc != HR_OK)
    HR_FAIL(HR_ERR_IO, "cannot write the training history into the weights file");
  return HR_OK;
}

static int write_weights(const hr_ctx_t *ctx, const trainer_t *t,
                         const char *path, int64_t epochs) {
  int rc = HR_OK;
  if (ctx->rank == 0) {
    file_extra_t e = {ctx, t, epochs};
    rc = hr_weights_write_extra(path, &t->train.model, t->train.theta,
                                write_training_state, &e);
  }
  return hr_agree(ctx->world, rc);
}

/* -o weights.h5 -> weights-epoch3.h5 */
static void checkpoint_path(const char *output, int64_t epoch, char *buf, size_t len) {
  const char *dot = strrchr(output, '.'), *slash = strrchr(output, '/');
  int stem = dot && (!slash || dot > slash) ? (int)(dot - output) : (int)strlen(output);
  snprintf(buf, len, "%.*s-epoch%lld.h5", stem, output, (long long)epoch);
}

static int write_history_csv(const hr_ctx_t *ctx, const trainer_t *t,
                             const char *path, int64_t epochs) {
  if (ctx->rank != 0) return HR_OK;
  char partial[4200];
  snprintf(partial, sizeof partial, "%s.partial", path);
  FILE *f = fopen(partial, "w");
  if (!f) HR_FAIL(HR_ERR_IO, "cannot write --history '%s': %s", path, strerror(errno));
  for (int c = 0; c < HIST_COLS; c++) fprintf(f, "%s%s", c ? "," : "", hist_names[c]);
  fprintf(f, "\n");
  for (int64_t e = 0; e < epochs; e++) {
    const double *row = t->history + e * HIST_COLS;
    fprintf(f, "%lld", (long long)row[HIST_EPOCH]);
    for (int c = 1; c < HIST_COLS; c++) fprintf(f, ",%.10g", row[c]);
    fprintf(f, "\n");
  }
  int bad = fclose(f) != 0;
  if (bad || rename(partial, path) != 0) {
    remove(partial);
    HR_FAIL(HR_ERR_IO, "cannot write --history '%s'%s", path,
            hr_output_full_note(partial));
  }
  return HR_OK;
}

/* ---- resume ------------------------------------------------------------- */

static int read_vector(hid_t loc, const char *name, double *v, int64_t n,
                       int64_t stride, const char *path) {
  hid_t d = H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
  if (d < 0) HR_FAIL(HR_ERR_INPUT, "checkpoint '%s' has no '%s': is it a "
                     "--checkpoint-every file of hessrmt train?", path, name);
  hid_t space = H5Dget_space(d);
  hssize_t have = H5Sget_simple_extent_npoints(space);
  H5Sclose(space);
  double *buf = malloc((size_t)(have > 0 ? have : 1) * sizeof *buf);
  herr_t st = buf && have == n ? H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL,
                                         H5P_DEFAULT, buf) : -1;
  H5Dclose(d);
  for (int64_t i = 0; st >= 0 && i < n; i++) v[i * stride] = buf[i];
  free(buf);
  if (st < 0) HR_FAIL(HR_ERR_INPUT, "checkpoint '%s': '%s' has %lld values, "
                      "expected %lld", path, name, (long long)have, (long long)n);
  return HR_OK;
}

/* The checkpoint was trained with the options that define this run
 * (data, model, optimiser, seeds); the first that differs is named. */
static int check_identity(hid_t f, const char *now, const char *path) {
  char stored[sizeof ((hr_provenance_t *)0)->identity];
  HR_CHECK(hr_h5_read_string_attr(f, "identity", stored, sizeof stored));
  if (strcmp(stored, now) == 0) return HR_OK;
  const char *a = stored, *b = now;
  while (*a && *a == *b) { a++; b++; }
  while (a > stored && a[-1] != ';') { a--; b--; }  /* back to the field */
  HR_FAIL(HR_ERR_INPUT, "checkpoint '%s' was trained with other options: it "
          "has '%.*s' where this run has '%.*s'", path, (int)strcspn(a, ";"), a,
          (int)strcspn(b, ";"), b);
}

/* --epochs is not part of the identity (a constant rate may go on for
 * longer), but the paper schedule's rates depend on it: the epochs before
 * the checkpoint were run with its total, so only that total continues
 * them as one uninterrupted run would. */
static int check_schedule_total(hid_t f, const hr_options_t *o, const char *path) {
  if (o->lr_schedule != HR_LR_PAPER) return HR_OK;
  char stored[64] = "", now[64];
  hid_t g = H5Lexists(f, "options", H5P_DEFAULT) > 0
                ? H5Gopen2(f, "options", H5P_DEFAULT) : -1;
  int rc = g >= 0 ? hr_h5_read_string_attr(g, "epochs", stored, sizeof stored)
                  : HR_OK;
  if (g >= 0) H5Gclose(g);
  HR_CHECK(rc);
  snprintf(now, sizeof now, "%lld", (long long)o->epochs);
  if (strcmp(stored, now) == 0) return HR_OK;
  if (!stored[0])
    HR_FAIL(HR_ERR_INPUT, "checkpoint '%s' does not record its --epochs, which "
            "--lr-schedule paper needs to resume", path);
  HR_FAIL(HR_ERR_INPUT, "checkpoint '%s' was trained with --lr-schedule paper "
          "over --epochs %s: its rates depend on the total, so resume it with "
          "--epochs %s (this run has %s)", path, stored, stored, now);
}

/* Rank 0 reads the epoch, momentum and history of a checkpoint. */
static int read_state(const hr_options_t *o, const char *identity, trainer_t *t) {
  const char *path = o->train_resume;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) HR_FAIL(HR_ERR_IO, "cannot open checkpoint '%s'", path);
  double epoch = -1;
  hid_t a = H5Aexists(f, "epoch") > 0 ? H5Aopen(f, "epoch", H5P_DEFAULT) : -1;
  if (a >= 0) { H5Aread(a, H5T_NATIVE_DOUBLE, &epoch); H5Aclose(a); }
  int rc = HR_OK;
  if (a < 0)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "'%s' has no 'epoch' attribute: is it a "
                      "--checkpoint-every file of hessrmt train?", path);
  else if (!(epoch >= 1 && epoch <= (double)o->epochs))
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "checkpoint '%s' is at epoch %g, not within 1..%lld "
                      "(--epochs)", path, epoch, (long long)o->epochs);
  if (rc == HR_OK) rc = check_identity(f, identity, path);
  if (rc == HR_OK) rc = check_schedule_total(f, o, path);
  t->epochs_done = rc == HR_OK ? (int64_t)epoch : 0;
  if (rc == HR_OK)
    rc = read_vector(f, "velocity", t->velocity, t->train.model.nparams, 1, path);
  hid_t g = rc == HR_OK ? H5Gopen2(f, "history", H5P_DEFAULT) : -1;
  for (int c = 0; g >= 0 && rc == HR_OK && c < HIST_COLS; c++)
    rc = read_vector(g, hist_names[c], t->history + c, t->epochs_done, HIST_COLS, path);
  if (g >= 0) H5Gclose(g);
  H5Fclose(f);
  return rc;
}

static int resume(hr_ctx_t *ctx, trainer_t *t) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(hr_weights_read(ctx->world, o->train_resume, &t->train.model, t->train.theta));
  HR_CHECK(hr_agree(ctx->world, ctx->rank == 0 ? read_state(o, ctx->provenance->identity, t) : HR_OK));
  int64_t N = t->train.model.nparams;
  HR_MPI(MPI_Bcast(&t->epochs_done, 1, MPI_INT64_T, 0, ctx->world));
  HR_MPI(MPI_Bcast(t->velocity, (int)N, MPI_DOUBLE, 0, ctx->world));
  HR_MPI(MPI_Bcast(t->history, (int)(t->epochs_done * HIST_COLS), MPI_DOUBLE, 0,
                   ctx->world));
  return HR_OK;
}

/* ---- the command ---------------------------------------------------------- */

static void report_epoch(const hr_ctx_t *ctx, const trainer_t *t, int64_t epoch,
                         double seconds) {
  if (ctx->rank != 0 || ctx->opts->quiet) return;
  const double *row = t->history + (epoch - 1) * HIST_COLS;
  fprintf(stderr, "hessrmt train: epoch %lld/%lld  lr %.4g  train loss %.6g  "
          "accuracy %.2f%%", (long long)epoch, (long long)ctx->opts->epochs,
          row[HIST_LR], row[HIST_TRAIN_LOSS], 100.0 * row[HIST_TRAIN_ACC]);
  if (t->have_test)
    fprintf(stderr, "  test loss %.6g  accuracy %.2f%%", row[HIST_TEST_LOSS],
            100.0 * row[HIST_TEST_ACC]);
  fprintf(stderr, "  (%.2f s)\n", seconds);
}

static int check_outputs(hr_ctx_t *ctx) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(hr_output_check_writable(ctx->world, o->output));
  if (o->history[0]) HR_CHECK(hr_output_check_writable(ctx->world, o->history));
  return HR_OK;
}

/* The safe point after epoch e: on a signal (time limit, preemption, ^C)
 * save a checkpoint of it and stop, saying how to continue. */
static int stop_if_signalled(hr_ctx_t *ctx, trainer_t *t, int64_t e) {
  const hr_options_t *o = ctx->opts;
  int signo = hr_signal_received(ctx->world);
  if (!signo) return HR_OK;
  char path[4200];
  checkpoint_path(o->output, e, path, sizeof path);
  if (!(o->checkpoint_every && e % o->checkpoint_every == 0))
    HR_CHECK(write_weights(ctx, t, path, e));
  return hr_agree(ctx->world, hr_error_set(
      HR_ERR_STOPPED, __FILE__, __LINE__, __func__,
      "%s after epoch %lld of %lld: checkpoint %s; run the same command with "
      "--resume %s to continue", hr_signal_name(signo), (long long)e,
      (long long)o->epochs, path, path));
}

/* Writes weights after epoch e; when that fails (a disk that filled during
 * the run, say), says which checkpoint the run can continue from. */
static int save_weights(hr_ctx_t *ctx, trainer_t *t, const char *path,
                        int64_t e, char *last_checkpoint) {
  int rc = write_weights(ctx, t, path, e);
  if (rc != HR_OK && ctx->rank == 0 && last_checkpoint[0])
    fprintf(stderr, "hessrmt: note: the last checkpoint is '%s'; once the "
            "problem is fixed, run the same command with --resume %s to "
            "continue\n", last_checkpoint, last_checkpoint);
  return rc;
}

static int train(hr_ctx_t *ctx, trainer_t *t) {
  const hr_options_t *o = ctx->opts;
  HR_CHECK(check_outputs(ctx));
  HR_CHECK(setup(ctx, t));
  if (o->train_resume[0]) HR_CHECK(resume(ctx, t));
  if (ctx->rank == 0 && !o->quiet) {
    char model[1024];
    char schedule[32];
    hr_choice_name(HR_LR_SCHEDULE_CHOICES, o->lr_schedule, schedule, sizeof schedule);
    fprintf(stderr, "hessrmt train: %s (N = %lld) on %lld rows of %s, %d "
            "rank%s; batch %lld, lr %g (%s), momentum %g, weight decay %g%s\n",
            hr_model_describe(&t->train.model, model, sizeof model),
            (long long)t->train.model.nparams, (long long)t->train.rows, o->data,
            ctx->size, ctx->size == 1 ? "" : "s", (long long)t->batch, o->lr,
            schedule, o->momentum, o->weight_decay,
            t->epochs_done ? " (resumed)" : "");
  }
  hr_signals_install();  /* a time limit now stops at the next epoch's end */
  char last_checkpoint[4200] = "";
  if (o->train_resume[0])
    snprintf(last_checkpoint, sizeof last_checkpoint, "%s", o->train_resume);
  for (int64_t e = t->epochs_done + 1; e <= o->epochs; e++) {
    double start = MPI_Wtime();
    HR_CHECK(run_epoch(ctx, t, e));
    report_epoch(ctx, t, e, MPI_Wtime() - start);
    if (o->checkpoint_every && e % o->checkpoint_every == 0 && e < o->epochs) {
      char path[4200];
      checkpoint_path(o->output, e, path, sizeof path);
      HR_CHECK(save_weights(ctx, t, path, e, last_checkpoint));
      snprintf(last_checkpoint, sizeof last_checkpoint, "%s", path);
    }
    if (e < o->epochs) HR_CHECK(stop_if_signalled(ctx, t, e));
  }
  HR_CHECK(save_weights(ctx, t, o->output, o->epochs, last_checkpoint));
  if (o->history[0])
    HR_CHECK(hr_agree(ctx->world, write_history_csv(ctx, t, o->history, o->epochs)));
  if (ctx->rank == 0) printf("wrote %s (weights after %lld epochs)\n", o->output,
                             (long long)o->epochs);
  return HR_OK;
}

int hr_cmd_train(hr_ctx_t *ctx) {
  trainer_t t;
  memset(&t, 0, sizeof t);
  int rc = train(ctx, &t);
  trainer_free(&t);
  return rc;
}
