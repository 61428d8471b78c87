/*
 * stats.c — see stats.h.
 */
#include "api/stats.h"

#include "core/util/blas.h"

#include <stdio.h>
#include <stdlib.h>

static const int statuses[API_STATS_NSTATUS - 1] = API_STATS_STATUSES;
/* Upper bounds in seconds: from a health check to a long file's inference. */
static const double bounds[API_STATS_NBUCKETS - 1] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1,     2.5,  5,     10,   30};

static const char *const labels[API_ROUTE_COUNT] = {
    [API_ROUTE_LIVE] = "/v1/health/live",
    [API_ROUTE_READY] = "/v1/health/ready",
    [API_ROUTE_MODELS] = "/v1/models",
    [API_ROUTE_MODEL] = "/v1/models/{name}",
    [API_ROUTE_AUDIO] = "/v1/audio:denoise",
    [API_ROUTE_OPENAPI] = "/v1/openapi.json",
    [API_ROUTE_FRAMES] = "/v1/frames:denoise",
    [API_ROUTE_METRICS] = "/metrics",
    [API_ROUTE_WEB] = "/",
    [API_ROUTE_STREAM] = "/v1/audio:stream",
    [API_ROUTE_MODEL_CARD] = "/v1/models/{name}/card",
    [API_ROUTE_OTHER] = "other",
    [API_ROUTE_JOBS] = "/v1/jobs",
    [API_ROUTE_JOB] = "/v1/jobs/{id}",
};

void api_stats_init(api_stats *s)
{
	for (int r = 0; r < API_ROUTE_COUNT; r++) {
		for (int i = 0; i < API_STATS_NSTATUS; i++)
			atomic_init(&s->requests[r][i], 0);
		for (int i = 0; i < API_STATS_NBUCKETS; i++)
			atomic_init(&s->buckets[r][i], 0);
		atomic_init(&s->count[r], 0);
		atomic_init(&s->sum_us[r], 0);
	}
	atomic_init(&s->bytes_in, 0);
	atomic_init(&s->bytes_out, 0);
	atomic_init(&s->inflight, 0);
	atomic_init(&s->connections, 0);
	atomic_init(&s->header_timeouts, 0);
}

const char *api_route_label(int route)
{
	return route >= 0 && route < API_ROUTE_COUNT ? labels[route] : "other";
}

void api_stats_record(api_stats *s, int route, int status, double seconds, uint64_t in, uint64_t out)
{
	int si = API_STATS_NSTATUS - 1, b = API_STATS_NBUCKETS - 1;

	if (route < 0 || route >= API_ROUTE_COUNT)
		route = API_ROUTE_OTHER;
	for (int i = 0; i < API_STATS_NSTATUS - 1; i++)
		if (statuses[i] == status)
			si = i;
	for (int i = API_STATS_NBUCKETS - 2; i >= 0; i--)
		if (seconds <= bounds[i])
			b = i;
	if (seconds < 0)
		seconds = 0;
	atomic_fetch_add(&s->requests[route][si], 1);
	atomic_fetch_add(&s->buckets[route][b], 1);
	atomic_fetch_add(&s->count[route], 1);
	atomic_fetch_add(&s->sum_us[route], (unsigned long long)(seconds * 1e6));
	atomic_fetch_add(&s->bytes_in, in);
	atomic_fetch_add(&s->bytes_out, out);
}

