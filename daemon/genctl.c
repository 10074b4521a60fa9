// SPDX-License-Identifier: GPL-2.0
/*
 * genctl: talk to a running gend over its control socket.
 * Exit status: 0 OK, 1 the daemon answered ERR, 2 usage, 3 daemon not reachable.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cfg.h"
#include "ctl.h"

enum { EXIT_ERR = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: genctl [-s SOCKET] [--json] COMMAND\n"
		"commands:\n"
		"  status        backend, ports, uptime, packet rate\n"
		"  stats         per-chain counters (--json: one object)\n"
		"  stats --watch one sample of every chain's batch size, ring, drops, placement and\n"
		"                latency per line, every --interval MS (default 10), --count N times\n"
		"                (default: until interrupted); --json: one JSON object per line\n"
		"  chains        chains with their matches, NFs and output\n"
		"  reload        re-read the config; waits until applied or rejected\n"
		"  metrics       every counter in the Prometheus text format\n"
		"  alerts NF     alerts of a nids NF\n"
		"  flows NF      flows seen by a flowmon NF\n"
		"  report NF WHAT  any other per-NF report\n"
		"  synth-rate PPS  rate of the synthetic ports, packets/s per port and queue\n"
		"options:\n"
		"  -s, --socket SOCKET  control socket (default %s)\n"
		"  -j, --json           machine-readable output\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version and exit\n"
		"  -w, --watch          stats: a stream of samples\n"
		"  -i, --interval MS    --watch: sampling period (1..60000, default 10)\n"
		"  -n, --count N        --watch: stop after N samples\n",
		CFG_DEFAULT_CONTROL);
}

/* A sample as text: one line per chain. */
static void print_sample_text(const char *json, long t0_ms)
{
	static const char *const keys[] = { "name", "placement", "batch_last", "ring", "ring_out", "dropped", "window_p50_us",
					    "window_p99_us", "batch_limit", "depth", "switches", NULL };

	for (const char *ch = strstr(json, "{\"name\""); ch; ch = strstr(ch + 1, "{\"name\"")) {
		printf("%7ld ms", t0_ms);
		for (int k = 0; keys[k]; k++) {
			char pat[40];
			const char *v;
			int len;

			snprintf(pat, sizeof(pat), "\"%s\":", keys[k]);
			v = strstr(ch, pat);
			if (!v)
				continue;
			v += strlen(pat);
			len = (int)strcspn(v, ",}");
			printf(" %s=%.*s", keys[k], len, v);
		}
		printf("\n");
	}
}

/* stats --watch: sample every interval_ms, each sample one line (JSON) or one line per chain. */
static int watch(const char *sock, bool json, long interval_ms, long count)
{
	struct timespec start, next;

	clock_gettime(CLOCK_MONOTONIC, &start);
	next = start;
	for (long i = 0; !count || i < count; i++) {
		char *body = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&body, &len);
		int r;

		if (!out)
			return EXIT_UNREACHABLE;
		r = ctl_request_timeout(sock, "sample --json", out, 5000);
		fclose(out);
		if (r) {
			if (r < 0)
				fprintf(stderr, "genctl: cannot talk to gend on %s: %s\n", sock, strerror(-r));
			else
				fwrite(body, 1, len, stderr);
			free(body);
			return r < 0 ? EXIT_UNREACHABLE : EXIT_ERR;
		}
		if (json) {
			fwrite(body, 1, len, stdout);
		} else {
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			print_sample_text(body, (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		}
		fflush(stdout);
		free(body);
		/* On a fixed grid, so that a slow sample does not shift the later ones. */
		next.tv_nsec += (interval_ms % 1000) * 1000000;
		next.tv_sec += interval_ms / 1000 + next.tv_nsec / 1000000000;
		next.tv_nsec %= 1000000000;
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ 0 },
	};
	const char *sock = CFG_DEFAULT_CONTROL;
	char cmd[CTL_LINE_MAX];
	char *body = NULL;
	size_t len = 0;
	bool json = false, watching = false;
	long interval_ms = 10, count = 0;
	char *end;
	FILE *out;
	int c, r, n;

	while ((c = getopt_long(argc, argv, "s:jhVwi:n:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("genctl %s\n", GEN_VERSION);
			return 0;
		case 'w':
			watching = true;
			break;
		case 'i':
			interval_ms = strtol(optarg, &end, 10);
			if (*end || interval_ms < 1 || interval_ms > 60000) {
				fprintf(stderr, "genctl: --interval must be milliseconds 1..60000, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			count = strtol(optarg, &end, 10);
			if (*end || count < 1) {
				fprintf(stderr, "genctl: --count must be a positive number, not '%s'\n", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *verb = argv[0];

	if (watching) {
		if (strcmp(verb, "stats") || argc != 1) {
			fprintf(stderr, "genctl: --watch goes with 'stats' only\n");
			return EXIT_USAGE;
		}
		return watch(sock, json, interval_ms, count);
	}

	if ((!strcmp(verb, "status") || !strcmp(verb, "stats") || !strcmp(verb, "chains") ||
	     !strcmp(verb, "reload") || !strcmp(verb, "metrics")) && argc == 1)
		n = snprintf(cmd, sizeof(cmd), "%s", verb);
	else if ((!strcmp(verb, "alerts") || !strcmp(verb, "flows")) && argc == 2)
		n = snprintf(cmd, sizeof(cmd), "report %s %s", argv[1], verb);
	else if (!strcmp(verb, "synth-rate") && argc == 2)
		n = snprintf(cmd, sizeof(cmd), "synth-rate %s", argv[1]);
	else if (!strcmp(verb, "report") && argc == 3)
		n = snprintf(cmd, sizeof(cmd), "report %s %s", argv[1], argv[2]);
	else {
		fprintf(stderr, "genctl: bad command line: '%s' with %d argument(s)\n", verb, argc - 1);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (n < 0 || (size_t)n + 8 >= sizeof(cmd) || strpbrk(cmd, "\n\r")) {
		fprintf(stderr, "genctl: command too long or contains a newline\n");
		return EXIT_USAGE;
	}
	if (json)
		strcat(cmd, " --json");

	/* Buffer the body: OK bodies go to stdout, ERR bodies to stderr. */
	out = open_memstream(&body, &len);
	if (!out) {
		perror("genctl");
		return EXIT_UNREACHABLE;
	}
	r = ctl_request(sock, cmd, out);
	fclose(out);
	if (r < 0) {
		fprintf(stderr, "genctl: cannot talk to gend on %s: %s%s\n", sock, strerror(-r),
			r == -ENOENT || r == -ECONNREFUSED ? " (is gend running?)" :
			r == -EACCES ? " (the socket is root's only)" : "");
		free(body);
		return EXIT_UNREACHABLE;
	}
	fwrite(body, 1, len, r ? stderr : stdout);
	free(body);
	return r ? EXIT_ERR : 0;
}
