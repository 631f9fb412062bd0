/* OpenBLAS's kernels: find which run, replace a generic fallback (see
 * blas_core.h for why this must re-execute the program). */
#include "hessrmt/blas_core.h"

#include <cblas.h> /* OpenBLAS's: openblas_get_corename */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Set in the environment of the re-executed program: OpenBLAS's own pick,
 * so that the second start knows hessrmt chose and does not loop. */
#define MARKER_VAR "HESSRMT_BLAS_REPLACED"
/* For tests on machines OpenBLAS knows: pretend it picked this core. */
#define PRETEND_VAR "HESSRMT_TEST_PRETEND_CORE"

typedef struct {
  const char *name;
  hr_isa_t isa;
} core_tier_t;

/* OpenBLAS 0.3.21's x86-64 core names by the instruction set of their
 * kernels.  AMD's Bulldozer family is absent on purpose: OpenBLAS picks
 * those only for those very CPUs, and that choice is left alone. */
static const core_tier_t core_tiers[] = {
    {"Unknown", HR_ISA_SSE},    {"Katmai", HR_ISA_SSE},
    {"Coppermine", HR_ISA_SSE}, {"Northwood", HR_ISA_SSE},
    {"Prescott", HR_ISA_SSE},   {"Banias", HR_ISA_SSE},
    {"Atom", HR_ISA_SSE},       {"Core2", HR_ISA_SSE},
    {"Penryn", HR_ISA_SSE},     {"Dunnington", HR_ISA_SSE},
    {"Nehalem", HR_ISA_SSE},    {"Athlon", HR_ISA_SSE},
    {"Opteron", HR_ISA_SSE},    {"Opteron_SSE3", HR_ISA_SSE},
    {"Barcelona", HR_ISA_SSE},  {"Nano", HR_ISA_SSE},
    {"Bobcat", HR_ISA_SSE},     {"Sandybridge", HR_ISA_AVX},
    {"Haswell", HR_ISA_AVX2},   {"Zen", HR_ISA_AVX2},
    {"SkylakeX", HR_ISA_AVX512}, {"Cooperlake", HR_ISA_AVX512},
    {"SapphireRapids", HR_ISA_AVX512},
};

const char *hr_blas_isa_name(hr_isa_t isa) {
  switch (isa) {
    case HR_ISA_AVX512: return "AVX-512";
    case HR_ISA_AVX2: return "AVX2";
    case HR_ISA_AVX: return "AVX";
    default: return "SSE";
  }
}

hr_isa_t hr_blas_cpu_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
  /* GCC's and Clang's CPUID reader, which also checks that the OS saves
   * the AVX and AVX-512 registers (XGETBV). */
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl"))
    return HR_ISA_AVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return HR_ISA_AVX2;
  if (__builtin_cpu_supports("avx")) return HR_ISA_AVX;
#endif
  return HR_ISA_SSE;
}

int hr_blas_core_isa(const char *core) {
  for (size_t i = 0; i < sizeof core_tiers / sizeof core_tiers[0]; i++)
    if (!strcmp(core, core_tiers[i].name)) return (int)core_tiers[i].isa;
  return 0;
}

const char *hr_blas_core_better(const char *core, hr_isa_t cpu) {
  int have = hr_blas_core_isa(core);
  if (have == 0 || have >= HR_ISA_AVX2) return NULL;
  if (cpu >= HR_ISA_AVX512) return "SkylakeX";
  if (cpu >= HR_ISA_AVX2) return "Haswell";
  return NULL;
}

const char *hr_blas_chooser_name(hr_blas_chooser_t c) {
  switch (c) {
    case HR_BLAS_CHOSEN_BY_USER: return "user";
    case HR_BLAS_CHOSEN_BY_HESSRMT: return "hessrmt";
    default: return "openblas";
  }
}

