/* virtkitd client library (libvkdaemon-client): what the CLI links.
 *
 * Connect by URI, call a method (rpc.h) and get its result or an error,
 * subscribe to events. Blocking, one request at a time per connection;
 * not thread-safe (use one connection per thread).
 *
 * URIs: "virtkit:///system", "virtkit:///session"; "?socket=PATH" picks
 * an explicit socket (e.g. "virtkit:///system?socket=/tmp/x/sock").
 * NULL uri = $VIRTKIT_DEFAULT_URI, else system for root and session for
 * everybody else. Paths honour $VIRTKIT_ROOT (see paths.h).
 * readonly = use the read-only socket (system) / ask for read-only access.
 * A session URI whose socket does not answer auto-starts `virtkitd
 * --session --daemon --timeout 120` ($VIRTKIT_DAEMON, else beside the running binary,
 * else from PATH) and waits for it.
 */
#ifndef VK_DAEMON_CLIENT_H
#define VK_DAEMON_CLIENT_H

#include <stdbool.h>

#include <json-c/json.h>

#include "rpc.h"
#include "util.h"

struct vk_client;

int vk_client_open(const char *uri, bool readonly, struct vk_client **out,
                   struct vk_err *err) VK_MUST_CHECK;
void vk_client_close(struct vk_client *c);
/* The canonical URI this connection uses ("virtkit:///system"). */
const char *vk_client_uri(const struct vk_client *c);

/* Send `method` with `params` (ownership taken; NULL = {}), wait for the
 * response. On success 0 and *result (caller puts; may be NULL to
 * discard). On failure -errno-like value (-EPROTO for an RPC error) and
 * err->msg = the daemon's message; vk_client_last_code() tells which. */
int vk_client_call(struct vk_client *c, const char *method,
                   struct json_object *params, struct json_object **result,
                   struct vk_err *err) VK_MUST_CHECK;
enum vk_rpc_code vk_client_last_code(const struct vk_client *c);

/* Events: subscribe once, then read them. timeout_ms < 0 waits forever.
 * Returns 1 with *event, 0 on timeout, -errno on error / EOF (-EPIPE). */
int vk_client_subscribe(struct vk_client *c, struct vk_err *err) VK_MUST_CHECK;
int vk_client_next_event(struct vk_client *c, int timeout_ms,
                         struct json_object **event, struct vk_err *err);

/* The socket, for the raw console relay after "domain.console". Bytes
 * already buffered by the library are returned by vk_client_take_buffered. */
int vk_client_fd(const struct vk_client *c);
size_t vk_client_take_buffered(struct vk_client *c, char *buf, size_t len);

#endif
