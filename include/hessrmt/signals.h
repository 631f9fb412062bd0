/* Stopping at a safe point.  A batch system ends a job with a signal: Slurm
 * sends SIGTERM at the time limit or on preemption (and, with --signal, an
 * earlier warning, e.g. SIGUSR1), mpirun forwards SIGUSR1/SIGUSR2 and turns
 * SIGTERM/SIGINT into SIGTERM for every rank.  hessrmt only notes the signal
 * in the handler; the loops that produce results ask at their safe points
 * (before each spectrum, after each epoch) whether any rank of their
 * communicator got one, stop together, keep what is finished and exit with
 * HR_ERR_STOPPED (75, EX_TEMPFAIL: try again, with --resume). */
#ifndef HESSRMT_SIGNALS_H
#define HESSRMT_SIGNALS_H

#include <mpi.h>

/* Catch SIGTERM, SIGINT, SIGUSR1 and SIGUSR2 (after MPI_Init, so these
 * handlers are the ones that stay).  Called by the commands that have safe
 * points (the spectra loop of hessian and ensemble, train); the others keep
 * the default actions.  The first signal is noted (rank 0 says so); a
 * second one takes its default action at once, so ^C ^C still stops a long
 * solve that has no safe point near. */
void hr_signals_install(void);

/* Collective over comm: the signal any rank of comm has received (the
 * largest number if several), or 0.  The same answer on every rank. */
int hr_signal_received(MPI_Comm comm);

/* "SIGTERM", "SIGINT", ... */
const char *hr_signal_name(int signo);

#endif
