/*
 * frame.c — tiled frame denoising (frame.h).
 *
 * The frame is cut into a grid of core tiles of `tile` x `tile` output
 * pixels. For each, the network reads the core grown by `margin` on every
 * side (clipped at the frame's edges) and the core is copied out of its
 * result. Because origins and margins are multiples of 2^depth, a clipped
 * tile that reaches the bottom or right edge is padded by dn_unet_infer_run
 * exactly as the whole frame would be, so the edges agree too.
 *
 * Tiles write disjoint parts of the output, so with threads > 1 they simply
 * run on that many threads (dn_threads_run), each with its own workspace and
 * tile tensors: the same pixels as one thread gives.
 */
#include "core/image/frame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/tensor.h"
#include "core/nn/unet.h"
#include "core/util/threads.h"

struct dn_frame {
	const dn_model *model;
	const dn_unet_infer *inf;
	dn_frame_params p;
	int align;
	int nslot;
	struct frame_slot {
		dn_unet_ws *ws;
		dn_tensor x, y; /* one tile in, one tile out */
	} * slot;               /* one per thread */
	dn_cancel_fn cancel; /* asked between tiles, from any tile thread; NULL: never */
	void *cancel_arg;
};

void dn_frame_set_cancel(dn_frame *f, dn_cancel_fn fn, void *arg)
{
	f->cancel = fn;
	f->cancel_arg = arg;
}

dn_frame_params dn_frame_default_params(void)
{
	/* With the depth-3 margin of 64, a 384 tile computes 512 x 512 for
	 * 384 x 384 kept (1.8x the work of the whole frame at once, against
	 * 2.25x for 256) and holds about 100 MB of activations at 16 base
	 * filters: a compromise between redundant work and memory. */
	return (dn_frame_params){.tile = 384, .margin = 0, .threads = 1};
}

int dn_frame_margin(int depth)
{
	return 8 << depth;
}

static int round_up(int v, int m)
{
	return (v + m - 1) / m * m;
}

int dn_frame_tile_extent(const dn_model *m, const dn_frame_params *p)
{
	const int align = 1 << dn_model_get_info(m)->arch.depth;
	const int margin = round_up(p->margin ? p->margin : dn_frame_margin(dn_model_get_info(m)->arch.depth), align);
	return p->tile ? round_up(p->tile, align) + 2 * margin : 0;
}

int dn_frame_create(const dn_model *m, const dn_frame_params *p, dn_frame **out, dn_error *err)
{
	if (!m || !out)
		return dn_error_set(err, DN_EINVAL, "dn_frame_create: no model or output");
	const dn_model_info *mi = dn_model_get_info(m);
	if (mi->kind != DN_MODEL_FRAME)
		return dn_error_set(err, DN_EINVAL, "model \"%s\" is not a frame model", mi->name);
	if (mi->arch.in_channels != 3 || mi->arch.out_channels != 3)
		return dn_error_set(err, DN_EINVAL, "frame model \"%s\" has %d/%d channels, not 3/3 (RGB)",
		                    mi->name, mi->arch.in_channels, mi->arch.out_channels);
	dn_frame_params prm = p ? *p : dn_frame_default_params();
	if (prm.tile < 0 || prm.tile > 8192 || prm.margin < 0 || prm.margin > 4096)
		return dn_error_set(err, DN_EINVAL, "tile %d / margin %d: must be 0..8192 / 0..4096",
		                    prm.tile, prm.margin);
	if (prm.threads < 0 || prm.threads > 64)
		return dn_error_set(err, DN_EINVAL, "%d threads: must be 1..64", prm.threads);
	if (prm.threads == 0)
		prm.threads = 1;
	dn_frame *f = calloc(1, sizeof *f);
	if (!f)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a frame context");
	f->model = m;
	f->inf = dn_model_infer(m);
	f->align = 1 << mi->arch.depth;
	if (prm.margin == 0)
		prm.margin = dn_frame_margin(mi->arch.depth);
	prm.margin = round_up(prm.margin, f->align);
	if (prm.tile)
		prm.tile = round_up(prm.tile, f->align);
	f->p = prm;
	f->nslot = prm.threads;
	f->slot = calloc((size_t)f->nslot, sizeof *f->slot);
	int ok = f->slot != NULL;
	for (int k = 0; ok && k < f->nslot; k++)
		ok = (f->slot[k].ws = dn_unet_ws_create()) != NULL;
	if (!ok) {
		dn_frame_destroy(f);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a U-Net workspace");
	}
	*out = f;
	return DN_OK;
}

void dn_frame_destroy(dn_frame *f)
{
	if (!f)
		return;
	for (int k = 0; f->slot && k < f->nslot; k++) {
		dn_unet_ws_destroy(f->slot[k].ws);
		dn_tensor_free(&f->slot[k].x);
		dn_tensor_free(&f->slot[k].y);
	}
	free(f->slot);
	free(f);
}

/* Pixels come from and go to either planar float RGB or an 8-bit image, so
 * that an 8-bit frame is converted tile by tile and no full-frame float copy
 * exists: memory is the frame's bytes plus one tile's worth of network. */
typedef struct pix {
	const float *in;
	float *out;
	const dn_image *img_in;
	dn_image *img_out;
	int h, w;
} pix;

static uint8_t to_u8(float v)
{
	v = v * 255.0f + 0.5f;
	return v <= 0.0f ? 0 : v >= 255.0f ? 255 : (uint8_t)v;
}

/* Runs the network on rows [y0, y1) x columns [x0, x1) and writes the part
 * [cy0, cy1) x [cx0, cx1) of its output. */
