/* Internal to src/net: run a helper program. */
#ifndef VK_NET_SPAWN_H
#define VK_NET_SPAWN_H

#include <stddef.h>

#include "network.h"

/* Run argv[0] (a path) with `input` on stdin (NULL = /dev/null), stdout to
 * /dev/null, stderr captured into errbuf (one line). Waits for it.
 * 0 and the wait status in *status, or -errno if it could not run. */
int net_spawn(char *const argv[], const char *input, int *status, char *errbuf, size_t errlen);

#endif
