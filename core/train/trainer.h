/*
 * trainer.h — one training step wherever the net lives.
 *
 * On the CPU a step is the dn_unet's own forward, loss, backward and the
 * dn_adam update; on a CUDA device it runs on a dn_gpu_net mirror
 * (core/cuda/cuda.h) and the host net and optimiser are brought up to date
 * only when asked (dn_trainer_pull), before the loop snapshots, checkpoints
 * or saves them. The training loops (train.c, train_frame.c) are written
 * once against this and do not know which device they drive.
 */
#ifndef DN_TRAINER_H
#define DN_TRAINER_H

#include "core/cuda/cuda.h"
#include "core/dn.h"
#include "core/nn/adam.h"
#include "core/nn/tensor.h"
#include "core/nn/unet.h"

typedef struct dn_trainer dn_trainer;

/* A trainer for net with optimiser opt (both stay the caller's) on dev
 * (NULL or index < 0: the CPU). */
int dn_trainer_create(dn_unet *net, dn_adam *opt, const dn_device *dev, dn_trainer **out, dn_error *err);
void dn_trainer_destroy(dn_trainer *t);

/* One step on batch x with target: forward in training mode, the loss
 * (enum dn_loss: 0 MSE, 1 MAE, or'ed with DN_LOSS_WEIGHTED) into *loss, backward and an Adam update at
 * the optimiser's current learning rate. */
int dn_trainer_step(dn_trainer *t, const dn_tensor *x, const dn_tensor *target, int loss, double *loss_out,
                    dn_error *err);

/* The mean loss of output y against target (grad, when not NULL, gets its
 * gradient): loss is enum dn_loss, or'ed with DN_LOSS_WEIGHTED when target
 * carries weight planes (core/train/train.h). */
double dn_trainer_loss(int loss, const dn_tensor *y, const dn_tensor *target, float *grad);

/* Eval-mode forward (running statistics); *y stays valid until the next
 * call on t. */
int dn_trainer_eval(dn_trainer *t, const dn_tensor *x, const dn_tensor **y, dn_error *err);

/* Device → host net and optimiser (no-op on the CPU). */
int dn_trainer_pull(dn_trainer *t, dn_error *err);
/* Host → device, after the host net or optimiser changed (resume, restore). */
int dn_trainer_push(dn_trainer *t, dn_error *err);

/* "cpu" or "cuda:N (NVIDIA H200, …) tf32". */
const char *dn_trainer_describe(const dn_trainer *t);
/* Seconds the device spent on steps so far (0 on the CPU, where the step is
 * the caller's own time). */
double dn_trainer_device_seconds(const dn_trainer *t);

#endif