char *api_stats_render(api_stats *s, const api_gauges *g, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	if (!f)
		return NULL;
	fputs("# HELP denoised_http_requests_total HTTP requests answered, by route and status (0: closed "
	      "without an answer).\n# TYPE denoised_http_requests_total counter\n",
	      f);
	for (int r = 0; r < API_ROUTE_COUNT; r++)
		for (int i = 0; i < API_STATS_NSTATUS; i++) {
			unsigned long long n = atomic_load(&s->requests[r][i]);

			if (n == 0)
				continue;
			if (i < API_STATS_NSTATUS - 1)
				fprintf(f, "denoised_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
				        labels[r], statuses[i], n);
			else
				fprintf(f,
				        "denoised_http_requests_total{route=\"%s\",status=\"other\"} %llu\n",
				        labels[r], n);
		}
	fputs("# HELP denoised_http_request_duration_seconds Time from request headers to the last byte of "
	      "the answer.\n# TYPE denoised_http_request_duration_seconds histogram\n",
	      f);
	for (int r = 0; r < API_ROUTE_COUNT; r++) {
		unsigned long long cum = 0;

		for (int i = 0; i < API_STATS_NBUCKETS; i++) {
			cum += atomic_load(&s->buckets[r][i]);
			if (i < API_STATS_NBUCKETS - 1)
				fprintf(f,
				        "denoised_http_request_duration_seconds_bucket{route=\"%s\",le=\"%"
				        "g\"} %llu\n",
				        labels[r], bounds[i], cum);
			else
				fprintf(f,
				        "denoised_http_request_duration_seconds_bucket{route=\"%s\",le=\"+"
				        "Inf\"} %llu\n",
				        labels[r], cum);
		}
		fprintf(f, "denoised_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n", labels[r],
		        (double)atomic_load(&s->sum_us[r]) / 1e6);
		fprintf(f, "denoised_http_request_duration_seconds_count{route=\"%s\"} %llu\n", labels[r],
		        cum);
	}
	fprintf(f,
	        "# HELP denoised_http_received_bytes_total Request body bytes received.\n"
	        "# TYPE denoised_http_received_bytes_total counter\n"
	        "denoised_http_received_bytes_total %llu\n"
	        "# HELP denoised_http_sent_bytes_total Response body bytes sent.\n"
	        "# TYPE denoised_http_sent_bytes_total counter\n"
	        "denoised_http_sent_bytes_total %llu\n"
	        "# HELP denoised_http_inflight_requests Requests received and not yet answered.\n"
	        "# TYPE denoised_http_inflight_requests gauge\n"
	        "denoised_http_inflight_requests %u\n"
	        "# HELP denoised_http_connections Open client connections.\n"
	        "# TYPE denoised_http_connections gauge\n"
	        "denoised_http_connections %u\n"
	        "# HELP denoised_queue_depth Jobs waiting for a worker.\n"
	        "# TYPE denoised_queue_depth gauge\n"
	        "denoised_queue_depth %zu\n"
	        "# HELP denoised_queue_capacity Jobs that may wait before requests get 503.\n"
	        "# TYPE denoised_queue_capacity gauge\n"
	        "denoised_queue_capacity %zu\n"
	        "# HELP denoised_workers_busy Workers running a job.\n"
	        "# TYPE denoised_workers_busy gauge\n"
	        "denoised_workers_busy %zu\n"
	        "# HELP denoised_workers Worker threads.\n"
	        "# TYPE denoised_workers gauge\n"
	        "denoised_workers %d\n"
	        "# HELP denoised_blas_threads OpenBLAS threads per worker.\n"
	        "# TYPE denoised_blas_threads gauge\n"
	        "denoised_blas_threads %d\n"
	        "# HELP denoised_models_loaded Models serving now.\n"
	        "# TYPE denoised_models_loaded gauge\n"
	        "denoised_models_loaded %zu\n"
	        "# HELP denoised_model_reloads_total Model reloads (SIGHUP), by result.\n"
	        "# TYPE denoised_model_reloads_total counter\n"
	        "denoised_model_reloads_total{result=\"ok\"} %llu\n"
	        "denoised_model_reloads_total{result=\"failed\"} %llu\n",
	        atomic_load(&s->bytes_in), atomic_load(&s->bytes_out), atomic_load(&s->inflight),
	        atomic_load(&s->connections), g->queue_depth, g->queue_capacity, g->busy_workers, g->workers,
	        g->blas_threads, g->models_loaded, (unsigned long long)g->reloads_ok,
	        (unsigned long long)g->reloads_failed);
	dn_blas_info bi;
	dn_blas_info_get(&bi);
	fprintf(f,
	        "# HELP denoised_blas_info The BLAS library and the kernel it runs, always 1; generic=\"1\" "
	        "when the kernel is older than the CPU supports.\n"
	        "# TYPE denoised_blas_info gauge\n"
	        "denoised_blas_info{library=\"%s\",kernel=\"%s\",cpu=\"%s\",overridden=\"%d\","
	        "generic=\"%d\"} 1\n",
	        bi.library, bi.kernel, bi.cpu, bi.overridden, bi.generic);
	fprintf(f,
	        "# HELP denoised_http_header_timeouts_total Connections closed because their request "
	        "headers took longer than header_timeout.\n"
	        "# TYPE denoised_http_header_timeouts_total counter\n"
	        "denoised_http_header_timeouts_total %llu\n"
	        "# HELP denoised_models_failed Model files that failed to load at the last start or "
	        "reload (readiness names them).\n"
	        "# TYPE denoised_models_failed gauge\n"
	        "denoised_models_failed %zu\n",
	        atomic_load(&s->header_timeouts), g->models_failed);
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	if (len)
		*len = size;
	return text;
}
