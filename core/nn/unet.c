/*
 * unet.c — the U-Net: encoder blocks of (conv3x3 → BN → ReLU) x 2 → max-pool,
 * a bottleneck of two such units, decoder blocks of upsample x2 → concat skip
 * → (conv3x3 → BN → ReLU) x 2, and a 1x1 output convolution with the
 * configured activation (DESIGN.md, "The seed's model").
 *
 * Units are stored in execution order: enc0.1, enc0.2, …, mid.1, mid.2,
 * dec(depth−1).1, …, dec0.2. Trainable parameters live in one contiguous
 * array (so Adam is one loop), batch-norm running statistics in another.
 * Names follow PyTorch's state_dict convention for the reference model in
 * tests/torch_unet.py, so weights move between the two by name.
 *
 * The training path keeps every unit's pre-BN and post-ReLU activation for
 * the backward pass; the inference path (dn_unet_infer) uses folded weights
 * and a per-thread workspace that only grows.
 */
#include "core/nn/unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/nn/layers.h"
#include "core/nn/amx.h"
#include "core/nn/direct.h"

#define MAX_DEPTH DN_UNET_MAX_DEPTH
#define MAX_UNITS (4 * MAX_DEPTH + 2)
/* im2col scratch: 4 M floats (16 MB) bounds the largest block. */
#define COL_BUDGET ((size_t)4 << 20)

struct unit {
	dn_conv2d conv;
	dn_batchnorm bn;
	dn_tensor z; /* conv output, BN input */
	dn_tensor y; /* BN → ReLU output */
	dn_tensor g; /* gradient w.r.t. y */
};

struct dn_unet {
	dn_unet_config cfg;
	float *params, *grads, *state, *bnscratch;
	size_t n_train, n_state;
	dn_param *plist;
	size_t np;
	char *names;
	int nunits;
	struct unit units[MAX_UNITS];
	dn_conv2d out;
	/* training activations */
	dn_tensor xp, pooled[MAX_DEPTH], cat[MAX_DEPTH], outa, y;
	/* training gradients */
	dn_tensor gpool[MAX_DEPTH], gcat[MAX_DEPTH], gskip[MAX_DEPTH], gz, gout;
	float *col, *dcol;
	size_t col_cap;
	int h, w; /* unpadded size of the last forward */
	int trained_forward;
};

dn_unet_config dn_unet_default_config(void)
{
	return (dn_unet_config){.in_channels = 1,
	                        .out_channels = 1,
	                        .base_filters = 32,
	                        .depth = 3,
	                        .out_act = DN_ACT_RELU,
	                        .residual = 0};
}

int dn_unet_config_check(const dn_unet_config *c, dn_error *err)
{
	if (c->in_channels < 1 || c->in_channels > 16 || c->out_channels < 1 || c->out_channels > 16)
		return dn_error_set(err, DN_EINVAL, "channels in %d / out %d: each must be 1..16",
		                    c->in_channels, c->out_channels);
	if (c->depth < 1 || c->depth > MAX_DEPTH)
		return dn_error_set(err, DN_EINVAL, "depth %d: must be 1..%d", c->depth, MAX_DEPTH);
	if (c->base_filters < 1 || c->base_filters > DN_UNET_MAX_FILTERS ||
	    (c->base_filters << c->depth) > 4096)
		return dn_error_set(err, DN_EINVAL,
		                    "base_filters %d: must be 1..%d with base·2^depth <= 4096",
		                    c->base_filters, DN_UNET_MAX_FILTERS);
	if (c->out_act != DN_ACT_NONE && c->out_act != DN_ACT_RELU && c->out_act != DN_ACT_SIGMOID)
		return dn_error_set(err, DN_EINVAL, "unknown output activation %d", c->out_act);
	if (c->causal != 0 && c->causal != 1)
		return dn_error_set(err, DN_EINVAL, "causal is %d: must be 0 or 1", c->causal);
	if (c->residual && c->in_channels != c->out_channels)
		return dn_error_set(err, DN_EINVAL,
		                    "a residual output needs in_channels == out_channels (%d != %d)",
		                    c->in_channels, c->out_channels);
	return DN_OK;
}

/* Input and output channels of every unit, and its name prefix. */
static void unit_shape(const dn_unet_config *c, int u, int *cin, int *cout, char *name, size_t name_len)
{
	const int b = c->base_filters, d = c->depth;
	if (u < 2 * d) {
		int level = u / 2, j = u % 2;
		*cout = b << level;
		*cin = j ? *cout : (level ? b << (level - 1) : c->in_channels);
		snprintf(name, name_len, "enc%d.%%s%d", level, j + 1);
	} else if (u < 2 * d + 2) {
		int j = u - 2 * d;
		*cout = b << d;
		*cin = j ? *cout : b << (d - 1);
		snprintf(name, name_len, "mid.%%s%d", j + 1);
	} else {
		int k = u - 2 * d - 2, level = d - 1 - k / 2, j = k % 2;
		*cout = b << level;
		*cin = j ? *cout : (b << (level + 1)) + (b << level);
		snprintf(name, name_len, "dec%d.%%s%d", level, j + 1);
	}
}

const dn_unet_config *dn_unet_get_config(const dn_unet *net)
{
	return &net->cfg;
}

