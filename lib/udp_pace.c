#include "udp_pace.h"

void udp_pace_init(struct udp_pace *pace)
{
    *pace = (struct udp_pace){.batching = false, .singles = 0};
}

unsigned udp_pace_next(const struct udp_pace *pace, unsigned batch_max)
{
    if (pace->batching || pace->singles + 1 >= UDP_PACE_PROBE_EVERY)
        return batch_max;
    return 1;
}

void udp_pace_saw(struct udp_pace *pace, unsigned asked, unsigned got)
{
    if (asked > 1) {
        pace->batching = got > 1;
        pace->singles = 0;
    } else if (got > 0) {
        pace->singles++;
    }
}
