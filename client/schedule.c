#include "schedule.h"

#define SCHEDULE_NS_PER_S 1000000000.0

uint64_t schedule_due_ns(const struct schedule *s, uint32_t index, uint64_t k)
{
    /* In floating point: k * connections / rate need not be whole nanoseconds, nor fit 64 bits. */
    double slot = (double)index + (double)k * s->connections;
    return s->t0_ns + (uint64_t)(slot * SCHEDULE_NS_PER_S / s->rate);
}

uint64_t schedule_quota(const struct schedule *s, uint32_t index)
{
    return s->count / s->connections + (index < s->count % s->connections ? 1 : 0);
}

struct schedule_next schedule_next(const struct schedule *s, uint32_t index, uint64_t k,
                                   uint64_t quota, uint64_t now_ns)
{
    bool paced = s->rate > 0;
    uint64_t due = paced ? schedule_due_ns(s, index, k) : now_ns;
    struct schedule_next next = {
        .verdict = SCHEDULE_SEND,
        .due_ns = due,
        .intended_ns = paced ? due : 0,
        .measured = due >= s->measure_ns,
    };
    bool finished = s->count > 0 ? next.measured && quota == 0 : due >= s->end_ns;
    if (finished)
        next.verdict = SCHEDULE_DONE;
    else if (due > now_ns)
        next.verdict = SCHEDULE_WAIT;
    return next;
}
