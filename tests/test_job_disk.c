/*
 * test_job_disk.c — job state on a full disk (issue 14, item 7), against the
 * real daemon.
 *
 * The state directory is a small tmpfs mounted for the test (we run as root
 * in CI; where mount is not permitted the test is skipped with 77). With a
 * training job running and two waiting, the disk is filled to the last
 * page, and then: a submit gets 507 with no path in its detail and leaves
 * no job folder; cancelling a waiting job says "cancelled" and status.json
 * says so too; the running job fails at its next checkpoint and leaves no
 * model.safetensors behind; every job's status.json agrees with the API;
 * after a restart on the still-full disk no job changed state (a cancelled
 * job does not run again); deleting a finished job works on a full disk;
 * and once space is freed a submit is accepted again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/check.h"
#include "tests/harness.h"
#include "tests/jobs_util.h"

char tmp[] = "/tmp/dn_test_job_disk_XXXXXX";
const char *builddir;
const char *token = NULL;

/* Appends to state/fill until the file system has no page left. */
static void fill_disk(void)
{
	static char block[65536];
	int fd = open(path_in_tmp("state/fill"), O_WRONLY | O_CREAT | O_APPEND, 0644);

	if (fd < 0)
		return;
	for (size_t n = sizeof block; n >= 512; n /= 2)
		while (write(fd, block, n) == (ssize_t)n)
			;
	close(fd);
}

/* The API and status.json say the same of job id; that state into want
 * when it is not NULL (and then it must be want already). */
static int agrees(int port, const char *id, const char *want)
{
	json_t *j = job_get(port, id);
	char disk[64];
	int ok;

	job_disk_state(path_in_tmp("state"), id, disk, sizeof disk);
	ok = j && strcmp(job_state(j), disk) == 0 && (!want || strcmp(disk, want) == 0);
	if (!ok)
		fprintf(stderr, "job %s: API says %s, status.json says '%s'%s%s\n", id,
		        j ? job_state(j) : "(none)", disk, want ? ", want " : "", want ? want : "");
	json_decref(j);
	return ok;
}

/* Entries of state/jobs (hidden ones too), newline-separated, into out. */
static int job_folders(char *out, size_t cap)
{
	DIR *d = opendir(path_in_tmp("state/jobs"));
	struct dirent *de;
	int n = 0;

	out[0] = '\0';
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			size_t l = strlen(out);

			snprintf(out + l, cap - l, "%s\n", de->d_name);
			n++;
		}
	closedir(d);
	return n;
}

static int job_file_exists(const char *id, const char *name)
{
	char path[1024];

	snprintf(path, sizeof path, "%s/jobs/%s/%s", path_in_tmp("state"), id, name);
	return access(path, F_OK) == 0;
}

