#include "gso.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>

void gso_attach(struct msghdr *msg, union gso_control *control, uint16_t segment)
{
    memset(control, 0, sizeof *control);
    msg->msg_control = control->bytes;
    msg->msg_controllen = sizeof control->bytes;
    struct cmsghdr *cm = CMSG_FIRSTHDR(msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof segment);
    memcpy(CMSG_DATA(cm), &segment, sizeof segment);
}
