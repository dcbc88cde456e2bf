#include "sockio.h"

#include <unistd.h>

const struct sockio sockio_system = {
    .recv = recv,
    .send = send,
    .shutdown = shutdown,
    .close = close,
    .accept4 = accept4,
};
