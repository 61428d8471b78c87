/*
 * jobs_run.h — the threads of the job manager. A runner takes the oldest
 * queued job, re-validates its spec, runs core's training or evaluation loop
 * with a progress callback that records progress, wakes the streams and
 * returns the job's stop flag, then records the outcome. The heartbeat wakes
 * every stream each few seconds. Part of the job manager (jobs_internal.h).
 */
#ifndef DAEMON_JOBS_RUN_H
#define DAEMON_JOBS_RUN_H

/* Thread functions; arg is the manager (jobs *). Both return when
 * J->stopping is set. */
void *jobs_runner(void *arg);
void *jobs_heartbeat(void *arg);

#endif
