/* The learning-rate schedules of `hessrmt train` (hr_train_lr) against
 * values worked out by hand from the paper's training code:
 *   alpha = e / E;  factor 1 for alpha <= 0.5,
 *   1 - (alpha - 0.5) / 0.4 * 0.99 for alpha <= 0.9, else 0.01. */
#include "check.h"
#include "hessrmt/train.h"

typedef struct {
  int64_t epoch, epochs;
  double factor;  /* by hand */
  const char *why;
} case_t;

static const case_t paper_cases[] = {
    {0, 300, 1.0, "the start"},
    {150, 300, 1.0, "alpha = 0.5 exactly: still the full rate"},
    /* 1 - (1/300) / 0.4 * 0.99 = 1 - 0.99 / 120 */
    {151, 300, 0.99175, "just past half"},
    /* 1 - (1/6) / 0.4 * 0.99 = 1 - 0.99 * 5/12 */
    {200, 300, 0.5875, "two thirds"},
    /* 1 - (119/300) / 0.4 * 0.99 = 1 - 0.99 * 119/120 */
    {269, 300, 0.01825, "the last epoch of the ramp"},
    {270, 300, 0.01, "alpha = 0.9: the ramp ends at 0.01"},
    {299, 300, 0.01, "the last epoch"},
    /* E = 10, one epoch apart: the e2e test's run */
    {5, 10, 1.0, "E = 10, half"},
    {6, 10, 0.7525, "E = 10: 1 - 0.25 * 0.99"},
    {7, 10, 0.505, "E = 10: 1 - 0.5 * 0.99"},
    {8, 10, 0.2575, "E = 10: 1 - 0.75 * 0.99"},
    {9, 10, 0.01, "E = 10: alpha 0.9"},
    {0, 1, 1.0, "a single epoch"},
};

static void paper(void) {
  const double lr = 0.05;
  for (size_t i = 0; i < sizeof paper_cases / sizeof paper_cases[0]; i++) {
    const case_t *c = &paper_cases[i];
    double got = hr_train_lr(HR_LR_PAPER, lr, c->epoch, c->epochs);
    EXPECT_NEAR(got / lr, c->factor, 1e-13, "paper, epoch %lld of %lld (%s): factor "
                "%.17g, by hand %.17g", (long long)c->epoch, (long long)c->epochs,
                c->why, got / lr, c->factor);
  }
}

/* Never increasing, and continuous at both ends of the ramp. */
static void paper_shape(void) {
  double prev = 1.0;
  for (int64_t e = 0; e < 1000; e++) {
    double f = hr_train_lr(HR_LR_PAPER, 1.0, e, 1000);
    EXPECT(f <= prev && f >= 0.01 - 1e-15, "epoch %lld: factor %g after %g",
           (long long)e, f, prev);
    EXPECT(prev - f <= 0.99 / 400 + 1e-12, "epoch %lld: a jump from %g to %g",
           (long long)e, prev, f);
    prev = f;
  }
}

static void constant(void) {
  for (int64_t e = 0; e < 300; e += 37)
    EXPECT(hr_train_lr(HR_LR_CONSTANT, 0.003, e, 300) == 0.003,
           "constant schedule at epoch %lld", (long long)e);
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  paper();
  paper_shape();
  constant();
  return test_finish_serial("test_train_schedule");
}