static int run_tile(dn_frame *f, struct frame_slot *sl, pix *px, int y0, int y1, int x0, int x1, int cy0,
                    int cy1, int cx0, int cx1, dn_error *err)
{
	const int th = y1 - y0, tw = x1 - x0, h = px->h, w = px->w;
	const float is = dn_model_get_info(f->model)->input_scale, scale = is > 0.0f ? is : 1.0f,
	            unscale = 1.0f / scale;
	int rc = dn_tensor_resize(&sl->x, 1, 3, th, tw, err);
	if (rc)
		return rc;
	for (int c = 0; c < 3; c++)
		for (int i = 0; i < th; i++) {
			float *d = sl->x.data + ((size_t)c * th + i) * tw;
			if (px->in) {
				const float *s = px->in + ((size_t)c * h + y0 + i) * w + x0;
				for (int j = 0; j < tw; j++)
					d[j] = s[j] * scale;
			} else {
				const int ch = px->img_in->channels, cc = ch == 3 ? c : 0;
				const uint8_t *s = px->img_in->data + (((size_t)(y0 + i) * w + x0) * ch);
				for (int j = 0; j < tw; j++)
					d[j] = s[(size_t)j * ch + cc] * (scale / 255.0f);
			}
		}
	rc = f->p.runner.run ? f->p.runner.run(f->p.runner.ctx, &sl->x, &sl->y, err)
	                     : dn_unet_infer_run(f->inf, sl->ws, &sl->x, &sl->y, err);
	if (rc)
		return rc;
	const size_t plane = (size_t)th * tw;
	for (int i = cy0; i < cy1; i++) {
		const float *s = sl->y.data + (size_t)(i - y0) * tw + (cx0 - x0);
		if (px->out) {
			for (int c = 0; c < 3; c++) {
				float *d = px->out + ((size_t)c * h + i) * w + cx0;
				for (int j = 0; j < cx1 - cx0; j++)
					d[j] = s[c * plane + j] * unscale;
			}
		} else if (px->img_out->channels == 3) {
			uint8_t *d = px->img_out->data + ((size_t)i * w + cx0) * 3;
			for (int j = 0; j < cx1 - cx0; j++)
				for (int c = 0; c < 3; c++)
					d[3 * j + c] = to_u8(s[c * plane + j] * unscale);
		} else {
			uint8_t *d = px->img_out->data + (size_t)i * w + cx0;
			for (int j = 0; j < cx1 - cx0; j++)
				d[j] = to_u8((s[j] + s[plane + j] + s[2 * plane + j]) * (unscale / 3.0f));
		}
	}
	return DN_OK;
}

typedef struct tiles {
	dn_frame *f;
	pix *px;
	int nx; /* tiles per row */
} tiles;

static int tile_task(void *arg, int task, int slot, dn_error *err)
{
	tiles *T = arg;
	dn_frame *f = T->f;
	const int t = f->p.tile, m = f->p.margin, h = T->px->h, w = T->px->w;
	const int cy = task / T->nx * t, cx = task % T->nx * t;
	const int cy1 = cy + t < h ? cy + t : h, cx1 = cx + t < w ? cx + t : w;
	const int y0 = cy - m > 0 ? cy - m : 0, x0 = cx - m > 0 ? cx - m : 0;
	const int y1 = cy1 + m < h ? cy1 + m : h, x1 = cx1 + m < w ? cx1 + m : w;
	if (f->cancel && f->cancel(f->cancel_arg, err))
		return err ? (err->code = DN_ECANCELLED) : DN_ECANCELLED;
	return run_tile(f, &f->slot[slot], T->px, y0, y1, x0, x1, cy, cy1, cx, cx1, err);
}

static int run_all(dn_frame *f, pix *px, dn_error *err)
{
	const int t = f->p.tile, h = px->h, w = px->w;
	if (t == 0 || (t >= h && t >= w))
		return run_tile(f, &f->slot[0], px, 0, h, 0, w, 0, h, 0, w, err);
	tiles T = {.f = f, .px = px, .nx = (w + t - 1) / t};
	const int ny = (h + t - 1) / t;
	return dn_threads_run(f->nslot, ny * T.nx, tile_task, &T, err);
}

int dn_frame_denoise_planar(dn_frame *f, const float *in, int h, int w, float *out, dn_error *err)
{
	if (!f || !in || !out || h < 1 || w < 1)
		return dn_error_set(err, DN_EINVAL, "dn_frame_denoise_planar: no frame or a %dx%d size", w,
		                    h);
	pix px = {.in = in, .out = out, .h = h, .w = w};
	return run_all(f, &px, err);
}

void dn_frame_to_planar(const dn_image *img, float *rgb)
{
	const size_t n = (size_t)img->w * img->h;
	const int ch = img->channels;
	for (size_t i = 0; i < n; i++)
		for (int c = 0; c < 3; c++)
			rgb[c * n + i] = img->data[i * ch + (ch == 3 ? c : 0)] * (1.0f / 255.0f);
}

int dn_frame_denoise(dn_frame *f, const dn_image *in, dn_image *out, dn_error *err)
{
	if (!f || !in || !in->data || !out)
		return dn_error_set(err, DN_EINVAL, "dn_frame_denoise: no frame, input or output");
	if (in->channels != 1 && in->channels != 3)
		return dn_error_set(err, DN_EINVAL, "a frame has 1 or 3 channels, not %d", in->channels);
	int rc = dn_image_alloc(out, in->w, in->h, in->channels, err);
	if (rc)
		return rc;
	out->subsamp = in->subsamp;
	out->progressive = in->progressive;
	out->format = in->format;
	pix px = {.img_in = in, .img_out = out, .h = in->h, .w = in->w};
	rc = run_all(f, &px, err);
	if (rc)
		dn_image_free(out);
	return rc;
}
