/*
 * gso: UDP generic segmentation offload (UDP_SEGMENT), as both ends use it:
 * several datagrams of one length written as one message, which the kernel
 * carries as one packet down the stack and cuts into datagrams of that
 * length at the end; the peer receives them one by one. Here are the
 * kernel's limits on one such message and the control message that asks
 * for it. shout's flows (client/flow.c) and shoutd's replies
 * (server/dgram.c) send with it.
 *
 * Pure: no syscalls, no allocation; the caller owns the message and the
 * control buffer, which must outlive the send.
 */
#ifndef SHOUT_GSO_H
#define SHOUT_GSO_H

#include <stdint.h>
#include <sys/socket.h>

/* UDP_MAX_SEGMENTS in the kernel, and one IP datagram's payload in all. */
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES    65000

/* Room for the one control message, aligned as cmsg(3) needs. */
union gso_control {
    char bytes[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
};

/* Ask for msg's payload to be sent as datagrams of segment bytes each. */
void gso_attach(struct msghdr *msg, union gso_control *control, uint16_t segment);

#endif
