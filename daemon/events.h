/* SPDX-License-Identifier: GPL-2.0 */
/*
 * NIDS alert events: the main loop drains every nids NF's alert ring (nf/nids.h)
 * off the packet path and writes one Suricata EVE JSON line per firing
 * (event_type "alert") to a file, or to the journal ([gen] eve_log). The file
 * is reopened on SIGUSR1 and on reload, for logrotate.
 */
#ifndef GEN_EVENTS_H
#define GEN_EVENTS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct rt;

enum ev_sink { EV_OFF, EV_FILE, EV_JOURNAL };

struct ev_stuck {
	const void *blob; /* host blob of the nids NF whose ring stalls */
	uint64_t idx;     /* the record it waits for */
	uint64_t since_ns;
};

struct events {
	enum ev_sink sink;
	char path[PATH_MAX];
	int fd;               /* EV_FILE: -1 while it could not be opened */
	int open_errno;       /* why it could not, for status */
	uint64_t written;     /* events written */
	uint64_t unwritten;   /* drained but not written (no file, write errors) */
	uint64_t skipped;     /* ring records never completed (a batch that failed mid-way) */
	struct ev_stuck stuck[8];
};

void events_init(struct events *ev);
/* Take [gen] eve_log of the running config: (re)open the file. 0, or -errno with a line for the log in msg. */
int events_configure(struct events *ev, const char *eve_log, char *msg, size_t len);
/* SIGUSR1: reopen the file (logrotate moved it). 0 or -errno with msg. */
int events_reopen(struct events *ev, char *msg, size_t len);
/* Drain every ring of every chain now; returns the events taken. */
uint64_t events_poll(struct events *ev, struct rt *rt);
void events_fini(struct events *ev);
/* For genctl status: one line, or a JSON member "eve":{...}. */
void events_print(const struct events *ev, FILE *out, bool json);
/*
 * One EVE line (no newline) for a firing of sid/rev/msg on the 5-tuple at ts
 * (ns since the epoch), in chain and nf; action "allowed" or "blocked".
 */
int events_format(char *buf, size_t len, uint64_t ts, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		  uint8_t proto, uint32_t sid, uint32_t rev, const char *msg, bool blocked, const char *chain,
		  const char *nf);

#endif
