/* The OpenBLAS core table and the replacement rule (src/core/blas_core.c):
 * only generic cores on CPUs with AVX2 or AVX-512 are replaced, and
 * cores OpenBLAS picks for CPUs it knows are kept. */
#include <string.h>

#include "check.h"
#include "hessrmt/blas_core.h"

static int same(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a && b && !strcmp(a, b));
}

int main(int argc, char **argv) {
  (void)argc;
  test_start(argv);
  static const struct {
    const char *core;
    hr_isa_t cpu;
    const char *want;
  } cases[] = {
      /* the machine: Intel family 6 model 207 under 0.3.21 */
      {"Prescott", HR_ISA_AVX512, "SkylakeX"},
      /* the same CPU under valgrind, which hides AVX-512 */
      {"Prescott", HR_ISA_AVX2, "Haswell"},
      {"Nehalem", HR_ISA_AVX2, "Haswell"},
      {"Core2", HR_ISA_AVX512, "SkylakeX"},
      {"Sandybridge", HR_ISA_AVX2, "Haswell"},
      /* an old CPU: its generic core is its best */
      {"Prescott", HR_ISA_SSE, NULL},
      {"Sandybridge", HR_ISA_AVX, NULL},
      /* cores for CPUs OpenBLAS knows */
      {"Haswell", HR_ISA_AVX512, NULL},
      {"Zen", HR_ISA_AVX512, NULL},
      {"SkylakeX", HR_ISA_AVX512, NULL},
      {"Cooperlake", HR_ISA_AVX512, NULL},
      {"Excavator", HR_ISA_AVX2, NULL},
      /* a newer OpenBLAS's own name */
      {"Zen5", HR_ISA_AVX512, NULL},
      {"", HR_ISA_AVX512, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = hr_blas_core_better(cases[i].core, cases[i].cpu);
    EXPECT(same(got, cases[i].want), "%s on %s: got %s, want %s",
           cases[i].core, hr_blas_isa_name(cases[i].cpu), got ? got : "(keep)",
           cases[i].want ? cases[i].want : "(keep)");
  }
  EXPECT(hr_blas_core_isa("Prescott") == HR_ISA_SSE, "Prescott tier");
  EXPECT(hr_blas_core_isa("SkylakeX") == HR_ISA_AVX512, "SkylakeX tier");
  EXPECT(hr_blas_core_isa("Excavator") == 0, "Excavator unranked");

  hr_blas_core_t b = {.chooser = HR_BLAS_CHOSEN_BY_HESSRMT};
  strcpy(b.core, "SkylakeX");
  strcpy(b.openblas_choice, "Prescott");
  char buf[128];
  EXPECT(!strcmp(hr_blas_core_describe(&b, buf, sizeof buf),
                 "SkylakeX (set by hessrmt; OpenBLAS chose Prescott)"),
         "describe: %s", buf);
  EXPECT(!strcmp(hr_blas_chooser_name(b.chooser), "hessrmt"), "chooser name");

  /* This process: the CPU tier is at least SSE, and what it runs now was
   * not left generic on a CPU that has better (test_start saw to it). */
  hr_blas_core_t now;
  hr_blas_core_startup(argv, &now);
  EXPECT(now.cpu_isa >= HR_ISA_SSE && now.cpu_isa <= HR_ISA_AVX512, "tier");
  EXPECT(now.chooser == HR_BLAS_CHOSEN_BY_USER ||
             hr_blas_core_better(now.core, now.cpu_isa) == NULL,
         "running %s on %s", now.core, hr_blas_isa_name(now.cpu_isa));
  return test_finish_serial("test_blas_core");
}
