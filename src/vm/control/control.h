/* The control socket server: a UNIX stream socket speaking QMP (qmp.h).
 *
 * One thread polls the listening socket and every client. Output to each
 * client is buffered (bounded: a client that stops reading while output
 * piles up past CONTROL_MAX_OUTPUT is disconnected) so a slow client never
 * blocks the VM. Events may be raised from any thread.
 */
#ifndef VK_VM_CONTROL_H
#define VK_VM_CONTROL_H

#include "qmp.h"

#define CONTROL_MAX_CLIENTS 16
#define CONTROL_MAX_OUTPUT  (1024 * 1024)

struct control_server;

/* Listen on `path` (a stale socket there is replaced; any other file is an
 * error) and start the server thread. */
int control_server_start(const char *path, const struct qmp_backend_ops *ops, void *opaque,
                         struct control_server **out, struct vk_err *err) VK_MUST_CHECK;
/* Send an event to every client past capabilities negotiation. Takes
 * ownership of data (may be NULL). Any thread. */
void control_server_event(struct control_server *c, const char *event, struct json_object *data);
/* Stop the thread, then send `event` (if not NULL; takes ownership of
 * data) after every reply already queued, flush what is buffered (waiting
 * at most ~1 s in total), close every client, remove the socket file. */
void control_server_stop(struct control_server *c, const char *event, struct json_object *data);

#endif
