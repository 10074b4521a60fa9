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
		"  chains        chains with their matches, NFs and output\n"
		"  reload        re-read the config; waits until applied or rejected\n"
		"  metrics       every counter in the Prometheus text format\n"
		"  alerts NF     alerts of a nids NF\n"
		"  flows NF      flows seen by a flowmon NF\n"
		"  report NF WHAT  any other per-NF report\n"
		"options:\n"
		"  -s, --socket SOCKET  control socket (default %s)\n"
		"  -j, --json           machine-readable output\n"
		"  -h, --help           this text\n"
		"  -V, --version        print the version and exit\n",
		CFG_DEFAULT_CONTROL);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *sock = CFG_DEFAULT_CONTROL;
	char cmd[CTL_LINE_MAX];
	char *body = NULL;
	size_t len = 0;
	bool json = false;
	FILE *out;
	int c, r, n;

	while ((c = getopt_long(argc, argv, "s:jhV", opts, NULL)) != -1) {
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

	if ((!strcmp(verb, "status") || !strcmp(verb, "stats") || !strcmp(verb, "chains") ||
	     !strcmp(verb, "reload") || !strcmp(verb, "metrics")) && argc == 1)
		n = snprintf(cmd, sizeof(cmd), "%s", verb);
	else if ((!strcmp(verb, "alerts") || !strcmp(verb, "flows")) && argc == 2)
		n = snprintf(cmd, sizeof(cmd), "report %s %s", argv[1], verb);
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
