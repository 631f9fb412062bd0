/* The options table: defaults, every value type, and the errors that name
 * the offending option. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "hessrmt/error.h"
#include "hessrmt/eigensolver.h"
#include "hessrmt/ensemble.h"
#include "hessrmt/options.h"
#include "hessrmt/precision.h"

/* The parsed options point into argv, so the words must outlive the call
 * (as a real argv does) until the next parse. */
static int parse(hr_options_t *o, const char *line) {
  static char buf[1024];
  char *argv[64];
  int argc = 0;
  snprintf(buf, sizeof buf, "hessrmt %s", line);
  for (char *tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " "))
    argv[argc++] = tok;
  argv[argc] = NULL;
  hr_error_clear();
  FILE *sink = fopen("/dev/null", "w");
  int rc = hr_options_parse(argc, argv, o, 1, sink);
  fclose(sink);
  return rc;
}

static void expect_usage_error(const char *line, const char *needle) {
  hr_options_t o;
  int rc = parse(&o, line);
  EXPECT(rc == HR_ERR_USAGE, "'%s' gave %d, expected a usage error", line, rc);
  EXPECT(strstr(hr_error_message(), needle) != NULL,
         "'%s': message '%s' does not mention '%s'", line, hr_error_message(),
         needle);
}

static int count_options(const char *name, const char *value, int identity,
                         void *ctx) {
  (void)name; (void)value; (void)identity;
  ++*(int *)ctx;
  return HR_OK;
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  hr_options_t o;
  EXPECT(parse(&o, "ensemble") == HR_PARSE_RUN, "defaults parse");
  EXPECT(o.kind == HR_KIND_GOE && o.n == 1000 && o.count == 1 && o.seed == 1,
         "ensemble defaults");
  EXPECT(o.solver == HR_SOLVER_AUTO && o.precision == HR_PRECISION_DOUBLE,
         "solver defaults");
  EXPECT(o.nblk == 0 && o.grid_rows == 0 && o.max_mem == 0 && o.groups == 0,
         "auto defaults");
  EXPECT(strcmp(o.output, "spectra.h5") == 0, "output default");

  EXPECT(parse(&o, "ensemble --kind tridiag --n 97 --count 3 --seed 7 "
                   "--solver pdsyevr --precision single --grid 2x3 --nblk 5 "
                   "--groups 2 --max-mem 1.5G -o x.h5 --resume -q") ==
             HR_PARSE_RUN, "full line parses");
  EXPECT(o.kind == HR_KIND_TRIDIAG && o.n == 97 && o.count == 3 && o.seed == 7,
         "ensemble values");
  EXPECT(o.solver == HR_SOLVER_PDSYEVR && o.precision == HR_PRECISION_SINGLE,
         "choices");
  EXPECT(o.grid_rows == 2 && o.grid_cols == 3, "grid %dx%d", o.grid_rows, o.grid_cols);
  EXPECT(o.nblk == 5 && o.groups == 2, "ints");
  EXPECT(o.max_mem == (int64_t)(1.5 * 1024 * 1024 * 1024), "bytes %lld",
         (long long)o.max_mem);
  EXPECT(o.resume == 1 && o.quiet == 1, "flags");
  EXPECT(strcmp(o.output, "x.h5") == 0, "short option -o");
  EXPECT(strstr(o.command_line, "--grid 2x3") != NULL, "command line recorded");
  EXPECT(parse(&o, "ensemble --n=12 --output=y.h5") == HR_PARSE_RUN &&
             o.n == 12 && strcmp(o.output, "y.h5") == 0, "--name=value form");

  EXPECT(parse(&o, "--help") == HR_PARSE_EXIT_OK, "--help");
  EXPECT(parse(&o, "--version") == HR_PARSE_EXIT_OK, "--version");
  EXPECT(parse(&o, "ensemble --help") == HR_PARSE_EXIT_OK, "command --help");

  expect_usage_error("", "no command");
  expect_usage_error("frobnicate", "unknown command 'frobnicate'");
  expect_usage_error("ensemble --bogus", "--bogus");
  expect_usage_error("ensemble --nblk 0", "--nblk 0");
  expect_usage_error("ensemble --n -4", "--n -4");
  expect_usage_error("ensemble --n 12abc", "--n 12abc");
  EXPECT(parse(&o, "ensemble --n 200000 --dry-run") == HR_PARSE_RUN &&
             o.n == 200000 && o.dry_run, "ensemble --n 200000 --dry-run");
  /* no artificial cap: only the 32-bit descriptors' own */
  expect_usage_error("ensemble --n 2147483648", "--n 2147483648");
  expect_usage_error("ensemble --solver magma", "elpa2|elpa1|pdsyevr|pdsyev|lapack|auto");
  expect_usage_error("ensemble --grid 2by2", "--grid 2by2");
  expect_usage_error("ensemble --grid 0x4", "--grid 0x4");
  expect_usage_error("ensemble --max-mem lots", "--max-mem lots");
  expect_usage_error("ensemble --wishart-ratio nan", "--wishart-ratio nan");
  expect_usage_error("ensemble --n", "needs a value");
  expect_usage_error("ensemble stray", "unexpected argument 'stray'");

  int count = 0;
  parse(&o, "ensemble");
  hr_options_visit(&o, count_options, &count);
  EXPECT(count >= 14, "every ensemble option reaches provenance (%d)", count);
  return test_finish_serial("test_options");
}
