/* Shared by tap.c and tap_mq.c (private to src/net). */
#ifndef VIRTKIT_NET_TAP_INT_H
#define VIRTKIT_NET_TAP_INT_H

#include <stdint.h>

#include "net.h"

/* Open /dev/net/tun as a TAP with a vnet header; extra_flags adds e.g.
 * IFF_MULTI_QUEUE. name may be a "vnet%d" template. Returns the fd or
 * -errno; out_name gets the kernel's name. */
int tap_open_flags(const char *name, int extra_flags, char out_name[NET_IFNAMSIZ]);

/* Give a guest NIC's TAP its host-side MAC (fe:... from the guest's, so
 * the bridge does not take guest frames as local), its bridge, and bring
 * it up. mac and bridge may be NULL. */
int tap_plug(const char *name, const uint8_t mac[6], const char *bridge, struct vk_err *err);

#endif
