/*
 * jobs_util.h — what the tests of jobs share (test_jobs, test_job_state):
 * JSON requests with the bearer token, polling a job to a state, and a
 * tiny synthetic speech data set. Built on tests/harness.h.
 *
 * The test program defines `token` (the bearer token its daemon expects,
 * or NULL).
 */
#ifndef DN_TESTS_JOBS_UTIL_H
#define DN_TESTS_JOBS_UTIL_H

#include <jansson.h>
#include <stddef.h>

#include "tests/harness.h"

extern const char *token;

/* The JSON body of r (a new reference), or NULL. */
json_t *body_json(const resp *r);
/* POST path with a JSON body (and the token); the status. */
long post_json(int port, const char *path, const char *json, resp *r);
/* Submits spec; the job's id into id (empty on failure); the status. */
long submit(int port, const char *spec, char *id, size_t cap);
/* GET /v1/jobs/ID (a new reference), or NULL. */
json_t *job_get(int port, const char *id);
/* The job object's state, "?" when it has none. */
const char *job_state(const json_t *j);
/* Whether s is a final state. */
int finished(const char *s);
/* Polls until the job is finished (or until want_state, when not NULL);
 * its object, or NULL after the bounded wait. */
json_t *poll_job(int port, const char *id, const char *want_state, int seconds);
/* Polls until the training job reports epoch >= epoch; 1, or 0 after
 * the bounded wait. */
int wait_epoch(int port, const char *id, int epoch, int seconds);
/* A job test's daemon configuration into out: models from tmp/models
 * (default speech), state_dir tmp/state, data_roots tmp/data, one job at a
 * time on one worker of two cores, then the lines of extra. */
void jobs_conf(char *out, size_t cap, const char *extra);
/* A training job on the tiny data set that runs for minutes. */
extern const char *const long_train;
/* Entries of the folder state_dir/jobs, hidden ones too; -1 without it. */
int count_job_folders(const char *state_dir);
/* The state that state_dir/jobs/ID/status.json holds, "" when unreadable. */
void job_disk_state(const char *state_dir, const char *id, char *out, size_t cap);
/* Writes six short voiced WAVs ("speakers") into dir (made); 0 or -1. */
int make_dataset(const char *dir);

#endif