/* Box–Muller normals from a splitmix64 stream: deterministic per seed. */
static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double uniform01(uint64_t *s)
{
	return ((splitmix64(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void fill_normal(float *x, size_t n, double std, uint64_t *s)
{
	for (size_t i = 0; i < n; i++) {
		double u1 = uniform01(s), u2 = uniform01(s);
		x[i] = (float)(std * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
	}
}

static int add_param(dn_unet *net, char **np, const char *name, float *data, float *grad, int ndim,
                     const int *shape)
{
	dn_param *p = &net->plist[net->np++];
	strcpy(*np, name);
	p->name = *np;
	*np += strlen(name) + 1;
	p->data = data;
	p->grad = grad;
	p->state = data >= net->state && data < net->state + net->n_state;
	p->ndim = ndim;
	p->size = 1;
	for (int i = 0; i < ndim; i++) {
		p->shape[i] = shape[i];
		p->size *= (size_t)shape[i];
	}
	return 0;
}

int dn_unet_create(const dn_unet_config *cfg, uint64_t seed, dn_unet **out, dn_error *err)
{
	int rc = dn_unet_config_check(cfg, err);
	if (rc)
		return rc;
	dn_unet *net = calloc(1, sizeof *net);
	if (!net)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the network");
	net->cfg = *cfg;
	net->nunits = 4 * cfg->depth + 2;

	/* Sizes first: then one allocation each for parameters, gradients, state. */
	size_t n_train = 0, n_state = 0, max_c = 0, kmax = 0;
	for (int u = 0; u < net->nunits; u++) {
		int cin, cout;
		char fmt[32];
		unit_shape(cfg, u, &cin, &cout, fmt, sizeof fmt);
		n_train += (size_t)cout * cin * 9 + cout + 2 * (size_t)cout;
		n_state += 2 * (size_t)cout;
		if ((size_t)cout > max_c)
			max_c = cout;
		if ((size_t)cin * 9 > kmax)
			kmax = (size_t)cin * 9;
	}
	n_train += (size_t)cfg->out_channels * cfg->base_filters + cfg->out_channels;
	net->n_train = n_train;
	net->n_state = n_state;
	net->params = dn_alloc(n_train * sizeof(float));
	net->state = dn_alloc(n_state * sizeof(float));
	net->bnscratch = dn_alloc(2 * n_state * sizeof(float));
	size_t nparams = (size_t)net->nunits * 6 + 2;
	net->plist = calloc(nparams, sizeof *net->plist);
	net->names = malloc(nparams * 40);
	/* Gradients and the im2col scratch (col, dcol: 32 MiB) are only for
	 * training: train_buffers() allocates them on the first training call,
	 * so a model loaded to serve costs its weights alone. */
	net->col_cap = COL_BUDGET > kmax * 64 ? COL_BUDGET : kmax * 64;
	if (!net->params || !net->state || !net->bnscratch || !net->plist || !net->names) {
		dn_unet_destroy(net);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a network of %zu parameters", n_train);
	}

	uint64_t rng = seed;
	float *pp = net->params, *gp = NULL, *sp = net->state, *bs = net->bnscratch;
	char *names = net->names, name[40], fmt[32];
	for (int u = 0; u < net->nunits; u++) {
		struct unit *un = &net->units[u];
		int cin, cout;
		unit_shape(cfg, u, &cin, &cout, fmt, sizeof fmt);
		size_t kdim = (size_t)cin * 9;
		un->conv =
		    (dn_conv2d){.cin = cin, .cout = cout, .k = 3, .causal = cfg->causal, .w = pp, .dw = gp};
		/* He (Kaiming normal, fan-in) initialisation for ReLU units. */
		fill_normal(pp, (size_t)cout * kdim, sqrt(2.0 / (double)kdim), &rng);
		int wshape[4] = {cout, cin, 3, 3}, vshape[1] = {cout};
		snprintf(name, sizeof name, fmt, "conv");
		strcat(name, ".weight");
		add_param(net, &names, name, pp, gp, 4, wshape);
		pp += (size_t)cout * kdim;
		un->conv.b = pp;
		un->conv.db = gp;
		snprintf(name, sizeof name, fmt, "conv");
		strcat(name, ".bias");
		add_param(net, &names, name, pp, gp, 1, vshape);
		pp += cout;
		un->bn = (dn_batchnorm){.c = cout, .gamma = pp, .beta = pp + cout};
		for (int i = 0; i < cout; i++)
			pp[i] = 1.0f;
		const char *bn_names[4] = {".weight", ".bias", ".running_mean", ".running_var"};
		float *bn_data[4] = {pp, pp + cout, sp, sp + cout};
		float *bn_grad[4] = {NULL, NULL, NULL, NULL};
		for (int i = 0; i < 4; i++) {
			snprintf(name, sizeof name, fmt, "bn");
			strcat(name, bn_names[i]);
			add_param(net, &names, name, bn_data[i], bn_grad[i], 1, vshape);
		}
		pp += 2 * (size_t)cout;
		un->bn.mean = sp;
		un->bn.var = sp + cout;
		for (int i = 0; i < cout; i++)
			sp[cout + i] = 1.0f;
		sp += 2 * (size_t)cout;
		un->bn.bmean = bs;
		un->bn.binvstd = bs + cout;
		bs += 2 * (size_t)cout;
	}
	int oc = cfg->out_channels, ob = cfg->base_filters;
	net->out = (dn_conv2d){.cin = ob, .cout = oc, .k = 1, .w = pp, .b = pp + (size_t)oc * ob};
	fill_normal(pp, (size_t)oc * ob, sqrt(2.0 / (double)ob), &rng);
	int oshape[4] = {oc, ob, 1, 1}, obshape[1] = {oc};
	add_param(net, &names, "out.weight", pp, gp, 4, oshape);
	add_param(net, &names, "out.bias", pp + (size_t)oc * ob, NULL, 1, obshape);
	*out = net;
	return DN_OK;
}

/* The gradient of a trainable pointer: gradients mirror the parameter array
 * offset for offset. */
static float *grad_of(dn_unet *net, const float *p)
{
	return net->grads + (p - net->params);
}

/* Allocates what only training needs — gradients, the im2col columns and
 * their gradient — on the first training call, and points every layer's
 * gradient fields into them. */
static int train_buffers(dn_unet *net, dn_error *err)
{
	if (net->grads)
		return DN_OK;
	float *g = dn_alloc(net->n_train * sizeof(float));
	float *col = dn_alloc(net->col_cap * sizeof(float));
	float *dcol = dn_alloc(net->col_cap * sizeof(float));
	if (!g || !col || !dcol) {
		dn_free(g);
		dn_free(col);
		dn_free(dcol);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate training buffers for %zu parameters",
		                    net->n_train);
	}
	net->grads = g;
	net->col = col;
	net->dcol = dcol;
	for (int u = 0; u < net->nunits; u++) {
		struct unit *un = &net->units[u];
		un->conv.dw = grad_of(net, un->conv.w);
		un->conv.db = grad_of(net, un->conv.b);
		un->bn.dgamma = grad_of(net, un->bn.gamma);
		un->bn.dbeta = grad_of(net, un->bn.beta);
	}
	net->out.dw = grad_of(net, net->out.w);
	net->out.db = grad_of(net, net->out.b);
	for (size_t i = 0; i < net->np; i++)
		if (net->plist[i].data >= net->params && net->plist[i].data < net->params + net->n_train)
			net->plist[i].grad = grad_of(net, net->plist[i].data);
	return DN_OK;
}

static int padded(int v, int depth);

/* Padded width, and the width at a pooling level: a causal net pools the
 * height only and never pads the width. */
static int padded_w(const dn_unet_config *c, int w)
{
	return c->causal ? w : padded(w, c->depth);
}

static int level_w(const dn_unet_config *c, int w, int level)
{
	return c->causal ? w : w >> level;
}

double dn_unet_train_bytes(const dn_unet_config *cfg, int batch, int h, int w)
{
	if (dn_unet_config_check(cfg, NULL) != DN_OK || batch < 1 || h < 1 || w < 1)
		return 0;
	const double b = batch, f = cfg->base_filters;
	const int nunits = 4 * cfg->depth + 2;
	double weights = 0, acts = 0, kmax = 0;
	for (int u = 0; u < nunits; u++) {
		int cin, cout;
		char fmt[32];
		unit_shape(cfg, u, &cin, &cout, fmt, sizeof fmt);
		weights += (double)cout * cin * 9 + 3.0 * cout;
		if (cin * 9.0 > kmax)
			kmax = cin * 9.0;
	}
	weights += (double)cfg->out_channels * f + cfg->out_channels;
	double hp = padded(h, cfg->depth), wp = padded_w(cfg, w);
	for (int l = 0; l <= cfg->depth; l++) {
		double area = (hp / (1 << l)) * level_w(cfg, (int)wp, l), c = f * (1 << l);
		/* Each conv unit keeps z, y and g; an encoder level has 2 units,
		 * the bottleneck 2, a decoder level 2 plus its concatenation and
		 * that one's gradient (3c channels each), and the pooled map with
		 * its gradient. */
		if (l < cfg->depth)
			acts += b * area * (4 * 3 * c + 2 * 3 * c) + 2 * b * c * area / (cfg->causal ? 2 : 4);
		else
			acts += b * area * 2 * 3 * c;
	}
	acts += 3 * b * hp * wp * (cfg->in_channels + 2.0 * cfg->out_channels);
	double col = (double)COL_BUDGET > kmax * 64 ? (double)COL_BUDGET : kmax * 64;
	return sizeof(float) * (4 * weights + acts + 2 * col);
}

size_t dn_unet_bytes(const dn_unet *net)
{
	size_t n = (net->n_train + 3 * net->n_state) * sizeof(float);
	if (net->grads)
		n += (net->n_train + 2 * net->col_cap) * sizeof(float);
	return n;
}

static void free_tensors(dn_tensor *t, int n)
{
	for (int i = 0; i < n; i++)
		dn_tensor_free(&t[i]);
}

void dn_unet_destroy(dn_unet *net)
{
	if (!net)
		return;
	for (int u = 0; u < MAX_UNITS; u++) {
		dn_tensor_free(&net->units[u].z);
		dn_tensor_free(&net->units[u].y);
		dn_tensor_free(&net->units[u].g);
	}
	free_tensors(net->pooled, MAX_DEPTH);
	free_tensors(net->cat, MAX_DEPTH);
	free_tensors(net->gpool, MAX_DEPTH);
	free_tensors(net->gcat, MAX_DEPTH);
	free_tensors(net->gskip, MAX_DEPTH);
	dn_tensor_free(&net->xp);
	dn_tensor_free(&net->outa);
	dn_tensor_free(&net->y);
	dn_tensor_free(&net->gz);
	dn_tensor_free(&net->gout);
	dn_free(net->params);
	dn_free(net->grads);
	dn_free(net->state);
	dn_free(net->bnscratch);
	dn_free(net->col);
	dn_free(net->dcol);
	free(net->plist);
	free(net->names);
	free(net);
}

const dn_param *dn_unet_params(const dn_unet *net, size_t *count)
{
	*count = net->np;
	return net->plist;
}

void dn_unet_snapshot(const dn_unet *net, float *buf)
{
	for (size_t i = 0; i < net->np; i++) {
		memcpy(buf, net->plist[i].data, net->plist[i].size * sizeof(float));
		buf += net->plist[i].size;
	}
}

void dn_unet_restore(dn_unet *net, const float *buf)
{
	for (size_t i = 0; i < net->np; i++) {
		memcpy(net->plist[i].data, buf, net->plist[i].size * sizeof(float));
		buf += net->plist[i].size;
	}
}

int dn_unet_trainable(dn_unet *net, float **params, float **grads, size_t *n, dn_error *err)
{
	int rc = train_buffers(net, err);
	*params = net->params;
	*grads = net->grads;
	*n = rc == DN_OK ? net->n_train : 0;
	return rc;
}

float *dn_unet_weights(dn_unet *net, size_t *n)
{
	*n = net->n_train;
	return net->params;
}

int dn_unet_layout(const dn_unet *net, dn_unet_unit_layout *units)
{
	for (int u = 0; u < net->nunits; u++) {
		const struct unit *un = &net->units[u];
		units[u] = (dn_unet_unit_layout){.cin = un->conv.cin,
		                                 .cout = un->conv.cout,
		                                 .w = (size_t)(un->conv.w - net->params),
		                                 .b = (size_t)(un->conv.b - net->params),
		                                 .gamma = (size_t)(un->bn.gamma - net->params),
		                                 .beta = (size_t)(un->bn.beta - net->params),
		                                 .mean = (size_t)(un->bn.mean - net->state),
		                                 .var = (size_t)(un->bn.var - net->state)};
	}
	units[net->nunits] = (dn_unet_unit_layout){.cin = net->out.cin,
	                                           .cout = net->out.cout,
	                                           .w = (size_t)(net->out.w - net->params),
	                                           .b = (size_t)(net->out.b - net->params)};
	return net->nunits + 1;
}

void dn_unet_state(dn_unet *net, float **state, size_t *n)
{
	*state = net->state;
	*n = net->n_state;
}

size_t dn_unet_param_count(const dn_unet *net)
{
	return net->n_train;
}

double dn_unet_forward_flops(const dn_unet_config *cfg, int h, int w)
{
	const double hp = padded(h, cfg->depth);
	const int wp = padded_w(cfg, w);
	double f = 0.0;
	for (int u = 0; u < 4 * cfg->depth + 2; u++) {
		int cin, cout, level;
		char fmt[32];
		unit_shape(cfg, u, &cin, &cout, fmt, sizeof fmt);
		level = dn_unet_unit_level(cfg, u);
		f += 2.0 * cin * 9 * cout * (hp / (1 << level)) * level_w(cfg, wp, level);
	}
	f += 2.0 * cfg->base_filters * cfg->out_channels * hp * wp;
	return f;
}

void dn_unet_zero_grad(dn_unet *net)
{
	if (net->grads) /* otherwise not yet allocated, and zero when it is */
		memset(net->grads, 0, net->n_train * sizeof(float));
}

/* Padded size: a multiple of 2^depth. */
static int padded(int v, int depth)
{
	int m = 1 << depth;
	return (v + m - 1) / m * m;
}

/* dst (N x C x Hp x Wp, zeroed padding) ← src (N x C x H x W). */
static void pad_copy(const dn_tensor *src, dn_tensor *dst)
{
	memset(dst->data, 0, dn_tensor_size(dst) * sizeof(float));
	for (int n = 0; n < src->n; n++)
		for (int c = 0; c < src->c; c++) {
			const float *s = dn_tensor_plane(src, n, c);
			float *d = dn_tensor_plane(dst, n, c);
			for (int i = 0; i < src->h; i++)
				memcpy(d + (size_t)i * dst->w, s + (size_t)i * src->w,
				       (size_t)src->w * sizeof(float));
		}
}

/* dst (N x C x H x W) ← top-left corner of src, optionally as x − src. */
static void crop_copy(const dn_tensor *src, dn_tensor *dst, const dn_tensor *residual_of)
{
	for (int n = 0; n < dst->n; n++)
		for (int c = 0; c < dst->c; c++) {
			const float *s = dn_tensor_plane(src, n, c);
			float *d = dn_tensor_plane(dst, n, c);
			const float *x = residual_of ? dn_tensor_plane(residual_of, n, c) : NULL;
			for (int i = 0; i < dst->h; i++)
				for (int j = 0; j < dst->w; j++) {
					float v = s[(size_t)i * src->w + j];
					d[(size_t)i * dst->w + j] = x ? x[(size_t)i * dst->w + j] - v : v;
				}
		}
}

static void apply_act(int act, float *x, size_t n)
{
	if (act == DN_ACT_RELU)
		dn_relu_forward(x, x, n);
	else if (act == DN_ACT_SIGMOID)
		dn_sigmoid_forward(x, x, n);
}

static int check_input(const dn_unet_config *c, const dn_tensor *x, dn_error *err)
{
	if (!x || !x->data || x->n < 1 || x->h < 1 || x->w < 1)
		return dn_error_set(err, DN_EINVAL, "empty input tensor");
	if (x->c != c->in_channels)
		return dn_error_set(err, DN_ESHAPE, "input has %d channels, the network takes %d", x->c,
		                    c->in_channels);
	return DN_OK;
}

#define TRY(expr)                                                                                            \
	do {                                                                                                 \
		int try_rc_ = (expr);                                                                        \
		if (try_rc_)                                                                                 \
			return try_rc_;                                                                      \
	} while (0)

/* conv → BN (train or eval) → ReLU for one unit. */
static int unit_forward(dn_unet *net, struct unit *u, const dn_tensor *x, int train, dn_error *err)
{
	TRY(dn_tensor_resize(&u->z, x->n, u->conv.cout, x->h, x->w, err));
	TRY(dn_tensor_resize(&u->y, x->n, u->conv.cout, x->h, x->w, err));
	/* The direct kernel where the CPU has it (direct.h), its weights laid
	 * out afresh in the im2col scratch: the optimiser moved them. */
	if (dn_direct_available() && dn_direct_weight_floats(&u->conv) <= net->col_cap) {
		dn_direct_weights(&u->conv, net->col);
		dn_direct_forward(&u->conv, net->col, x, &u->z, 0);
	} else {
		dn_conv2d_forward(&u->conv, x, &u->z, 0, net->col, net->col_cap);
	}
	if (train)
		dn_batchnorm_forward_train(&u->bn, &u->z, &u->y);
	else
		dn_batchnorm_forward_eval(&u->bn, &u->z, &u->y);
	dn_relu_forward(u->y.data, u->y.data, dn_tensor_size(&u->y));
	return DN_OK;
}

static int forward(dn_unet *net, const dn_tensor *x, int train, const dn_tensor **y, dn_error *err)
{
	const dn_unet_config *c = &net->cfg;
	TRY(check_input(c, x, err));
	const int hp = padded(x->h, c->depth), wp = padded_w(c, x->w), n = x->n;
	TRY(dn_tensor_resize(&net->xp, n, c->in_channels, hp, wp, err));
	pad_copy(x, &net->xp);
	const dn_tensor *cur = &net->xp;
	for (int l = 0; l < c->depth; l++) {
		struct unit *a = &net->units[dn_unet_enc_unit(l, 0)],
		            *b = &net->units[dn_unet_enc_unit(l, 1)];
		TRY(unit_forward(net, a, cur, train, err));
		TRY(unit_forward(net, b, &a->y, train, err));
		TRY(dn_tensor_resize(&net->pooled[l], n, b->conv.cout, b->y.h / 2, level_w(c, b->y.w, 1),
		                     err));
		dn_maxpool_forward(&b->y, &net->pooled[l]);
		cur = &net->pooled[l];
	}
	struct unit *m0 = &net->units[dn_unet_mid_unit(c, 0)], *m1 = &net->units[dn_unet_mid_unit(c, 1)];
	TRY(unit_forward(net, m0, cur, train, err));
	TRY(unit_forward(net, m1, &m0->y, train, err));
	cur = &m1->y;
	for (int l = c->depth - 1; l >= 0; l--) {
		const dn_tensor *skip = &net->units[dn_unet_enc_unit(l, 1)].y;
		TRY(dn_tensor_resize(&net->cat[l], n, cur->c + skip->c, skip->h, skip->w, err));
		dn_upsample_forward(cur, &net->cat[l], 0);
		dn_concat_forward(skip, &net->cat[l], cur->c);
		struct unit *a = &net->units[dn_unet_dec_unit(c, l, 0)],
		            *b = &net->units[dn_unet_dec_unit(c, l, 1)];
		TRY(unit_forward(net, a, &net->cat[l], train, err));
		TRY(unit_forward(net, b, &a->y, train, err));
		cur = &b->y;
	}
	TRY(dn_tensor_resize(&net->outa, n, c->out_channels, hp, wp, err));
	dn_conv2d_forward(&net->out, cur, &net->outa, 0, net->col, net->col_cap);
	apply_act(c->out_act, net->outa.data, dn_tensor_size(&net->outa));
	TRY(dn_tensor_resize(&net->y, n, c->out_channels, x->h, x->w, err));
	crop_copy(&net->outa, &net->y, c->residual ? x : NULL);
	net->h = x->h;
	net->w = x->w;
	net->trained_forward = train;
	*y = &net->y;
	return DN_OK;
}

int dn_unet_forward_train(dn_unet *net, const dn_tensor *x, const dn_tensor **y, dn_error *err)
{
	int rc = train_buffers(net, err);
	return rc ? rc : forward(net, x, 1, y, err);
}

int dn_unet_forward_eval(dn_unet *net, const dn_tensor *x, const dn_tensor **y, dn_error *err)
{
	int rc = train_buffers(net, err);
	return rc ? rc : forward(net, x, 0, y, err);
}

/* Backward through one unit given u->g (gradient w.r.t. its output); writes
 * the gradient w.r.t. its input into dx (if not NULL). */
static int unit_backward(dn_unet *net, struct unit *u, const dn_tensor *x, dn_tensor *dx, dn_error *err)
{
	TRY(dn_tensor_resize(&net->gz, u->y.n, u->y.c, u->y.h, u->y.w, err));
	dn_relu_backward(u->y.data, u->g.data, net->gz.data, dn_tensor_size(&u->y));
	dn_batchnorm_backward(&u->bn, &u->z, &net->gz, &net->gz);
	dn_conv2d_backward(&u->conv, x, &net->gz, dx, net->col, net->dcol, net->col_cap);
	return DN_OK;
}

static int resize_like(dn_tensor *t, const dn_tensor *like, dn_error *err)
{
	return dn_tensor_resize(t, like->n, like->c, like->h, like->w, err);
}

int dn_unet_backward(dn_unet *net, const dn_tensor *dy, dn_error *err)
{
	const dn_unet_config *c = &net->cfg;
	if (!net->trained_forward)
		return dn_error_set(err, DN_EINVAL, "backward needs a training forward pass first");
	if (dy->n != net->y.n || dy->c != net->y.c || dy->h != net->y.h || dy->w != net->y.w)
		return dn_error_set(err, DN_ESHAPE,
		                    "output gradient %dx%dx%dx%d does not match output %dx%dx%dx%d", dy->n,
		                    dy->c, dy->h, dy->w, net->y.n, net->y.c, net->y.h, net->y.w);
	/* Output: un-crop (zero in the padding), undo the residual sign, act. */
	TRY(resize_like(&net->gout, &net->outa, err));
	memset(net->gout.data, 0, dn_tensor_size(&net->gout) * sizeof(float));
	const float sign = c->residual ? -1.0f : 1.0f;
	for (int n = 0; n < dy->n; n++)
		for (int ch = 0; ch < dy->c; ch++) {
			const float *s = dn_tensor_plane(dy, n, ch);
			float *d = dn_tensor_plane(&net->gout, n, ch);
			for (int i = 0; i < dy->h; i++)
				for (int j = 0; j < dy->w; j++)
					d[(size_t)i * net->gout.w + j] = sign * s[(size_t)i * dy->w + j];
		}
	size_t no = dn_tensor_size(&net->outa);
	if (c->out_act == DN_ACT_RELU)
		dn_relu_backward(net->outa.data, net->gout.data, net->gout.data, no);
	else if (c->out_act == DN_ACT_SIGMOID)
		dn_sigmoid_backward(net->outa.data, net->gout.data, net->gout.data, no);
	struct unit *last = &net->units[dn_unet_dec_unit(c, 0, 1)];
	TRY(resize_like(&last->g, &last->y, err));
	dn_conv2d_backward(&net->out, &last->y, &net->gout, &last->g, net->col, net->dcol, net->col_cap);

	/* Decoder, from full resolution down. */
	for (int l = 0; l < c->depth; l++) {
		struct unit *a = &net->units[dn_unet_dec_unit(c, l, 0)],
		            *b = &net->units[dn_unet_dec_unit(c, l, 1)];
		TRY(resize_like(&a->g, &a->y, err));
		TRY(unit_backward(net, b, &a->y, &a->g, err));
		TRY(resize_like(&net->gcat[l], &net->cat[l], err));
		TRY(unit_backward(net, a, &net->cat[l], &net->gcat[l], err));
		const dn_tensor *below = l + 1 < c->depth ? &net->units[dn_unet_dec_unit(c, l + 1, 1)].y
		                                          : &net->units[dn_unet_mid_unit(c, 1)].y;
		struct unit *bu = l + 1 < c->depth ? &net->units[dn_unet_dec_unit(c, l + 1, 1)]
		                                   : &net->units[dn_unet_mid_unit(c, 1)];
		TRY(resize_like(&bu->g, below, err));
		dn_upsample_backward(&net->gcat[l], 0, &bu->g);
		TRY(resize_like(&net->gskip[l], &net->units[dn_unet_enc_unit(l, 1)].y, err));
		dn_concat_backward(&net->gcat[l], below->c, &net->gskip[l], 0);
	}
	/* Bottleneck. */
	struct unit *m0 = &net->units[dn_unet_mid_unit(c, 0)], *m1 = &net->units[dn_unet_mid_unit(c, 1)];
	TRY(resize_like(&m0->g, &m0->y, err));
	TRY(unit_backward(net, m1, &m0->y, &m0->g, err));
	int top = c->depth - 1;
	TRY(resize_like(&net->gpool[top], &net->pooled[top], err));
	TRY(unit_backward(net, m0, &net->pooled[top], &net->gpool[top], err));
	/* Encoder, from the bottom up; a skip's gradient adds to the pool's. */
	for (int l = c->depth - 1; l >= 0; l--) {
		struct unit *a = &net->units[dn_unet_enc_unit(l, 0)],
		            *b = &net->units[dn_unet_enc_unit(l, 1)];
		TRY(resize_like(&b->g, &b->y, err));
		dn_maxpool_backward(&b->y, &net->gpool[l], &b->g);
		dn_concat_backward(&net->gskip[l], 0, &b->g, 1);
		TRY(resize_like(&a->g, &a->y, err));
		TRY(unit_backward(net, b, &a->y, &a->g, err));
		if (l > 0) {
			TRY(resize_like(&net->gpool[l - 1], &net->pooled[l - 1], err));
			TRY(unit_backward(net, a, &net->pooled[l - 1], &net->gpool[l - 1], err));
		} else {
			TRY(unit_backward(net, a, &net->xp, NULL, err));
		}
	}
	return DN_OK;
}

/* ---- inference with folded batch norm ---- */

struct dn_unet_infer {
	dn_unet_config cfg;
	int nunits;
	dn_conv2d conv[MAX_UNITS + 1]; /* units, then the output conv */
	float *weights;
	size_t col_min; /* largest kdim, so that a scratch holds one image row */
	/* Winograd-transformed weights of the units that run that way (NULL for
	 * the others), all in wino_weights. */
	float *wino[MAX_UNITS + 1];
	float *wino_weights;
	/* The same for the units that run as direct convolutions (direct.h). */
	float *direct[MAX_UNITS + 1];
	float *direct_weights;
	int wino_packed; /* 1: wino holds dn_winograd_weights_packed's layout */
	/* A causal net's 3x3 units' weights for the direct kernel's one-column
	 * form (dn_direct_forward_frame), for streaming. */
	float *frame[MAX_UNITS + 1];
	float *frame_weights;
	/* The units that run on AMX tiles in bf16 (amx.h), which then take
	 * precedence over both fp32 layouts above. */
	float *amx[MAX_UNITS + 1];
	float *amx_weights;
	/* A causal net's AMX units' weights for the one-column form
	 * (dn_amx_forward_frame), for streaming. */
	float *amx_frame[MAX_UNITS + 1];
	float *amx_frame_weights;
};

/* 3x3 units with at least this many input channels run as Winograd
 * F(2x2, 3x3): with fewer, the GEMMs (K = cin) are too thin for the 2.25x
 * fewer multiplies to pay for the transforms (bench/bench_unet). */
#define WINOGRAD_MIN_CIN 64

/* On CPUs with AVX-512F, 3x3 units run as direct convolutions (direct.h),
 * except those with 64 or more input and output channels: there
 * Winograd's 2.25x fewer multiplies (its GEMMs by the direct kernel's small
 * GEMM) win, elsewhere its transforms cost more than they save.
 * bench/bench_conv, one thread, per unit, Winograd against direct: speech
 * model 64->64 2.8 vs 3.7 ms, 128->128 2.1 vs 3.2, 192->64 7.2 vs 10.1,
 * 96->32 10.4 vs 10.8, 48->16 15.7 vs 10.1; frame model 64->64 6.2 vs 8.0,
 * 192->64 16.1 vs 24.5, 96->32 24.1 vs 29.6, 32->32 11.3 vs 8.4; seed net
 * 96->32 25.8 vs 20.1, so 32 output channels stay direct (the machine is
 * shared: figures move by 10-20%). Both share their work among the calling
 * thread's OpenMP team, and neither wakes an OpenBLAS thread: OpenBLAS's
 * threads spin for a while after each GEMM and took the cores from the
 * direct units' threads (bench/bench_unet, seed forward at 2 threads on
 * the loaded machine: 180-377 ms with Winograd's sgemm, 193-200 ms
 * without, same run). */
#define WINOGRAD_MIN_COUT 64

/* Where the CPU has AMX-BF16 (and bf16 is not turned off), every 3x3 unit
 * from 16 input channels runs on its tiles (amx.h): bench/bench_speech,
 * shipped speech model, one thread, same runs: 0.011-0.026 core-s per
 * second of audio against 0.037-0.059 for the direct kernel and Winograd. */
static int use_amx(const dn_conv2d *cv)
{
	return dn_amx_available() && dn_amx_suits(cv);
}

/* Without a direct kernel (no AVX-512F) the choice is im2col + sgemm or
 * Winograd through sgemm, and there Winograd pays from 16 input channels:
 * bench/bench_conv on a 2-core AMD EPYC with AVX2 (OpenBLAS Zen kernel),
 * speech model, one thread, Winograd against im2col: 16->16 8.7 vs 10.2 ms,
 * 32->32 6.2 vs 8.0, 48->16 19.2 vs 31.0, 32->32 (decoder) 9.5 vs 11.6,
 * 16->32 4.3 vs 3.9; the units' sum 101 against 122 ms. */
#define WINOGRAD_MIN_CIN_SGEMM 16

static int use_winograd(const dn_conv2d *cv)
{
	const int min_cin = dn_direct_available() ? WINOGRAD_MIN_CIN : WINOGRAD_MIN_CIN_SGEMM;
	return cv->k == 3 && cv->cin >= min_cin && !cv->causal && !use_amx(cv);
}

static int use_direct(const dn_conv2d *cv)
{
	return cv->k == 3 && dn_direct_available() && !use_amx(cv);
}

static int use_direct_frame(const dn_conv2d *cv)
{
	return cv->k == 3 && dn_direct_available() && cv->causal && !use_amx(cv);
}

static int use_amx_frame(const dn_conv2d *cv)
{
	return cv->causal && use_amx(cv);
}

/* Whether unit u runs as Winograd (see above). */
static int run_winograd(const dn_unet_infer *inf, int u)
{
	if (!inf->wino[u])
		return 0;
	return !inf->direct[u] || inf->conv[u].cout >= WINOGRAD_MIN_COUT;
}

struct dn_unet_ws {
	dn_tensor xp, tmp[MAX_DEPTH + 1], skip[MAX_DEPTH + 1], pooled[MAX_DEPTH], cat[MAX_DEPTH], out;
	float *col;
	size_t col_cap;
};

/* One more layout of the weights, for the units where use(): all of them
 * in one allocation (*store), each unit's at at[u] (NULL for the others).
 * -1 when out of memory. */
static int transformed(dn_unet_infer *inf, int (*use)(const dn_conv2d *), size_t (*floats)(const dn_conv2d *),
                       void (*fill)(const dn_conv2d *, float *), float **at, float **store)
{
	size_t n = 0;
	for (int u = 0; u <= inf->nunits; u++)
		if (use(&inf->conv[u]))
			n += floats(&inf->conv[u]);
	if (!n)
		return 0;
	float *q = *store = dn_alloc(n * sizeof(float));
	if (!q)
		return -1;
	for (int u = 0; u <= inf->nunits; u++) {
		if (!use(&inf->conv[u]))
			continue;
		at[u] = q;
		fill(&inf->conv[u], q);
		q += floats(&inf->conv[u]);
	}
	return 0;
}

int dn_unet_infer_create(const dn_unet *net, dn_unet_infer **out, dn_error *err)
{
	dn_unet_infer *inf = calloc(1, sizeof *inf);
	size_t nw = 0;
	if (inf) {
		for (int u = 0; u < net->nunits; u++)
			nw += (size_t)net->units[u].conv.cout * (net->units[u].conv.cin * 9 + 1);
		nw += (size_t)net->out.cout * (net->out.cin + 1);
		inf->weights = dn_alloc(nw * sizeof(float));
	}
	if (!inf || !inf->weights) {
		free(inf);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate folded weights");
	}
	inf->cfg = net->cfg;
	inf->nunits = net->nunits;
	float *p = inf->weights;
	for (int u = 0; u <= net->nunits; u++) {
		const dn_conv2d *src = u < net->nunits ? &net->units[u].conv : &net->out;
		size_t kdim = (size_t)src->cin * src->k * src->k, nwu = (size_t)src->cout * kdim;
		dn_conv2d *dst = &inf->conv[u];
		*dst = (dn_conv2d){.cin = src->cin,
		                   .cout = src->cout,
		                   .k = src->k,
		                   .causal = src->causal,
		                   .w = p,
		                   .b = p + nwu};
		memcpy(dst->w, src->w, nwu * sizeof(float));
		memcpy(dst->b, src->b, (size_t)src->cout * sizeof(float));
		if (u < net->nunits)
			dn_batchnorm_fold(&net->units[u].bn, dst->w, dst->b, dst->cout, kdim);
		if (kdim > inf->col_min)
			inf->col_min = kdim;
		p += nwu + src->cout;
	}
	/* Where the direct kernel runs, Winograd's GEMMs are its small GEMM
	 * too (dn_gemm8_avx512): bench/bench_conv, seed net's wide units, one
	 * thread, same run: 5.4/4.7/13.8/17.0 ms against sgemm's
	 * 6.0/5.8/16.6/19.4. */
	inf->wino_packed = dn_direct_available();
	if (transformed(inf, use_winograd,
	                inf->wino_packed ? dn_winograd_packed_floats : dn_winograd_weight_floats,
	                inf->wino_packed ? dn_winograd_weights_packed : dn_winograd_weights, inf->wino,
	                &inf->wino_weights) ||
	    transformed(inf, use_direct, dn_direct_weight_floats, dn_direct_weights, inf->direct,
	                &inf->direct_weights) ||
	    transformed(inf, use_direct_frame, dn_direct_weight_floats, dn_direct_weights_frame, inf->frame,
	                &inf->frame_weights) ||
	    transformed(inf, use_amx, dn_amx_weight_floats, dn_amx_weights, inf->amx, &inf->amx_weights) ||
	    transformed(inf, use_amx_frame, dn_amx_weight_floats, dn_amx_weights_frame, inf->amx_frame,
	                &inf->amx_frame_weights)) {
		dn_unet_infer_destroy(inf);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate the transformed weights");
	}
	*out = inf;
	return DN_OK;
}

void dn_unet_infer_destroy(dn_unet_infer *inf)
{
	if (!inf)
		return;
	dn_free(inf->weights);
	dn_free(inf->wino_weights);
	dn_free(inf->direct_weights);
	dn_free(inf->frame_weights);
	dn_free(inf->amx_weights);
	dn_free(inf->amx_frame_weights);
	free(inf);
}

double dn_unet_infer_gemm_flops(const dn_unet_infer *inf, int h, int w)
{
	const int hp = padded(h, inf->cfg.depth), wp = padded_w(&inf->cfg, w);
	double f = 0.0;
	for (int u = 0; u <= inf->nunits; u++) {
		const dn_conv2d *cv = &inf->conv[u];
		const int level = u < inf->nunits ? dn_unet_unit_level(&inf->cfg, u) : 0;
		const int lh = hp >> level, lw = level_w(&inf->cfg, wp, level);
		if (run_winograd(inf, u))
			f += 2.0 * 16 * cv->cin * cv->cout * (double)((lh + 1) / 2) * (double)((lw + 1) / 2);
		else
			f += 2.0 * cv->cin * cv->k * cv->k * cv->cout * (double)lh * (double)lw;
	}
	return f;
}

const char *dn_unet_conv_kernels(void)
{
	if (dn_amx_available())
		return "bf16 products with fp32 sums on AMX tiles from 16 input channels, fp32 AVX-512 direct "
		       "kernel below";
	if (dn_direct_available())
		return "fp32: AVX-512 direct kernel, Winograd F(2x2,3x3) from 64 channels";
	return "fp32: im2col + sgemm, Winograd F(2x2,3x3) from 16 input channels";
}

int dn_unet_set_cpu_precision(const char *name, dn_error *err)
{
	if (!strcmp(name, "bf16") || !strcmp(name, "fp32")) {
		dn_amx_set_enabled(!strcmp(name, "bf16"));
		return DN_OK;
	}
	return dn_error_set(err, DN_EINVAL, "CPU precision '%s' is not bf16 or fp32", name);
}

dn_unet_ws *dn_unet_ws_create(void)
{
	return calloc(1, sizeof(dn_unet_ws));
}

void dn_unet_ws_destroy(dn_unet_ws *ws)
{
	if (!ws)
		return;
	free_tensors(ws->tmp, MAX_DEPTH + 1);
	free_tensors(ws->skip, MAX_DEPTH + 1);
	free_tensors(ws->pooled, MAX_DEPTH);
	free_tensors(ws->cat, MAX_DEPTH);
	dn_tensor_free(&ws->xp);
	dn_tensor_free(&ws->out);
	dn_free(ws->col);
	free(ws);
}

/* Folded conv u (+ ReLU) into y, shaped like x with the conv's cout. */
static int conv_run(const dn_unet_infer *inf, int u, dn_unet_ws *ws, const dn_tensor *x, dn_tensor *y,
                    int relu, dn_error *err)
{
	const dn_conv2d *cv = &inf->conv[u];
	TRY(dn_tensor_resize(y, x->n, cv->cout, x->h, x->w, err));
	if (inf->amx[u]) /* dn_unet_infer_run sized the scratch for it */
		dn_amx_forward(cv, inf->amx[u], x, y, relu, ws->col);
	else if (run_winograd(inf, u))
		dn_winograd_forward(cv, inf->wino[u], inf->wino_packed, x, y, relu, ws->col, ws->col_cap);
	else if (inf->direct[u])
		dn_direct_forward(cv, inf->direct[u], x, y, relu);
	else
		dn_conv2d_forward(cv, x, y, relu, ws->col, ws->col_cap);
	return DN_OK;
}

/* Units u and u + 1 (ReLU both) from x into y: on AMX as one pass, the
 * first's output handed on in bf16 (dn_amx_forward2), else one by one
 * through tmp. */
static int unit_pair(const dn_unet_infer *inf, int u, dn_unet_ws *ws, const dn_tensor *x, dn_tensor *tmp,
                     dn_tensor *y, dn_error *err)
{
	if (inf->amx[u] && inf->amx[u + 1]) {
		TRY(dn_tensor_resize(y, x->n, inf->conv[u + 1].cout, x->h, x->w, err));
		dn_amx_forward2(&inf->conv[u], inf->amx[u], &inf->conv[u + 1], inf->amx[u + 1], x, y, ws->col);
		return DN_OK;
	}
	TRY(conv_run(inf, u, ws, x, tmp, 1, err));
	return conv_run(inf, u + 1, ws, tmp, y, 1, err);
}

int dn_unet_infer_run(const dn_unet_infer *inf, dn_unet_ws *ws, const dn_tensor *x, dn_tensor *y,
                      dn_error *err)
{
	const dn_unet_config *c = &inf->cfg;
	TRY(check_input(c, x, err));
	const int hp = padded(x->h, c->depth), wp = padded_w(c, x->w), n = x->n;
	size_t need = COL_BUDGET;
	if (inf->col_min * (size_t)wp > need)
		need = inf->col_min * (size_t)wp;
	for (int u = 0; u <= inf->nunits; u++) {
		if (inf->wino[u] && dn_winograd_min_scratch(&inf->conv[u], wp) > need)
			need = dn_winograd_min_scratch(&inf->conv[u], wp);
		if (inf->amx[u]) {
			/* Units run in pairs (2j, 2j + 1) at one level, and both
			 * converted inputs are held at once (unit_pair, and the
			 * decoder's dn_amx_forward_cat2). */
			const int level = u < inf->nunits ? dn_unet_unit_level(c, u) : 0;
			const int lh = hp >> level, lw = level_w(c, wp, level);
			size_t a = dn_amx_scratch_floats(&inf->conv[u], lh, lw);
			if (u % 2 == 0 && u + 1 < inf->nunits && inf->amx[u + 1])
				a += dn_amx_scratch_floats(&inf->conv[u + 1], lh, lw);
			if (a > need)
				need = a;
		}
	}
	if (ws->col_cap < need) {
		float *col = dn_alloc(need * sizeof(float));
		if (!col)
			return dn_error_set(err, DN_ENOMEM, "cannot allocate %zu floats of im2col scratch",
			                    need);
		dn_free(ws->col);
		ws->col = col;
		ws->col_cap = need;
	}
	TRY(dn_tensor_resize(&ws->xp, n, c->in_channels, hp, wp, err));
	pad_copy(x, &ws->xp);
	const dn_tensor *cur = &ws->xp;
	for (int l = 0; l < c->depth; l++) {
		TRY(unit_pair(inf, dn_unet_enc_unit(l, 0), ws, cur, &ws->tmp[l], &ws->skip[l], err));
		TRY(dn_tensor_resize(&ws->pooled[l], n, ws->skip[l].c, ws->skip[l].h / 2,
		                     level_w(c, ws->skip[l].w, 1), err));
		dn_maxpool_forward(&ws->skip[l], &ws->pooled[l]);
		cur = &ws->pooled[l];
	}
	TRY(unit_pair(inf, dn_unet_mid_unit(c, 0), ws, cur, &ws->tmp[c->depth], &ws->skip[c->depth], err));
	cur = &ws->skip[c->depth];
	for (int l = c->depth - 1; l >= 0; l--) {
		dn_tensor *skip = &ws->skip[l];
		const int u0 = dn_unet_dec_unit(c, l, 0);
		if (inf->amx[u0] && inf->amx[u0 + 1] && cur->c % 2 == 0 && inf->conv[u0 + 1].cout == skip->c) {
			/* Both units in one pass, the concatenation read while
			 * converting (the skip is converted before it is written). */
			TRY(dn_tensor_resize(skip, n, inf->conv[u0 + 1].cout, skip->h, skip->w, err));
			dn_amx_forward_cat2(&inf->conv[u0], inf->amx[u0], &inf->conv[u0 + 1], inf->amx[u0 + 1], cur,
			                    skip, skip, ws->col);
			cur = skip;
			continue;
		}
		if (inf->amx[u0] && cur->c % 2 == 0) {
			/* On AMX the upsampling and the concatenation happen as the
			 * input is converted to bf16 (amx.h), never written out. */
			TRY(dn_tensor_resize(&ws->tmp[l], n, inf->conv[u0].cout, skip->h, skip->w, err));
			dn_amx_forward_cat(&inf->conv[u0], inf->amx[u0], cur, skip, &ws->tmp[l], 1, ws->col);
		} else {
			TRY(dn_tensor_resize(&ws->cat[l], n, cur->c + skip->c, skip->h, skip->w, err));
			dn_upsample_forward(cur, &ws->cat[l], 0);
			dn_concat_forward(skip, &ws->cat[l], cur->c);
			TRY(conv_run(inf, u0, ws, &ws->cat[l], &ws->tmp[l], 1, err));
		}
		/* The skip has been read: its buffer takes the block's output. */
		TRY(conv_run(inf, dn_unet_dec_unit(c, l, 1), ws, &ws->tmp[l], skip, 1, err));
		cur = skip;
	}
	TRY(conv_run(inf, inf->nunits, ws, cur, &ws->out, 0, err));
	apply_act(c->out_act, ws->out.data, dn_tensor_size(&ws->out));
	TRY(dn_tensor_resize(y, n, c->out_channels, x->h, x->w, err));
	crop_copy(&ws->out, y, c->residual ? x : NULL);
	return DN_OK;
}

/* ---- frame-at-a-time inference of a causal net ---- */

struct dn_unet_stream {
	const dn_unet_infer *inf;
	int h, hp;
	float *win[MAX_UNITS]; /* [cin][3][level height]: columns t−2, t−1, t */
	float *y[MAX_UNITS];   /* [cout][level height]: the unit's output column */
	float *pooled[MAX_DEPTH], *cat[MAX_DEPTH];
	float *xin, *out, *col;
	float *mem; /* everything above, one allocation */
	size_t mem_floats;
};

int dn_unet_infer_causal(const dn_unet_infer *inf)
{
	return inf && inf->cfg.causal;
}

/* Floats of every buffer of a stream, laid out by stream_layout with p
 * NULL (a dry run that only counts) or real. */
static size_t stream_layout(dn_unet_stream *st, float *p)
{
	const dn_unet_infer *inf = st->inf;
	const dn_unet_config *c = &inf->cfg;
	size_t at = 0, col = 0;
#define TAKE(dst, n)                                                                                         \
	do {                                                                                                 \
		if (p)                                                                                       \
			(dst) = p + at;                                                                      \
		at += ((size_t)(n) + 15) / 16 * 16;                                                          \
	} while (0)
	for (int u = 0; u < inf->nunits; u++) {
		const dn_conv2d *cv = &inf->conv[u];
		const int hl = st->hp >> dn_unet_unit_level(c, u);
		TAKE(st->win[u], inf->amx_frame[u] ? dn_amx_window_floats(cv, hl) : (size_t)cv->cin * hl * 3);
		TAKE(st->y[u], (size_t)cv->cout * hl);
		if (dn_conv2d_frame_scratch(cv, hl) > col)
			col = dn_conv2d_frame_scratch(cv, hl);
	}
	for (int l = 0; l < c->depth; l++) {
		const int hl = st->hp >> l, cs = c->base_filters << l, cb = c->base_filters << (l + 1);
		TAKE(st->pooled[l], (size_t)cs * (hl / 2));
		TAKE(st->cat[l], (size_t)(cs + cb) * hl);
	}
	TAKE(st->xin, (size_t)c->in_channels * st->hp);
	TAKE(st->out, (size_t)c->out_channels * st->hp);
	if (dn_conv2d_frame_scratch(&inf->conv[inf->nunits], st->hp) > col)
		col = dn_conv2d_frame_scratch(&inf->conv[inf->nunits], st->hp);
	TAKE(st->col, col);
#undef TAKE
	return at;
}

int dn_unet_stream_create(const dn_unet_infer *inf, int h, dn_unet_stream **out, dn_error *err)
{
	*out = NULL;
	if (!dn_unet_infer_causal(inf))
		return dn_error_set(
		    err, DN_EINVAL,
		    "the network is not causal: only a model trained with causal = 1 can stream");
	if (h < 1 || h > 65536)
		return dn_error_set(err, DN_EINVAL, "stream height %d: must be 1..65536", h);
	dn_unet_stream *st = calloc(1, sizeof *st);
	if (!st)
		return dn_error_set(err, DN_ENOMEM, "cannot allocate a network stream");
	st->inf = inf;
	st->h = h;
	st->hp = padded(h, inf->cfg.depth);
	st->mem_floats = stream_layout(st, NULL);
	st->mem = dn_alloc(st->mem_floats * sizeof(float));
	if (!st->mem) {
		size_t n = st->mem_floats;
		free(st);
		return dn_error_set(err, DN_ENOMEM, "cannot allocate %zu floats of stream state", n);
	}
	stream_layout(st, st->mem);
	*out = st;
	return DN_OK;
}

void dn_unet_stream_destroy(dn_unet_stream *st)
{
	if (!st)
		return;
	dn_free(st->mem);
	free(st);
}

void dn_unet_stream_reset(dn_unet_stream *st)
{
	memset(st->mem, 0, st->mem_floats * sizeof(float));
}

/* Shifts unit u's window one column and writes x ([cin][hl]) as the
 * newest, then runs the unit on it. */
static void stream_unit(dn_unet_stream *st, int u, const float *x)
{
	const dn_conv2d *cv = &st->inf->conv[u];
	const int hl = st->hp >> dn_unet_unit_level(&st->inf->cfg, u);
	const size_t col = (size_t)hl * sizeof(float);
	if (st->inf->amx_frame[u]) {
		dn_amx_window_push(cv, st->win[u], x, hl);
		dn_amx_forward_frame(cv, st->inf->amx_frame[u], st->win[u], hl, st->y[u], 1);
		return;
	}
	for (int ci = 0; ci < cv->cin; ci++) {
		float *wn = st->win[u] + (size_t)ci * 3 * hl;
		memmove(wn, wn + hl, 2 * col);
		memcpy(wn + 2 * (size_t)hl, x + (size_t)ci * hl, col);
	}
	if (st->inf->frame[u])
		dn_direct_forward_frame(cv, st->inf->frame[u], st->win[u], hl, st->y[u], 1);
	else
		dn_conv2d_forward_frame(cv, st->win[u], hl, st->y[u], 1, st->col);
}

int dn_unet_stream_step(dn_unet_stream *st, const float *x, float *y, dn_error *err)
{
	if (!st || !x || !y)
		return dn_error_set(err, DN_EINVAL, "dn_unet_stream_step: missing argument");
	const dn_unet_infer *inf = st->inf;
	const dn_unet_config *c = &inf->cfg;
	const int hp = st->hp, h = st->h;
	for (int ch = 0; ch < c->in_channels; ch++) {
		memcpy(st->xin + (size_t)ch * hp, x + (size_t)ch * h, (size_t)h * sizeof(float));
		memset(st->xin + (size_t)ch * hp + h, 0, (size_t)(hp - h) * sizeof(float));
	}
	const float *cur = st->xin;
	for (int l = 0; l < c->depth; l++) {
		const int a = dn_unet_enc_unit(l, 0), b = dn_unet_enc_unit(l, 1), hl = hp >> l;
		const int cs = inf->conv[b].cout;
		stream_unit(st, a, cur);
		stream_unit(st, b, st->y[a]);
		dn_tensor sk = dn_tensor_view(st->y[b], 1, cs, hl, 1);
		dn_tensor po = dn_tensor_view(st->pooled[l], 1, cs, hl / 2, 1);
		dn_maxpool_forward(&sk, &po);
		cur = st->pooled[l];
	}
	const int m0 = dn_unet_mid_unit(c, 0), m1 = dn_unet_mid_unit(c, 1);
	stream_unit(st, m0, cur);
	stream_unit(st, m1, st->y[m0]);
	cur = st->y[m1];
	int cb = inf->conv[m1].cout;
	for (int l = c->depth - 1; l >= 0; l--) {
		const int skip = dn_unet_enc_unit(l, 1), hl = hp >> l, cs = inf->conv[skip].cout;
		dn_tensor below = dn_tensor_view((float *)cur, 1, cb, hl / 2, 1);
		dn_tensor sk = dn_tensor_view(st->y[skip], 1, cs, hl, 1);
		dn_tensor cat = dn_tensor_view(st->cat[l], 1, cb + cs, hl, 1);
		dn_upsample_forward(&below, &cat, 0);
		dn_concat_forward(&sk, &cat, cb);
		const int a = dn_unet_dec_unit(c, l, 0), b = dn_unet_dec_unit(c, l, 1);
		stream_unit(st, a, st->cat[l]);
		stream_unit(st, b, st->y[a]);
		cur = st->y[b];
		cb = inf->conv[b].cout;
	}
	dn_conv2d_forward_frame(&inf->conv[inf->nunits], cur, hp, st->out, 0, st->col);
	apply_act(c->out_act, st->out, (size_t)c->out_channels * hp);
	for (int ch = 0; ch < c->out_channels; ch++)
		for (int i = 0; i < h; i++) {
			float v = st->out[(size_t)ch * hp + i];
			y[(size_t)ch * h + i] = c->residual ? x[(size_t)ch * h + i] - v : v;
		}
	return DN_OK;
}
