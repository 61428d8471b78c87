/*
 * notify.h — systemd's notification protocol (sd_notify): READY=1, STATUS=,
 * RELOADING=1, STOPPING=1 and the watchdog. Without NOTIFY_SOCKET (not
 * started by systemd) every call does nothing.
 */
#ifndef DAEMON_NOTIFY_H
#define DAEMON_NOTIFY_H

#include <stdint.h>

void daemon_notify_ready(const char *status);
void daemon_notify_status(const char *status);
void daemon_notify_reloading(void);
void daemon_notify_stopping(void);
/* The watchdog period systemd asked for (WatchdogSec=), in µs; 0 if none. */
uint64_t daemon_notify_watchdog_usec(void);
void daemon_notify_watchdog(void);

#endif
