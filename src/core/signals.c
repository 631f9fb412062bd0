/* Signals noted, acted on at safe points (see signals.h). */
#include "hessrmt/signals.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t received;
static int speaker;  /* world rank 0 says what happens */

static const char stopping[] =
    "hessrmt: stopping at the next safe point (finished work is kept); "
    "send the signal again to stop now\n";

static void note_signal(int signo) {
  if (received) {  /* the second: the default action, now */
    signal(signo, SIG_DFL);
    raise(signo);
    return;
  }
  received = signo;
  if (speaker) {
    ssize_t ignored = write(STDERR_FILENO, stopping, sizeof stopping - 1);
    (void)ignored;
  }
}

void hr_signals_install(void) {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  speaker = rank == 0;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = note_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  /* reads, writes and MPI calls carry on */
  const int caught[] = {SIGTERM, SIGINT, SIGUSR1, SIGUSR2};
  for (size_t i = 0; i < sizeof caught / sizeof caught[0]; i++)
    sigaction(caught[i], &sa, NULL);
}

int hr_signal_received(MPI_Comm comm) {
  int mine = received, any = 0;
  MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  return any;
}

const char *hr_signal_name(int signo) {
  switch (signo) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    default: return "a signal";
  }
}
