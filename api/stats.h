/*
 * stats.h — request counters and latency histograms by route, and their
 * Prometheus text rendering (exposition format 0.0.4) for GET /metrics.
 *
 * Counters are C11 atomics, updated by whichever thread completes a request;
 * rendering reads them without stopping anyone, so a scrape may see one
 * request counted in a histogram and not yet in a counter — which Prometheus
 * tolerates.
 */
#ifndef API_STATS_H
#define API_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "api/api.h"

/* Routes as metrics labels. */
enum api_route {
	API_ROUTE_LIVE,
	API_ROUTE_READY,
	API_ROUTE_MODELS,
	API_ROUTE_MODEL,
	API_ROUTE_AUDIO,
	API_ROUTE_OPENAPI,
	API_ROUTE_METRICS,
	API_ROUTE_JOBS, /* /v1/jobs */
	API_ROUTE_JOB,  /* /v1/jobs/{id}[/plots|/events] */
	API_ROUTE_FRAMES,
	API_ROUTE_WEB,        /* / and /web/{file}: the built-in page */
	API_ROUTE_STREAM,     /* /v1/audio:stream (WebSocket) */
	API_ROUTE_MODEL_CARD, /* /v1/models/{name}/card */
	API_ROUTE_OTHER,      /* no route matched */
	API_ROUTE_COUNT
};

/* The statuses counted one by one; the rest are counted as "other". */
#define API_STATS_STATUSES                                                                                   \
	{                                                                                                    \
		0, 200, 201, 202, 204, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 503       \
	}
#define API_STATS_NSTATUS  19 /* the list above, plus "other" */
#define API_STATS_NBUCKETS 14

typedef struct api_stats {
	atomic_ullong requests[API_ROUTE_COUNT][API_STATS_NSTATUS];
	atomic_ullong buckets[API_ROUTE_COUNT][API_STATS_NBUCKETS]; /* not cumulative */
	atomic_ullong count[API_ROUTE_COUNT];
	atomic_ullong sum_us[API_ROUTE_COUNT];
	atomic_ullong bytes_in, bytes_out;
	atomic_uint inflight;          /* requests received, not yet completed */
	atomic_uint connections;       /* open TCP connections */
	atomic_ullong header_timeouts; /* connections cut for headers over header_timeout */
} api_stats;

void api_stats_init(api_stats *s);
const char *api_route_label(int route);
/* Records a completed request; status 0 means no response was sent. */
void api_stats_record(api_stats *s, int route, int status, double seconds, uint64_t in, uint64_t out);
/* The Prometheus text of s and g, malloc'd (caller frees), length in *len;
 * NULL when out of memory. */
char *api_stats_render(api_stats *s, const api_gauges *g, size_t *len);

#endif
