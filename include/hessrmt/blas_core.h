/* Which OpenBLAS kernels the process runs, and getting the fast ones.
 *
 * Debian's OpenBLAS 0.3.21 picks its kernels ("core") when it loads, from
 * CPUID.  On CPUs newer than it knows (e.g. Intel family 6 model 207) it
 * falls back to its SSE3 "Prescott" kernels: DGEMM at a fifth of the
 * AVX-512 rate, and SSE symv kernels that read past their arrays.  It reads
 * OPENBLAS_CORETYPE only at load time, so the one way to change the choice
 * is to set that variable and execute the program again, before MPI starts.
 * hr_blas_core_startup() does that.  A user's own OPENBLAS_CORETYPE is
 * never overridden, and a core OpenBLAS chose for a CPU it knows is left
 * alone: only an SSE-era or AVX-only core on a CPU with AVX2 is replaced. */
#ifndef HESSRMT_BLAS_CORE_H
#define HESSRMT_BLAS_CORE_H

#include <stddef.h>

/* Instruction-set tiers, ordered: what a CPU offers or a core uses. */
typedef enum {
  HR_ISA_SSE = 1,    /* SSE2/SSE3 kernels: Prescott, Core2, Nehalem, ... */
  HR_ISA_AVX = 2,    /* Sandybridge */
  HR_ISA_AVX2 = 3,   /* AVX2 + FMA: Haswell, Zen */
  HR_ISA_AVX512 = 4  /* AVX-512 F/CD/BW/DQ/VL: SkylakeX, Cooperlake */
} hr_isa_t;

typedef enum {
  HR_BLAS_CHOSEN_BY_OPENBLAS, /* OpenBLAS's own choice, left alone */
  HR_BLAS_CHOSEN_BY_USER,     /* OPENBLAS_CORETYPE set before hessrmt ran */
  HR_BLAS_CHOSEN_BY_HESSRMT   /* set by hessrmt, which re-executed itself */
} hr_blas_chooser_t;

typedef struct {
  char core[32];            /* the core in use, as OpenBLAS names it */
  char openblas_choice[32]; /* OpenBLAS's own pick, when hessrmt replaced it */
  hr_blas_chooser_t chooser;
  hr_isa_t cpu_isa;         /* the best tier CPUID reports to this process */
  char warning[320];        /* non-empty: no fast core could be had */
} hr_blas_core_t;

/* Call first in main(), before MPI_Init.  Finds the core OpenBLAS runs; if
 * it is a generic one that the CPU outdoes and OPENBLAS_CORETYPE was not
 * set, sets it and re-executes the program with the same arguments (does
 * not return).  Otherwise fills *out.  Never fails: a problem becomes
 * out->warning. */
void hr_blas_core_startup(char **argv, hr_blas_core_t *out);

/* The best tier the CPU offers this process, from CPUID as the process
 * sees it (valgrind, for one, hides AVX-512), with the OS's consent. */
hr_isa_t hr_blas_cpu_isa(void);

/* The tier of an OpenBLAS core name; 0 for a name this table does not
 * rank (a newer OpenBLAS's own name, or a vendor-specific core such as
 * AMD's Excavator), which is always left alone. */
int hr_blas_core_isa(const char *core);

/* The core to run instead of `core` on a CPU of tier `cpu`, or NULL to
 * keep it. */
const char *hr_blas_core_better(const char *core, hr_isa_t cpu);

/* "Haswell (set by hessrmt; OpenBLAS chose Prescott)" and the like. */
const char *hr_blas_core_describe(const hr_blas_core_t *b, char *buf,
                                  size_t len);

/* "AVX-512", "AVX2", "AVX" or "SSE". */
const char *hr_blas_isa_name(hr_isa_t isa);

/* "openblas", "user" or "hessrmt". */
const char *hr_blas_chooser_name(hr_blas_chooser_t c);

#endif
