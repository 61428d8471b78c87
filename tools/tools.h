/*
 * tools.h — what the subcommands of the `denoise` tool share.
 *
 * Each subcommand is a function taking its own argc/argv (argv[0] is the
 * subcommand's name) and returning the process exit status: 0 success,
 * 1 failure (the message names what is wrong), 2 usage error. denoise.c
 * lists them in one table; a new subcommand adds a line there and its
 * declaration here.
 */
#ifndef DN_TOOLS_H
#define DN_TOOLS_H

#include <stddef.h>

#include "core/model/model.h"

enum { TOOLS_OK = 0, TOOLS_FAIL = 1, TOOLS_USAGE = 2 };

int cmd_audio(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_model_init(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_frame(int argc, char **argv);
int cmd_train_frame(int argc, char **argv);
int cmd_devices(int argc, char **argv);

/* The model file a subcommand uses when none is named: models/speech.safetensors
 * (kind DN_MODEL_AUDIO) or models/frame.safetensors (DN_MODEL_FRAME), looked
 * up in $DENOISE_MODEL_DIR, then the installed data directory, then the source
 * tree. Returns a malloc'd path of the first that exists (caller frees), or
 * NULL with the places tried written to tried[0..tried_size). */
char *tools_default_model_path(int kind, char *tried, size_t tried_size);
/* The same search for a model file of another name ("speech-live.safetensors"). */
char *tools_find_model_file(const char *file, char *tried, size_t tried_size);

/* Loads the model at *path, or when *path is NULL the default one of `kind`
 * (tools_default_model_path), pointing *path at it and handing the malloc'd
 * string to the caller in *found (free it after the last use of *path).
 * Returns TOOLS_OK with *out owned by the caller (dn_model_destroy), or
 * TOOLS_FAIL after printing "denoise CMD: ..." with what went wrong. */
int tools_load_model(const char *cmd, int kind, const char **path, char **found, dn_model **out);

/* Records how a freshly trained model came about in its metadata:
 * train.data (the caller's description), train.command (argv), train.started
 * (now, UTC) and train.machine (host, CPUs, BLAS threads). */
void tools_set_provenance(dn_model *m, int argc, char **argv, const char *data);

/* A whole decimal number in [lo, hi] into *out: 0, or -1 (out untouched). */
int tools_parse_int(const char *s, int lo, int hi, int *out);

#endif