const char *hr_blas_core_describe(const hr_blas_core_t *b, char *buf,
                                  size_t len) {
  switch (b->chooser) {
    case HR_BLAS_CHOSEN_BY_USER:
      snprintf(buf, len, "%s (OPENBLAS_CORETYPE)", b->core);
      break;
    case HR_BLAS_CHOSEN_BY_HESSRMT:
      snprintf(buf, len, "%s (set by hessrmt; OpenBLAS chose %s)", b->core,
               b->openblas_choice);
      break;
    default: snprintf(buf, len, "%s (OpenBLAS's choice)", b->core);
  }
  return buf;
}

static void copy_name(char *dst, size_t len, const char *src) {
  snprintf(dst, len, "%s", src ? src : "");
  dst[strcspn(dst, " \t\n")] = '\0'; /* OpenBLAS pads some names */
}

/* Sets OPENBLAS_CORETYPE=better and executes this program again; returns
 * only when that failed, with the environment restored. */
static void reexecute(char **argv, const char *own, const char *better,
                      hr_blas_core_t *out) {
  char exe[4096];
  /* /proc/self/exe, not argv[0]: argv[0] may be a bare name or relative,
   * and valgrind reports its client here, so a re-executed run stays
   * under valgrind (with --trace-children=yes). */
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  int err = n < 0 ? errno : 0;
  if (n > 0 && (size_t)n < sizeof exe - 1) {
    exe[n] = '\0';
    setenv("OPENBLAS_CORETYPE", better, 1);
    setenv(MARKER_VAR, own, 1);
    fflush(NULL);
    execv(exe, argv);
    err = errno;
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv(MARKER_VAR);
  }
  snprintf(out->warning, sizeof out->warning,
           "OpenBLAS runs its generic %s kernels on this %s CPU and hessrmt "
           "could not restart itself with faster ones (%s); expect BLAS at "
           "a fraction of full speed: set OPENBLAS_CORETYPE=%s",
           own, hr_blas_isa_name(out->cpu_isa), err ? strerror(err) : "path too long",
           better);
}

/* A warning when the core in use is slower than the CPU allows. */
static void check_slow(hr_blas_core_t *out) {
  int have = hr_blas_core_isa(out->core);
  if (out->warning[0] || have == 0 || have >= HR_ISA_AVX2 ||
      out->cpu_isa < HR_ISA_AVX2)
    return;
  const char *want = hr_blas_core_better(out->core, out->cpu_isa);
  if (out->chooser == HR_BLAS_CHOSEN_BY_USER)
    snprintf(out->warning, sizeof out->warning,
             "OPENBLAS_CORETYPE='%s' gives OpenBLAS's %s kernels on a CPU "
             "with %s; for full speed unset it, or set it to %s",
             getenv("OPENBLAS_CORETYPE"), out->core, hr_blas_isa_name(out->cpu_isa),
             want);
  else
    snprintf(out->warning, sizeof out->warning,
             "OpenBLAS runs its %s kernels although %s were asked for "
             "(this OpenBLAS build may lack them); expect BLAS at a "
             "fraction of full speed", out->core, want);
}

void hr_blas_core_startup(char **argv, hr_blas_core_t *out) {
  memset(out, 0, sizeof *out);
  out->cpu_isa = hr_blas_cpu_isa();
  copy_name(out->core, sizeof out->core, openblas_get_corename());
  const char *replaced = getenv(MARKER_VAR);
  const char *user = getenv("OPENBLAS_CORETYPE");
  if (replaced && *replaced) {
    out->chooser = HR_BLAS_CHOSEN_BY_HESSRMT;
    copy_name(out->openblas_choice, sizeof out->openblas_choice, replaced);
    unsetenv(MARKER_VAR); /* not inherited by anything this run starts */
  } else if (user && *user) {
    out->chooser = HR_BLAS_CHOSEN_BY_USER;
  } else {
    out->chooser = HR_BLAS_CHOSEN_BY_OPENBLAS;
    const char *pretend = getenv(PRETEND_VAR);
    const char *own = pretend && *pretend ? pretend : out->core;
    const char *better = hr_blas_core_better(own, out->cpu_isa);
    if (better) reexecute(argv, own, better, out);
  }
  check_slow(out);
}
