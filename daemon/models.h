/*
 * models.h — the registry of loaded models, with reference counts and
 * atomic reload.
 *
 * Every model is loaded once and shared read-only by all workers. A request
 * takes a counted reference for as long as it uses a model, so a reload
 * (SIGHUP) can swap in new files while requests in flight finish on the old
 * ones, which are freed when their last reference goes. A file that fails to
 * load on reload leaves the model it would replace serving. Each worker keeps
 * its own dn_speech per model (contexts are not thread-safe) in a cache that
 * drops contexts of models retired by a reload.
 */
#ifndef DAEMON_MODELS_H
#define DAEMON_MODELS_H

#include <stdint.h>

#include "api/api.h"
#include "core/dn.h"
#include "core/model/model.h"
#include "core/audio/speech.h"

typedef struct daemon_models daemon_models;

/* Loads every model named by list (comma-separated files or directories of
 * *.safetensors; "" means fallback_dir, which may be missing: then no
 * model). A file that fails to load is logged and left out (see
 * daemon_models_failed); the call fails, with the path in err, only when
 * files were found and none loads, or when strict and any one fails.
 * default_name "" picks the first audio model by name. At most max_models
 * (0: no limit) are served, at start, on reload and by daemon_models_add_file:
 * files beyond it are left out and reported as failed. */
int daemon_models_create(const char *list, const char *fallback_dir, const char *default_name, int strict,
                         int max_models, daemon_models **out, dn_error *err);
/* The files that failed at the last start or reload: calls fn (may be NULL)
 * with each one's model name and why, under the registry's lock; returns
 * how many. */
size_t daemon_models_failed(daemon_models *r, void (*fn)(void *arg, const char *name, const char *why),
                            void *arg);
void daemon_models_destroy(daemon_models *r);

/* Reloads from the same list: new files are added, files gone are dropped,
 * every other model is replaced by a fresh load of its file; a file that
 * fails keeps its old model (if any). Returns how many files failed (their
 * reasons are logged). */
int daemon_models_reload(daemon_models *r);

size_t daemon_models_count(daemon_models *r);
/* A counted reference (NULL name: the default model), or NULL. */
api_model *daemon_models_acquire(daemon_models *r, const char *name);
void daemon_models_release(api_model *m);
void daemon_models_each(daemon_models *r, void (*fn)(void *arg, api_model *m, int is_default), void *arg);
const dn_model *daemon_model_get(const api_model *m);
const char *daemon_model_name(const api_model *m);
int64_t daemon_model_loaded_at(const api_model *m);
/* The file the model was loaded from. */
const char *daemon_model_path(const api_model *m);

/* Adds a file or directory to the list (unless it is there already) and
 * reloads, as SIGHUP does; used to serve models that jobs made. Returns how
 * many files failed to load (as daemon_models_reload), or a negative DN_E*
 * code with err set when the list could not be extended. */
int daemon_models_add(daemon_models *r, const char *path, dn_error *err);
/* Serves the one file path (NAME.safetensors in folder dir, which joins the
 * list so that reloads and restarts keep serving it), loading only it and
 * none of the others: a model called NAME is replaced (requests in flight
 * finish on the old one), a new name is added. DN_ELIMIT when the name is
 * new and max_models are served (checked before loading); the loader's
 * codes (DN_EIO, DN_EFORMAT, DN_ENOMEM) when it does not load, and then
 * nothing changed. */
int daemon_models_add_file(daemon_models *r, const char *dir, const char *path, dn_error *err);

/* Where the workers run the networks (configuration keys device, gpu_batch). */
typedef struct daemon_serve {
	int device;    /* -1: this CPU; else the CUDA device */
	int max_batch; /* chunks or tiles per GPU forward */
} daemon_serve;

/* A worker's speech contexts, one per model, whose chunks run on `threads`
 * threads (blas_threads: the threads one request uses). *cache starts NULL;
 * free it with daemon_models_cache_free on the worker's thread. With sv on a
 * GPU the networks run in the model's GPU server, which batches every
 * worker's chunks (made on first use: a device error fails that request). */
dn_speech *daemon_models_cache_speech(void **cache, api_model *m, int threads, const daemon_serve *sv,
                                      dn_error *err);
/* The same cache's frame contexts (tiling and U-Net workspaces), one per
 * frame model, whose tiles run on `threads` threads, or on sv's GPU. */
dn_frame *daemon_models_cache_frame(void **cache, api_model *m, int threads, const daemon_serve *sv,
                                    dn_error *err);
void daemon_models_cache_free(void *cache);

#endif
