/* libFuzzer harness for the NumPy .npy reader (io/read_npy.c, through
 * io/infile.c): plain and gzip, format versions 1-3.  The checks are in
 * fuzz_common.h; build and run with tests/fuzz/run_fuzz.sh, seeds in
 * tests/fuzz/corpus/npy/. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int npy_rows(const char *path, int64_t first, int64_t count,
                    int64_t cols, double *out) {
  (void)cols;
  return hr_npy_read_rows(path, first, count, out);
}

static const hr_fuzz_reader_t reader = {".npy", hr_npy_info, npy_rows, 1, 0};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  hr_fuzz_init(reader.suffix);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return hr_fuzz_one(&reader, data, size);
}
