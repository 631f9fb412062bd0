/* libFuzzer harness for the CSV reader (io/read_csv.c): plain and gzip,
 * header detection, blank lines, quoted numbers, ragged rows.  The checks
 * are in fuzz_common.h; build and run with tests/fuzz/run_fuzz.sh, seeds
 * in tests/fuzz/corpus/csv/. */
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const hr_fuzz_reader_t reader = {".csv", hr_csv_info, hr_csv_read_rows,
                                        0, 1};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  hr_fuzz_init(reader.suffix);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return hr_fuzz_one(&reader, data, size);
}
