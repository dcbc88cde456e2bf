#include "deadline.h"

struct deadline_choice deadline_choose(const struct deadline_timeouts *timeouts,
                                       enum deadline_kind current,
                                       const struct deadline_round *round)
{
    enum deadline_kind kind = DEADLINE_IDLE;
    bool progress = round->bytes_read > 0 || round->bytes_sent > 0;
    if (round->want_write && timeouts->write_ms != 0) {
        kind = DEADLINE_WRITE;
        progress = round->bytes_sent > 0;
    } else if (round->mid_request && timeouts->frame_ms != 0) {
        kind = DEADLINE_FRAME;
        progress = round->request_done;
    }
    return (struct deadline_choice){.kind = kind, .restart = kind != current || progress};
}
