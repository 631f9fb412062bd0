/* Pieces of `hessrmt train` that have no I/O and no MPI, so that unit
 * tests can call them (the command itself is in cmd_train.c). */
#ifndef HESSRMT_TRAIN_H
#define HESSRMT_TRAIN_H

#include <stdint.h>

/* --lr-schedule, in the order of the enum. */
#define HR_LR_SCHEDULE_CHOICES "constant|paper"
typedef enum { HR_LR_CONSTANT, HR_LR_PAPER } hr_lr_schedule_t;

/* The learning rate of the epoch that starts after `epoch` epochs
 * (0-based) of `epochs` in all, for base rate lr.
 *   constant: lr.
 *   paper: the schedule of the paper's training code (the SWA schedule of
 *     Garipov et al.): alpha = epoch / epochs; lr while alpha <= 0.5, then
 *     falling linearly to 0.01 lr at alpha = 0.9, and 0.01 lr after.
 * It depends on the absolute epoch and the total only, so a resumed run
 * gets the rates of an uninterrupted one. */
double hr_train_lr(int schedule, double lr, int64_t epoch, int64_t epochs);

#endif
