/*
 * stream.h — live denoising: PCM in, denoised PCM out, with bounded latency.
 *
 * The streaming twin of dn_speech (speech.h) for a causal model (a U-Net
 * trained with causal = 1): the caller pushes PCM of any size, whenever it
 * arrives, and takes back the denoised PCM that is ready. The STFT is kept
 * incrementally (a new frame every hop of input), the network runs one
 * frame at a time (dn_unet_stream: each layer keeps its last two input
 * frames), and overlap-add releases each output sample as soon as the last
 * frame covering it is done, so a hop of input costs one frame of network
 * and the output lags the input by the model's algorithmic latency (its
 * STFT window, dn_model_stream_latency) plus, at other rates than the
 * model's, the resamplers' delay.
 *
 * Output does not depend on how the input was cut: every stage works frame
 * by frame, so 10 ms, 37 ms or 1 s pieces give the same samples bit for bit.
 * After dn_stream_finish the output has exactly as many frames as the input
 * and equals dn_speech_denoise of the whole input run as one chunk, up to
 * the GEMMs' rounding; the one difference is the limiter, which a stream
 * (not knowing the peak ahead) applies to every sample above 0.9, where the
 * whole-file pipeline does so only when the file's peak exceeds full scale.
 *
 * A dn_stream borrows the model (which must outlive it) and owns everything
 * else; one thread uses it at a time. Its memory is fixed at creation apart
 * from the output buffer, which holds the output of one push (about the
 * push's size).
 */
#ifndef DN_STREAM_H
#define DN_STREAM_H

#include <stddef.h>

#include "core/dn.h"
#include "core/model/model.h"

/* Sample formats on the wire: little-endian 16-bit integers or 32-bit floats,
 * channels interleaved. */
enum dn_pcm_format { DN_PCM_S16LE = 0, DN_PCM_F32LE = 1 };

/* "s16le" / "f32le" -> enum dn_pcm_format, -1 for anything else. */
int dn_pcm_format_parse(const char *name);
const char *dn_pcm_format_name(int fmt);
/* Bytes per sample of a format (2 or 4). */
size_t dn_pcm_sample_bytes(int fmt);
/* samples values from bytes (little-endian, whatever the host) to floats
 * in [-1, 1] (s16: v / 32768), and back (s16: clipped, rounded). */
void dn_pcm_decode(const void *bytes, size_t samples, int fmt, float *out);
void dn_pcm_encode(const float *x, size_t samples, int fmt, void *bytes);

typedef struct dn_stream_params {
	int rate;     /* the PCM's rate in Hz, 8000..192000; 0: the model's */
	int channels; /* 1..8, each denoised on its own */
} dn_stream_params;

dn_stream_params dn_stream_default_params(void);

typedef struct dn_stream dn_stream;

/* DN_EUNSUPPORTED for a model that cannot stream (not causal: the message
 * says so), DN_EINVAL for bad parameters or a model the speech pipeline
 * refuses, DN_ENOMEM. */
int dn_stream_create(const dn_model *m, const dn_stream_params *p, dn_stream **out, dn_error *err);
void dn_stream_destroy(dn_stream *s);

/* Pushes frames of interleaved float PCM. DN_EINVAL after finish. */
int dn_stream_push(dn_stream *s, const float *pcm, size_t frames, dn_error *err);
/* Pushes n bytes of PCM in fmt; a trailing partial frame is kept until the
 * rest of it arrives. */
int dn_stream_push_bytes(dn_stream *s, const void *bytes, size_t n, int fmt, dn_error *err);
/* End of input: the rest of the output, exactly as many frames in all as
 * were pushed (a partial frame of bytes is dropped). */
int dn_stream_finish(dn_stream *s, dn_error *err);

/* The output made since the last take, as interleaved float frames: owned
 * by s, valid until the next call on s. */
const float *dn_stream_take(dn_stream *s, size_t *frames);

/* Frames pushed and given back so far (input rate). */
size_t dn_stream_frames_in(const dn_stream *s);
size_t dn_stream_frames_out(const dn_stream *s);
/* Network frames run so far (per channel). */
size_t dn_stream_net_frames(const dn_stream *s);
/* The algorithmic latency in seconds: the model's (dn_model_stream_latency)
 * plus the resamplers' delay when the rate differs from the model's. */
double dn_stream_latency(const dn_stream *s);

#endif
