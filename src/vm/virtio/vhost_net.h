/* vhost-net: the host kernel serves a virtio-net queue pair (linux/vhost.h).
 *
 * One /dev/vhost-net fd per queue pair (vring 0 = receive, 1 = transmit),
 * backed by that pair's TAP queue fd. Guest kicks reach the kernel through
 * the pair's kick eventfds (virtio_pci_set_kickfd: the ioeventfd on KVM,
 * the bus handler under --accel tcg); the kernel's "call" eventfds are
 * relayed by one thread per device into the queue's MSI-X / INTx interrupt,
 * and its "err" eventfd makes the device fall back to user space.
 *
 * Stopping a pair (device reset, vhost error, device teardown) reads the
 * ring positions back (VHOST_GET_VRING_BASE and the used index in guest
 * memory), so the user-space virtio-net continues exactly where the kernel
 * stopped.
 *
 * Locking: vhost_net_start/stop take the rx and tx queue locks (struct
 * virtq.lock) while the ring changes hands; user-space paths check
 * vhost_net_active() under the same lock and keep off the ring while it is
 * true.
 */
#ifndef VK_VM_VHOST_NET_H
#define VK_VM_VHOST_NET_H

#include <stdbool.h>

#include "virtio.h"

enum vhost_mode { VHOST_MODE_OFF, VHOST_MODE_ON, VHOST_MODE_AUTO };

struct vhost_net;

/* Parse "on"/"off"/"auto" (also yes/no/1/0); -EINVAL otherwise. */
int vhost_mode_parse(const char *s, enum vhost_mode *out);
/* Path of the device node; VIRTKIT_VHOST_NET overrides it (tests). */
const char *vhost_net_path(void);

/* Open `pairs` vhost-net instances. OFF: *out = NULL. AUTO: *out = NULL
 * (logged at info level) when the device cannot be opened. ON: that is an
 * error (-errno, message in err). */
int vhost_net_open(enum vhost_mode mode, unsigned pairs, struct vhost_net **out,
                   struct vk_err *err) VK_MUST_CHECK;
/* Start the relay thread; call once the virtio device exists. */
int vhost_net_attach(struct vhost_net *h, struct virtio_dev *vd, struct vk_err *err) VK_MUST_CHECK;
/* Hand queue pair `pair` (virtqueues rxq, txq, both ready) with TAP queue
 * fd `tap` to the kernel. `wake` is written when the pair returns to user
 * space. Returns 0, or -errno (the pair stays in user space). */
int vhost_net_start(struct vhost_net *h, unsigned pair, unsigned rxq, unsigned txq, int tap,
                    int wake, struct vk_err *err);
/* Take the pair back (no-op if not started). */
void vhost_net_stop(struct vhost_net *h, unsigned pair);
bool vhost_net_active(struct vhost_net *h, unsigned pair);
/* Stop every pair, the relay thread, close everything. NULL is fine. */
void vhost_net_close(struct vhost_net *h);

#endif
