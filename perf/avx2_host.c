/* Preloaded into every process of a command run by perf/avx2_host.py: the CPU looks AVX2-only to it.
 *
 * Linux CPUID faulting (arch_prctl ARCH_SET_CPUID, the CPU flag cpuid_fault) makes the CPUID instruction raise
 * SIGSEGV; the handler below runs the real CPUID and clears the bits of AVX512, AVX-VNNI and AMX before the
 * process sees them, so ONNX Runtime's MLAS, oneDNN, CTranslate2 and numpy pick the kernels they pick on an
 * AVX2-only CPU. Faulting is reset by execve and kept by fork and threads: the constructor runs again in each
 * program the command starts (LD_PRELOAD is inherited). A SIGSEGV handler a program installs is kept as the
 * next one and gets every fault that is not a CPUID.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_SET_CPUID 0x1012
#define BIT(n) (1u << (n))

/* Leaf 7, subleaf 0. EBX: AVX512 F, DQ, IFMA, PF, ER, CD, BW, VL. ECX: AVX512 VBMI, VBMI2, VNNI, BITALG,
 * VPOPCNTDQ. EDX: AVX512 4VNNIW, 4FMAPS, VP2INTERSECT, AMX-BF16, AVX512-FP16, AMX-TILE, AMX-INT8. */
static const uint32_t LEAF7_EBX = BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31);
static const uint32_t LEAF7_ECX = BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14);
static const uint32_t LEAF7_EDX = BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25);
/* Leaf 7, subleaf 1. EAX: AVX-VNNI, AVX512-BF16, AMX-FP16, AVX-IFMA. EDX: AVX-VNNI-INT8, AVX-NE-CONVERT,
 * AVX-VNNI-INT16, AVX10. */
static const uint32_t LEAF7_1_EAX = BIT(4) | BIT(5) | BIT(21) | BIT(23);
static const uint32_t LEAF7_1_EDX = BIT(4) | BIT(5) | BIT(10) | BIT(19);

static struct sigaction next_handler; /* the program's own SIGSEGV handler, SIG_DFL until it sets one */

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static int real_sigaction(int signum, const struct sigaction *act, struct sigaction *old) {
  static sigaction_fn real;
  if (!real) real = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
  return real(signum, act, old);
}

static long cpuid_faulting(int on) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, on ? 0 : 1); }

static void masked_cpuid(greg_t *regs) {
  uint32_t leaf = (uint32_t)regs[REG_RAX], subleaf = (uint32_t)regs[REG_RCX], a, b, c, d;
  cpuid_faulting(0);
  __cpuid_count(leaf, subleaf, a, b, c, d);
  cpuid_faulting(1);
  if (leaf == 7 && subleaf == 0) {
    b &= ~LEAF7_EBX;
    c &= ~LEAF7_ECX;
    d &= ~LEAF7_EDX;
  } else if (leaf == 7 && subleaf == 1) {
    a &= ~LEAF7_1_EAX;
    d &= ~LEAF7_1_EDX;
  }
  regs[REG_RAX] = a;
  regs[REG_RBX] = b;
  regs[REG_RCX] = c;
  regs[REG_RDX] = d;
  regs[REG_RIP] += 2;
}

static void on_segv(int signum, siginfo_t *info, void *context) {
  greg_t *regs = ((ucontext_t *)context)->uc_mcontext.gregs;
  const uint8_t *ip = (const uint8_t *)regs[REG_RIP];
  if (info->si_code == SI_KERNEL && ip[0] == 0x0f && ip[1] == 0xa2) {
    masked_cpuid(regs);
  } else if (next_handler.sa_flags & SA_SIGINFO) {
    next_handler.sa_sigaction(signum, info, context);
  } else if (next_handler.sa_handler != SIG_DFL && next_handler.sa_handler != SIG_IGN) {
    next_handler.sa_handler(signum);
  } else {
    struct sigaction fallback = {.sa_handler = SIG_DFL};
    real_sigaction(SIGSEGV, &fallback, NULL); /* the faulting instruction runs again and ends the process */
  }
}

int sigaction(int signum, const struct sigaction *act, struct sigaction *old) {
  if (signum != SIGSEGV) return real_sigaction(signum, act, old);
  if (old) *old = next_handler;
  if (act) next_handler = *act;
  return 0;
}

sighandler_t signal(int signum, sighandler_t handler) {
  struct sigaction act = {.sa_handler = handler}, old;
  sigemptyset(&act.sa_mask);
  if (sigaction(signum, &act, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

__attribute__((constructor)) static void start(void) {
  struct sigaction act = {.sa_sigaction = on_segv, .sa_flags = SA_SIGINFO | SA_NODEFER};
  sigemptyset(&act.sa_mask);
  next_handler.sa_handler = SIG_DFL;
  real_sigaction(SIGSEGV, &act, NULL);
  if (cpuid_faulting(1) != 0) { /* a measurement that is not masked must not pass for one */
    static const char message[] = "avx2_host: this kernel or CPU has no CPUID faulting (cpuid_fault)\n";
    write(STDERR_FILENO, message, sizeof message - 1);
    _exit(70);
  }
}
