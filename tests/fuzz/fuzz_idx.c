/* libFuzzer harness for the IDX reader (io/read_idx.c, through
 * io/infile.c): plain and gzip, every type code, any number of dimensions.
 * The checks are in fuzz_common.h; build and run with
 * tests/fuzz/run_fuzz.sh, seeds in tests/fuzz/corpus/idx/. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int idx_rows(const char *path, int64_t first, int64_t count,
                    int64_t cols, double *out) {
  (void)cols;
  return hr_idx_read_rows(path, first, count, out);
}

static const hr_fuzz_reader_t reader = {".idx", hr_idx_info, idx_rows, 1, 0};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  hr_fuzz_init(reader.suffix);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return hr_fuzz_one(&reader, data, size);
}
