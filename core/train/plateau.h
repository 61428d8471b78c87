/*
 * plateau.h — the learning-rate schedule and early stop that both training
 * loops (train.c for speech, train_frame.c for frames) run after each
 * epoch: Keras's ReduceLROnPlateau (the rate times factor after patience
 * epochs without a new best, never below min_lr) and EarlyStopping (stop
 * after early_stop such epochs). The loop measures the epoch; this says
 * whether it is a new best, what the rate becomes and whether to stop.
 *
 * The state is plain data so that a checkpoint can carry it (train.c writes
 * lr, best, wait_lr and wait_stop into its metadata).
 */
#ifndef DN_TRAIN_PLATEAU_H
#define DN_TRAIN_PLATEAU_H

enum dn_plateau_mode {
	DN_PLATEAU_MIN = 0, /* lower is better (a loss) */
	DN_PLATEAU_MAX = 1, /* higher is better (PSNR) */
};

typedef struct dn_plateau {
	/* settings */
	int mode;         /* enum dn_plateau_mode */
	double min_delta; /* an improvement must beat the best by more than this */
	float factor;     /* the rate is multiplied by it on a plateau */
	float min_lr;     /* ... but never goes below it */
	int patience;     /* epochs without a new best before the rate drops */
	int early_stop;   /* epochs without a new best before the run stops */
	/* state */
	float lr;
	double best; /* the best score so far (±infinity before the first) */
	int wait_lr, wait_stop;
} dn_plateau;

/* Settings as given, the rate lr, no best yet, nothing waited. */
dn_plateau dn_plateau_start(int mode, double min_delta, float lr, float factor, float min_lr, int patience,
                            int early_stop);

/* Records one epoch's score: 1 when it is a new best (the waits start
 * again), 0 otherwise (both waits grow; the rate drops once wait_lr reaches
 * patience). */
int dn_plateau_update(dn_plateau *s, double score);

/* Whether early_stop epochs have gone by without a new best. */
int dn_plateau_should_stop(const dn_plateau *s);

#endif