static void test_full_disk(daemon_proc *d, const char *conf)
{
	char t[64], q1[64], q2[64], late[64], before[4096], after[4096], path[256];
	req del = {.method = "DELETE", .path = path};
	resp r;
	json_t *j;
	int nbefore;

	CHECK(submit(d->port, long_train, t, sizeof t) == 202);
	CHECK_MSG(wait_epoch(d->port, t, 1, 120), "the training job did not finish an epoch");
	for (int i = 0; i < 600 && !job_file_exists(t, "model.safetensors"); i++)
		sleep_ms(100);
	CHECK_MSG(job_file_exists(t, "model.safetensors"), "no best model after the first epoch");
	CHECK(submit(d->port, long_train, q1, sizeof q1) == 202);
	CHECK(submit(d->port, long_train, q2, sizeof q2) == 202);
	nbefore = job_folders(before, sizeof before);

	/* A submit on a full disk: 507, no path, no folder. */
	fill_disk();
	post_json(d->port, "/v1/jobs", long_train, &r);
	CHECK_PROBLEM(r, 507, "insufficient-storage");
	CHECK_MSG(r.body && !strstr(r.body, tmp) && !strstr(r.body, "/tmp"), "a path in: %s",
	          r.body ? r.body : "");
	resp_free(&r);
	CHECK(job_folders(after, sizeof after) == nbefore);
	CHECK_MSG(strcmp(before, after) == 0, "job folders were\n%snow\n%s", before, after);

	/* Cancelling a waiting job: what the API says is what the disk says. */
	fill_disk();
	snprintf(path, sizeof path, "/v1/jobs/%s", q1);
	http(d->port, &del, &r);
	CHECK_MSG(r.status == 200 || r.status == 507, "DELETE of a queued job: %ld %s", r.status,
	          r.body ? r.body : "");
	resp_free(&r);
	CHECK(agrees(d->port, q1, NULL));

	/* The running job fails at its next checkpoint, and keeps no model. */
	j = poll_job(d->port, t, "failed", 120);
	CHECK(j != NULL);
	if (j) {
		const char *e = json_string_value(json_object_get(j, "error"));

		CHECK_MSG(e && strstr(e, "space") && !strstr(e, tmp), "error: %s", e ? e : "(none)");
	}
	json_decref(j);
	CHECK(!job_file_exists(t, "model.safetensors"));
	CHECK(agrees(d->port, t, "failed"));
	/* q2 ran next and failed the same way. */
	fill_disk();
	j = poll_job(d->port, q2, NULL, 120);
	json_decref(j);
	CHECK(agrees(d->port, q2, NULL));
	CHECK(!job_file_exists(q2, "model.safetensors"));

	/* A restart on the full disk changes nothing. */
	{
		char st1[64], st2[64], stt[64];

		job_disk_state(path_in_tmp("state"), q1, st1, sizeof st1);
		job_disk_state(path_in_tmp("state"), q2, st2, sizeof st2);
		job_disk_state(path_in_tmp("state"), t, stt, sizeof stt);
		CHECK(stop_daemon(d, SIGTERM) == 0);
		if (start_daemon(d, "full-again", conf, NULL) != 0) {
			CHECK_MSG(0, "the daemon did not start on a full disk");
			return;
		}
		sleep_ms(1500); /* a job wrongly queued again would be running by now */
		CHECK(agrees(d->port, q1, st1));
		CHECK(agrees(d->port, q2, st2));
		CHECK(agrees(d->port, t, stt));
	}

	/* A finished job is deleted even on a full disk. */
	fill_disk();
	snprintf(path, sizeof path, "/v1/jobs/%s", t);
	http(d->port, &del, &r);
	CHECK_MSG(r.status == 204, "DELETE of a failed job: %ld %s", r.status, r.body ? r.body : "");
	resp_free(&r);
	CHECK(!job_file_exists(t, "status.json"));
	CHECK(job_folders(after, sizeof after) == nbefore - 1);

	/* Space again: submits are accepted. */
	CHECK(unlink(path_in_tmp("state/fill")) == 0);
	CHECK(submit(d->port, long_train, late, sizeof late) == 202);
}

int main(void)
{
	daemon_proc d;
	char conf[4096];

	harness_begin();
	if (mkdir(path_in_tmp("state"), 0755) != 0 ||
	    mount("tmpfs", path_in_tmp("state"), "tmpfs", 0, "size=4m,mode=0755") != 0) {
		fprintf(stderr, "SKIP: cannot mount a tmpfs (%s); this test needs root\n", strerror(errno));
		harness_end(0, "");
		return 77;
	}
	CHECK(run("mkdir -p '%s' && cd '%s' && '%s/tools/denoise' model-init speech.safetensors --filters 4 "
	          "--depth 2 >/dev/null",
	          path_in_tmp("models"), path_in_tmp("models"), builddir) == 0);
	CHECK(make_dataset(path_in_tmp("data/tiny")) == 0);
	jobs_conf(conf, sizeof conf, "max_queued_jobs = 4\njob_nice = 0\nlog_level = info\n");
	if (start_daemon(&d, "full", conf, NULL) != 0) {
		CHECK_MSG(0, "the daemon did not start");
	} else {
		test_full_disk(&d, conf);
		CHECK(stop_daemon(&d, SIGTERM) == 0);
	}
	if (check_failures)
		run("cp -a '%s' '%s'", path_in_tmp("state"), path_in_tmp("state-kept"));
	umount2(path_in_tmp("state"), MNT_DETACH);
	check_status();
	return harness_end(check_failures, "daemon logs and state (state-kept/)");
}
