/*
 * notify.c — see notify.h. Thin wrappers, so that main.c reads as the
 * protocol and the log says when a notification could not be sent.
 */
#include "daemon/notify.h"

#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "daemon/log.h"

static void send_state(const char *state)
{
	int rc = sd_notify(0, state);

	if (rc < 0)
		daemon_log(LOG_LVL_WARNING, "sd_notify(%s): %s", state, strerror(-rc));
}

void daemon_notify_ready(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof buf, "READY=1\nSTATUS=%s", status);
	send_state(buf);
}

void daemon_notify_status(const char *status)
{
	char buf[512];

	snprintf(buf, sizeof buf, "STATUS=%s", status);
	send_state(buf);
}

void daemon_notify_reloading(void)
{
	send_state("RELOADING=1\nSTATUS=reloading models");
}

void daemon_notify_stopping(void)
{
	send_state("STOPPING=1\nSTATUS=draining requests in flight");
}

uint64_t daemon_notify_watchdog_usec(void)
{
	uint64_t usec = 0;

	return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}

void daemon_notify_watchdog(void)
{
	send_state("WATCHDOG=1");
}
