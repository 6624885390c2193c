/* SPDX-License-Identifier: MIT */
/* Event layout shared by bootstrap.bpf.c and its user-space readers. */
#ifndef BPFKIT_TOOLS_BOOTSTRAP_H
#define BPFKIT_TOOLS_BOOTSTRAP_H

#if !defined(__bpf__)
#include <stdbool.h>
#endif

#define BOOTSTRAP_COMM_LEN 16
#define BOOTSTRAP_FILENAME_LEN 127

/*
 * One record of the "rb" ring buffer (168 bytes on x86_64):
 *   off   0  int pid
 *   off   4  int ppid
 *   off   8  unsigned exit_code        (0 for exec events)
 *   off  16  unsigned long long duration_ns (0 for exec events)
 *   off  24  char comm[16]
 *   off  40  char filename[127]        (empty for exit events)
 *   off 167  bool exit_event
 */
struct event {
	int pid;
	int ppid;
	unsigned exit_code;
	unsigned long long duration_ns;
	char comm[BOOTSTRAP_COMM_LEN];
	char filename[BOOTSTRAP_FILENAME_LEN];
	bool exit_event;
};

#endif /* BPFKIT_TOOLS_BOOTSTRAP_H */
