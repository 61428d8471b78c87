/*
 * eval_json.h — the evaluation JSON (docs/eval-json.md) of a core
 * evaluation result: metrics per noise kind and SNR, plot series,
 * histograms, example spectrograms, timings. Encoding results is the outer
 * layers' job (core/ returns them as data): the daemon serves this as a
 * job's metrics and plots, `denoise eval --json` writes it to a file. It
 * needs Jansson and core only, no HTTP, so the CLI compiles it too.
 */
#ifndef API_EVAL_JSON_H
#define API_EVAL_JSON_H

#include <jansson.h>

#include "core/train/eval.h"
#include "core/train/eval_frame.h"

/* The whole document, with "plots" inside; a new reference the caller owns,
 * NULL when out of memory. Reals carry six significant digits, as the
 * document always has. */
json_t *api_eval_json(const dn_eval_result *r);

/* The same for a frame evaluation (docs/eval-json.md "Frames"): model,
 * test_set, summary and by_sigma (psnr and ssim of model and noisy input as
 * mean/std/n, psnr_improvement_db), plots (metric_vs_sigma, examples as
 * JPEG data URLs of clean, noisy and denoised crops) and timing. name is the
 * model's name as served. NULL when out of memory. */
json_t *api_eval_frame_json(const dn_frame_eval_result *r, const char *name);

#endif
