/*
 * frame.h — the frame denoising pipeline of DESIGN.md ("Data flow: Frame
 * request"): 8-bit pixels → float RGB in [0, 1] → U-Net in overlapping tiles
 * → 8-bit pixels.
 *
 * Tiles are cut so that the result does not depend on them: every tile's
 * origin is a multiple of 2^depth (so max-pooling sees the same grid as the
 * whole frame would) and each tile is read with a margin at least as wide as
 * the network's receptive field, of which only the centre is kept. Tiled and
 * whole-frame output therefore agree to rounding, with no seam, while the
 * network's memory stays bounded by the tile size instead of the frame size
 * (8-bit frames are converted to float tile by tile, too).
 *
 * Grayscale frames go through the RGB model with the channel replicated and
 * come back as the mean of the three output channels.
 *
 * A dn_frame is one thread's context bound to a frame model: it owns the
 * tile buffers and the U-Net workspace (dn_unet_ws) and borrows the model,
 * which must outlive it. Several dn_frame may share one model concurrently.
 */
#ifndef DN_FRAME_H
#define DN_FRAME_H

#include "core/dn.h"
#include "core/image/image.h"
#include "core/model/model.h"

typedef struct dn_frame_params {
	int tile;    /* output pixels kept per tile side (default 384; 0: whole frame
	                in one network call); rounded up to a multiple of 2^depth */
	int margin;  /* context read around each tile (0: dn_frame_margin(depth)) */
	int threads; /* tiles run at once, each on its own thread (default 1; 0
	                counts as 1, at most 64): the same result, one tile's
	                memory per thread. Meant for single-threaded GEMMs. */
	dn_net_runner runner; /* where the network runs: .run NULL (default) the
	                         model's folded net on this CPU; else e.g. a GPU
	                         server, called with one tile of at most
	                         1 x 3 x (tile + 2 margin) x (tile + 2 margin) */
} dn_frame_params;

dn_frame_params dn_frame_default_params(void);

/* The largest side of the network input one tile of m can have with p
 * (tile + 2 margin, rounded as dn_frame_create rounds them): the size a
 * runner must take. */
int dn_frame_tile_extent(const dn_model *m, const dn_frame_params *p);

/* A margin, in pixels, that covers the receptive field of a U-Net of this
 * depth (8·2^depth: the field's radius is 8·2^depth − 6, rounded up to a
 * multiple of 2^depth). */
int dn_frame_margin(int depth);

typedef struct dn_frame dn_frame;

/* DN_EINVAL if the model is not a frame model with 3 channels in and out. */
int dn_frame_create(const dn_model *m, const dn_frame_params *p, dn_frame **out, dn_error *err);
void dn_frame_destroy(dn_frame *f);

/* Denoises planar float RGB: in and out are 3 x h x w in [0, 1] (out is not
 * clamped; it may alias nothing). DN_ENOMEM, DN_EINVAL. */
int dn_frame_denoise_planar(dn_frame *f, const float *in, int h, int w, float *out, dn_error *err);

/* Until changed, every denoise call on f asks fn(arg, err) between tiles and
 * stops with DN_ECANCELLED when it answers non-zero (fn NULL: never). */
void dn_frame_set_cancel(dn_frame *f, dn_cancel_fn fn, void *arg);

/* Denoises an 8-bit image (1 or 3 channels); out gets the same size,
 * channels and subsampling (caller frees it with dn_image_free). */
int dn_frame_denoise(dn_frame *f, const dn_image *in, dn_image *out, dn_error *err);

/* 8-bit interleaved -> planar float RGB in [0, 1] (gray is replicated). */
void dn_frame_to_planar(const dn_image *img, float *rgb);

#endif
