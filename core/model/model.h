/*
 * model.h — a trained model as a file on disk and as a loaded object.
 *
 * A dn_model owns the network (training parameters), the folded inference
 * snapshot that serving threads share read-only, and the metadata that says
 * how to use it: kind (audio or frame), architecture, sample rate, STFT
 * parameters, input scaling, output mode, version and provenance. On disk it
 * is a safetensors file whose __metadata__ carries those fields (keys below).
 */
#ifndef DN_MODEL_H
#define DN_MODEL_H

#include "core/dn.h"
#include "core/nn/unet.h"

enum dn_model_kind { DN_MODEL_AUDIO = 0, DN_MODEL_FRAME = 1 };
/* How a magnitude spectrogram is scaled before the network (audio models). */
enum dn_scaling { DN_SCALE_NONE = 0, DN_SCALE_LOG1P = 1, DN_SCALE_POWER = 2 };
/* What the network's output means (audio models): the scaled clean
 * magnitude; a mask m on the magnitude (|S| = m |X|); or a mask on the
 * power-compressed magnitude (|S|^p = m |X|^p, so |S| = m^(1/p) |X|; needs
 * DN_SCALE_POWER), trained so that the error is measured on compressed
 * magnitudes, which weighs quiet bins closer to how loud they sound. */
enum dn_output { DN_OUTPUT_MAGNITUDE = 0, DN_OUTPUT_MASK = 1, DN_OUTPUT_CMASK = 2 };

typedef struct dn_model_info {
	int kind;         /* enum dn_model_kind */
	char name[64];    /* "speech-unet", ... */
	char version[32]; /* "1", "2026-11-25", ... */
	dn_unet_config arch;
	/* audio */
	int sample_rate;   /* Hz, 16000 by default */
	int n_fft;         /* 512 */
	int hop;           /* 128 */
	int scaling;       /* enum dn_scaling */
	float power;       /* exponent for DN_SCALE_POWER (e.g. 0.3) */
	float input_scale; /* multiplier applied after scaling */
	int output;        /* enum dn_output */
	int lookahead;     /* STFT frames the network sees past the frame it
	                      outputs (0..DN_MODEL_MAX_LOOKAHEAD; causal audio
	                      models only): its output column t is frame
	                      t - lookahead, so streaming holds that many hops
	                      back. 0 for a model file without the key. */
} dn_model_info;

#define DN_MODEL_MAX_LOOKAHEAD 8

/* "magnitude", "mask", "cmask" (the name in files and in /v1/models). */
const char *dn_model_output_name(int output);

/* Algorithmic latency of streaming the model, in seconds: the STFT window
 * (a sample's last frame needs n_fft samples after the frame's start) plus
 * the network's lookahead, lookahead hops. 0 when the model cannot stream
 * (a frame model, or a U-Net that is not causal). Saved as the metadata
 * "latency_ms" of a causal audio model. */
double dn_model_stream_latency(const dn_model_info *i);

/* Defaults for a speech model with the seed architecture. */
dn_model_info dn_model_default_info(int kind);

typedef struct dn_model dn_model;

/* Takes ownership of net (also on failure) and builds the folded snapshot. */
int dn_model_create(const dn_model_info *info, dn_unet *net, dn_model **out, dn_error *err);
/* Loads a safetensors model file: metadata checked, every tensor present with
 * the shape the architecture implies. */
int dn_model_load(const char *path, dn_model **out, dn_error *err);
/* Saves atomically; `extra` metadata pairs (key, value, key, value, ..., NULL)
 * may add provenance such as training data and command. */
int dn_model_save(const dn_model *m, const char *path, const char *const *extra, dn_error *err);
void dn_model_destroy(dn_model *m);

const dn_model_info *dn_model_get_info(const dn_model *m);
/* Sets the lookahead (frames) of a causal audio model, e.g. of a model a
 * training run starts from (--init): the weights stay, the meaning of the
 * output columns moves. DN_EINVAL outside 0..DN_MODEL_MAX_LOOKAHEAD or for
 * a model that is not a causal audio model. */
int dn_model_set_lookahead(dn_model *m, int frames, dn_error *err);
/* The folded network, shared read-only between threads. */
const dn_unet_infer *dn_model_infer(const dn_model *m);
/* The trainable network (for further training); owned by the model. */
dn_unet *dn_model_unet(dn_model *m);
/* Rebuilds the folded snapshot from the network's current weights (after
 * training). Not safe while other threads use dn_model_infer(m). */
int dn_model_refresh(dn_model *m, dn_error *err);
/* Sets a metadata string (provenance, metrics) saved with the model; a NULL
 * value removes the key. */
int dn_model_set_metadata(dn_model *m, const char *key, const char *value, dn_error *err);
/* Any metadata value read from the file or set by save (NULL if absent). */
const char *dn_model_metadata(const dn_model *m, const char *key);
size_t dn_model_metadata_count(const dn_model *m);
int dn_model_metadata_at(const dn_model *m, size_t i, const char **key, const char **value);

#endif
