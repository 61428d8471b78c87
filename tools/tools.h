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

enum { TOOLS_OK = 0, TOOLS_FAIL = 1, TOOLS_USAGE = 2 };

int cmd_audio(int argc, char **argv);
int cmd_model_init(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_frame(int argc, char **argv);
int cmd_train_frame(int argc, char **argv);

/* The model file a subcommand uses when none is named: models/speech.safetensors
 * (kind DN_MODEL_AUDIO) or models/frame.safetensors (DN_MODEL_FRAME), looked
 * up in $DENOISE_MODEL_DIR, then the installed data directory, then the source
 * tree. Returns a malloc'd path of the first that exists (caller frees), or
 * NULL with the places tried written to tried[0..tried_size). */
char *tools_default_model_path(int kind, char *tried, size_t tried_size);

#endif
