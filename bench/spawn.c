// SPDX-License-Identifier: MIT
/*
 * spawn: start one benchmark process and measure it from the outside.
 *
 * usage: spawn [-e NAME] [-o FILE] -- PROGRAM [ARGS...]
 *
 * Takes CLOCK_MONOTONIC, exports it in nanoseconds as NAME (the process
 * reports its start-up time against it, e.g. BENCH_SPAWN_MONO_NS), starts
 * PROGRAM with posix_spawnp (stdout to FILE with -o), waits for it with wait4
 * and writes one line to stderr after the process has ended:
 *   @spawn {"wall_ns": ..., "maxrss_kib": ..., "utime_us": ..., "stime_us": ..., "status": ..., "signal": ...}
 *
 * Why a separate small program: ru_maxrss of a process includes the RSS of
 * the memory image it replaced at exec, i.e. of whatever forked it. Started
 * from the Python runner, a 1 MiB C program would report the runner's 15 MiB.
 * Started from this program, every measured process carries the same ~1 MiB.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

extern char **environ;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: spawn [-e NAME] [-o FILE] -- PROGRAM [ARGS...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *env_name = NULL, *out = NULL;
	posix_spawn_file_actions_t actions;
	char stamp[32];
	struct rusage ru;
	uint64_t t0, t1;
	int opt, err, status;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+e:o:")) != -1) {
		switch (opt) {
		case 'e':
			env_name = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();

	posix_spawn_file_actions_init(&actions);
	if (out && posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out, O_WRONLY | O_CREAT | O_TRUNC, 0644)) {
		fprintf(stderr, "spawn: cannot set up stdout redirection\n");
		return 2;
	}

	t0 = mono_ns();
	if (env_name) {
		snprintf(stamp, sizeof(stamp), "%" PRIu64, t0);
		if (setenv(env_name, stamp, 1)) {
			fprintf(stderr, "spawn: setenv %s: %s\n", env_name, strerror(errno));
			return 2;
		}
	}
	err = posix_spawnp(&pid, argv[optind], &actions, NULL, argv + optind, environ);
	if (err) {
		fprintf(stderr, "spawn: cannot start %s: %s\n", argv[optind], strerror(err));
		return 127;
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "spawn: wait4: %s\n", strerror(errno));
			return 2;
		}
	}
	t1 = mono_ns();
	posix_spawn_file_actions_destroy(&actions);

	fprintf(stderr,
		"@spawn {\"wall_ns\": %" PRIu64 ", \"maxrss_kib\": %ld, \"utime_us\": %ld, \"stime_us\": %ld, "
		"\"status\": %d, \"signal\": %d}\n",
		t1 - t0, ru.ru_maxrss, (long)(ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec),
		(long)(ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec), WIFEXITED(status) ? WEXITSTATUS(status) : -1,
		WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
