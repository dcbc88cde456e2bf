#!/usr/bin/env python3
"""Writes corpus/fuzz_server/: action programs for fuzz/fuzz_server.c, one per
path of the server worth starting from. Run it after changing the action
format (fuzz_server.c, fuzz_server_act); the files are committed."""
import os
import struct
import sys

RUN, CONNECT, SEND, SEND_BIG, FIN, RST, FAULT, DATAGRAMS, ADVANCE, SIGNAL, ORDER, \
    WINDOW, READ, STATS = range(14)
(C_RECV, C_SEND, C_ACCEPT, C_RECVFROM, C_RECVMMSG, C_SENDTO, C_SENDMMSG, C_SENDMSG,
 C_EPOLL_WAIT, C_EPOLL_CTL, C_SHUTDOWN, C_SETSOCKOPT, C_OPEN, C_READ,
 C_TIMERFD_SETTIME, C_SOCKET, C_BIND, C_LISTEN, C_GETSOCKNAME, C_EPOLL_CREATE, C_TIMERFD_CREATE,
 C_SIGNALFD, C_GETRANDOM, C_CLOSE, C_ALLOCATE) = range(25)
(F_EAGAIN, F_EINTR, F_ECONNRESET, F_EPIPE, F_SHORT, F_EMFILE, F_ENOMEM, F_EIO,
 F_EADDRINUSE) = range(1, 10)
SIGTERM, SIGINT, SIGUSR1, SIGHUP = 0, 1, 2, 0xff
MAIN, SOCKPERF, STATS_PORT = 0, 1, 2
LOOPBACK = 10  # the source that is 127.0.0.1


def header(sockperf=False, stats=False, limit_loopback=False, prefix128=False, frame=2,
           idle=3, write=2, max_conns=15, per_ip=0, rate=0, burst=0, global_rate=0,
           fds=39, max_frame=1, max_output=0, buffered=3, grace=1, slots=2, busy=0,
           any_port=False, listen6=False, odd_process=False, test_seed=False, cgroup=0,
           start_fault=(0, 0), listen_any=False):
    flags = (sockperf | stats << 1 | limit_loopback << 2 | prefix128 << 3 | any_port << 4
             | listen6 << 5 | odd_process << 6 | test_seed << 7)
    buffered |= cgroup << 2 | listen_any << 4  # listen_any: --listen :: for listen6's ::1
    return bytes([flags, frame, idle, write, max_conns, per_ip, rate, burst, global_rate,
                  fds, max_frame, max_output, buffered, grace, slots, busy, *start_fault])


def send_big(peer, kib4, pattern=b"abcd"):
    """kib4 x 4 KiB of pattern, repeated."""
    return bytes([SEND_BIG, peer, kib4 - 1]) + pattern


def connect(port=MAIN, source=0):
    return bytes([CONNECT, port | source << 2])


def send(peer, data):
    out = b""
    while data:
        chunk, data = data[:255], data[255:]
        out += bytes([SEND, peer, len(chunk)]) + chunk
    return out


def frame(ident, payload, kind=1):
    return bytes([0xF5, 0x55, 1, kind]) + struct.pack(">IQ", len(payload), ident) + payload


def sockperf_msg(seq, payload, flags=3):
    return struct.pack(">QHI", seq, flags, 14 + len(payload)) + payload


def advance(ms):
    """ADVANCE runs the server too; ms is rounded to what one byte can say."""
    out = b""
    for scale, unit in ((3, 1000), (2, 100), (1, 10), (0, 1)):
        while ms >= unit:
            n = min(ms // unit, 64)
            out += bytes([ADVANCE, scale | (n - 1) << 2])
            ms -= n * unit
    return out


def datagrams(port, source, data, count=1, stride=0, source_port=3):
    return bytes([DATAGRAMS, port | source_port << 1, source | stride << 4, count - 1,
                  len(data)]) + data


def big_header(ident, length):
    """A request's header that announces length bytes of payload, to come."""
    return bytes([0xF5, 0x55, 1, 1]) + struct.pack(">IQ", length, ident)


def fault(call, kind):
    return bytes([FAULT, call, kind])


R = bytes([RUN])
SEEDS = {
    "text_echo": header() + connect() + R + send(0, b"hello, shout") + R + bytes([FIN, 0]) + R,
    "framed_requests": header() + connect(source=3) + R
    + send(0, frame(1, b"abc") + frame(2, b"") + frame(3, b"xyz" * 20)) + R + bytes([FIN, 0]) + R,
    "framed_bad_magic_lingers": header() + connect() + R
    + send(0, bytes([0xF5, 0x00]) + b"\0" * 14 + b"after") + R + advance(2100),
    "sigterm_after_peer_reset": header(grace=1) + connect() + connect(source=1) + R
    + send(0, frame(7, b"held")[:10]) + send(1, b"text") + R
    + bytes([RST, 0, SIGNAL, SIGTERM]) + R + advance(1500),
    "sigterm_drains_framed": header(grace=2) + connect() + R + send(0, frame(1, b"one"))
    + send(0, frame(2, b"two")[:7]) + bytes([SIGNAL, SIGTERM]) + R + bytes([FIN, 0]) + R
    + advance(3000),
    "sigterm_grace_cut": header(grace=1) + connect() + R + bytes([WINDOW, 0, 0])
    + send(0, b"x" * 200) + R + bytes([SIGNAL, SIGINT]) + R + advance(1200),
    "slowloris_frame_timeout": header(frame=1) + connect() + R + send(0, frame(1, b"abcd")[:5])
    + R + advance(400) + send(0, b"\0") + R + advance(700) + advance(10),
    "idle_timeout": header(idle=1, frame=0) + connect() + R + send(0, b"hi") + R + advance(2010),
    "write_timeout": header(write=1) + connect() + R + bytes([WINDOW, 0, 1])
    + send(0, b"y" * 250) + R + advance(1100),
    "window_then_read": header(max_output=1) + connect() + R + bytes([WINDOW, 0, 2])
    + send(0, b"z" * 200) + R + bytes([READ, 0]) + R + bytes([WINDOW, 0, 255]) + R,
    "max_conns": header(max_conns=1) + connect() + connect(source=1) + connect(source=2) + R
    + send(0, b"ok") + R,
    "per_ip_cap": header(per_ip=1) + connect(source=4) + connect(source=4) + connect(source=5)
    + R + advance(10),
    "out_of_descriptors": header(fds=0) + connect() + connect(source=1) + connect(source=2) + R
    + advance(150) + R,
    "no_spare": header(fds=0) + fault(C_OPEN, F_EMFILE) + connect() + connect(source=1)
    + connect(source=2) + R + advance(120) + R,
    "stats_port": header(stats=True) + connect() + R + send(0, b"count me") + R
    + datagrams(MAIN, 2, b"udp") + R + bytes([STATS]) + bytes([SIGNAL, SIGUSR1]) + R,
    "sockperf_tcp_udp": header(sockperf=True) + connect(SOCKPERF) + R
    + send(0, sockperf_msg(1, b"ping") + sockperf_msg(2, b"no reply", flags=1)
           + sockperf_msg(3, b"warm", flags=7)) + R
    + datagrams(SOCKPERF, 1, sockperf_msg(9, b"udp")) + R + bytes([FIN, 0]) + R,
    "udp_sources_and_ports": header() + datagrams(MAIN, 0, b"text", source_port=0)
    + datagrams(MAIN, 1, b"text", source_port=1) + datagrams(MAIN, 2, b"text", source_port=2)
    + datagrams(MAIN, 3, frame(5, b"framed")) + datagrams(MAIN, 4, b"") + R,
    "udp_budget_rotation": header(rate=1, burst=0, slots=0, global_rate=0)
    + datagrams(MAIN, 0, b"rot", count=25, stride=1) + R + advance(100)
    + datagrams(MAIN, 0, b"rot", count=25, stride=1) + R,
    "udp_global_budget": header(global_rate=2)
    + datagrams(MAIN, 0, b"g", count=30, stride=1) + R + advance(1000)
    + datagrams(MAIN, 3, b"g", count=10) + R,
    "udp_batches_gso": header(limit_loopback=False)
    + datagrams(MAIN, 10, b"s" * 100, count=64) + R + datagrams(MAIN, 10, b"t" * 100, count=64)
    + fault(C_SENDMMSG, F_SHORT) + R,
    "memory_shed": header(buffered=1, max_frame=3) + connect() + connect(source=1) + R
    + send(0, big_header(1, 200000)) + bytes([SEND_BIG, 0, 30, 0x61, 0x62, 0x63, 0x64]) + R
    + send(1, big_header(2, 200000)) + bytes([SEND_BIG, 1, 40, 0x61, 0x61, 0x61, 0x61]) + R,
    "memory_shed_per_source": header(buffered=2, max_frame=3) + connect(source=2)
    + connect(source=2) + R + send(0, big_header(1, 300000))
    + bytes([SEND_BIG, 0, 40, 0x61, 0x62, 0x63, 0x64]) + R + send(1, big_header(2, 300000))
    + bytes([SEND_BIG, 1, 50, 0x61, 0x61, 0x61, 0x61]) + R,
    "busy_poll": header(busy=21) + connect() + R + send(0, b"spin") + R + advance(5)
    + bytes([FIN, 0]) + R,
    "derived_budget": header(buffered=0) + connect() + R + send(0, b"x") + R,
    "udp_malformed": header(sockperf=True) + datagrams(MAIN, 1, bytes([0xF5, 0x55, 9, 1]) + b"\0" * 20)
    + datagrams(MAIN, 1, bytes([0xF5, 0x55, 1])) + datagrams(SOCKPERF, 2, sockperf_msg(1, b"n", 1))
    + datagrams(SOCKPERF, 2, struct.pack(">QHI", 1, 3, 5)) + R,
    "udp_gso_eio": header() + datagrams(MAIN, 10, b"q" * 64, count=64) + R
    + datagrams(MAIN, 10, b"r" * 64, count=64) + fault(C_SENDMMSG, F_EIO)
    + fault(C_SENDMSG, F_EINTR) + R + datagrams(MAIN, 10, b"s" * 64, count=64)
    + fault(C_SENDMMSG, F_EINTR) + R + datagrams(MAIN, 10, b"t" * 64, count=64)
    + fault(C_SENDMMSG, F_ENOMEM) + R,
    "epoll_ctl_fault_on_wait": header() + connect() + R + bytes([WINDOW, 0, 0])
    + fault(C_EPOLL_CTL, F_ENOMEM) + send(0, b"w" * 40) + R,
    "shutdown_fault_on_linger": header() + connect() + R + fault(C_SHUTDOWN, F_ECONNRESET)
    + send(0, bytes([0xF5, 0x00]) + b"\0" * 14) + R,
    "epoll_ctl_fault_on_linger": header() + connect() + R + fault(C_EPOLL_CTL, F_ENOMEM)
    + send(0, bytes([0xF5, 0x00]) + b"\0" * 14) + R,
    "shutdown_fault_on_drain": header() + connect() + R + send(0, frame(1, b"abc")[:6]) + R
    + fault(C_SHUTDOWN, F_ECONNRESET) + bytes([SIGNAL, SIGTERM]) + R + advance(1100),
    "timer_fault_is_fatal": header() + fault(C_TIMERFD_SETTIME, F_ENOMEM) + connect() + R
    + send(0, b"after") + R,
    "accept_pause_resume": header(fds=0, max_conns=15) + b"".join(connect(source=s) for s in range(6))
    + fault(C_OPEN, F_EMFILE) + R + advance(50) + bytes([RST, 0, RST, 1]) + R + advance(60) + R,
    "any_port_and_ipv6_listener": header(any_port=True, listen6=True, sockperf=True, stats=True)
    + connect() + connect(SOCKPERF, 11) + R + send(0, b"v6") + send(1, sockperf_msg(1, b"x"))
    + datagrams(MAIN, 11, b"dgram") + R + bytes([STATS]),
    "cgroup_budget": header(buffered=0, cgroup=2) + connect() + R + send(0, b"cg") + R,
    "cgroup_unlimited": header(buffered=0, cgroup=1) + connect() + R,
    "stats_on_ipv6_wildcard": header(listen6=True, listen_any=True, stats=True) + connect() + R
    + send(0, b"any") + R + bytes([STATS]) + R,
    "odd_process": header(odd_process=True, stats=True, fds=0) + bytes([STATS])
    + b"".join(connect(source=s) for s in range(8)) + R,
    "test_seed_per_ip": header(test_seed=True, per_ip=1) + connect(source=3) + connect(source=3)
    + R + send(0, b"seeded") + R,
    "all_timeouts_off": header(frame=0, idle=0, write=0) + connect() + R + send(0, b"f")
    + send(0, frame(1, b"x")[:4]) + R + advance(60000),
    "second_sigterm": header(grace=2) + connect() + R + send(0, frame(1, b"q")[:9])
    + bytes([SIGNAL, SIGTERM, SIGNAL, SIGINT]) + R + advance(100) + bytes([SIGNAL, SIGTERM]) + R,
    "drain_unread_text_shutdown_fault": header() + connect() + R + send(0, b"unread")
    + fault(C_SHUTDOWN, F_ECONNRESET) + bytes([SIGNAL, SIGTERM]) + R,
    "linger_after_blocked_epoll_fault": header() + connect() + R + bytes([WINDOW, 0, 0])
    + send(0, bytes([0xF5, 0x00]) + b"\0" * 14) + R + fault(C_EPOLL_CTL, F_ENOMEM)
    + bytes([WINDOW, 0, 255]) + R,
    "memory_over_total": header(buffered=2, max_frame=3)
    + b"".join(connect(source=s) for s in range(9)) + R
    + b"".join(send(s, big_header(s, 900000)) + send_big(s, 7) for s in range(9)) + R,
    "malloc_trim_after_release": header(buffered=0, cgroup=3, max_frame=3, max_conns=15)
    + b"".join(connect(source=s % 10) for s in range(16)) + R
    + b"".join(send(s, big_header(s, 1048576)) + send_big(s, 255) for s in range(16)) + R
    + b"".join(bytes([RST, s]) for s in range(16)) + R + advance(1100),
    "start_getsockname_fails": header(any_port=True, start_fault=(C_GETSOCKNAME, F_ENOMEM)),
    "start_bind_in_use_retried": header(any_port=True, stats=True,
                                        start_fault=(C_BIND, F_EADDRINUSE)) + connect() + R,
    "start_signalfd_fails": header(start_fault=(C_SIGNALFD, F_EMFILE)),
    "start_getrandom_interrupted": header(start_fault=(C_GETRANDOM, F_EINTR)) + connect() + R,
    "start_epoll_ctl_fails": header(sockperf=True, start_fault=(C_EPOLL_CTL, F_ENOMEM)),
    "signal_read_fault": header() + bytes([SIGNAL, SIGUSR1]) + fault(C_READ, F_EINTR) + R
    + bytes([SIGNAL, SIGUSR1]) + R,
    "sighup_keeps_serving": header() + connect() + R + send(0, b"hup") + bytes([SIGNAL, SIGHUP])
    + R + send(0, b"again") + connect(source=1) + R + bytes([SIGNAL, SIGTERM]) + R,
    "stats_http_metrics_and_json": header(stats=True) + connect(STATS_PORT, LOOPBACK)
    + connect(STATS_PORT, LOOPBACK) + connect(STATS_PORT, LOOPBACK) + R
    + send(0, b"GET /metrics HTTP/1.1\r\nHost: shoutd\r\n\r\n")
    + send(1, b"GET /stats.json?x HTTP/1.0\n\n") + send(2, b"HEAD / HTTP/1.1\r\n\r\n") + R,
    "stats_http_errors": header(stats=True)
    + b"".join(connect(STATS_PORT, LOOPBACK) for _ in range(6)) + R
    + send(0, b"GET /nope HTTP/1.1\r\n\r\n") + send(1, b"POST /metrics HTTP/1.1\r\n\r\n")
    + send(2, b"\x16\x03\x01") + send(3, b"GET /metrics\r\n\r\n") + send(4, b"GET /")
    + bytes([FIN, 4]) + bytes([FIN, 5]) + R,
    "stats_silent_slow_and_large": header(stats=True)
    + b"".join(connect(STATS_PORT, LOOPBACK) for _ in range(3)) + R
    + send(1, b"GET /met") + send(2, b"GET /metrics HTTP/1.1\r\nX: " + b"x" * 1100) + R
    + advance(300) + advance(2000),
    "stats_busy_and_refused": header(stats=True)
    + b"".join(connect(STATS_PORT, LOOPBACK) for _ in range(10)) + connect(STATS_PORT, 0) + R
    + advance(300),
    "stats_reply_waits_for_room": header(stats=True) + connect(STATS_PORT, LOOPBACK)
    + connect(STATS_PORT, LOOPBACK) + R + bytes([WINDOW, 0, 8, WINDOW, 1, 0])
    + send(0, b"GET /metrics HTTP/1.1\r\n\r\n") + send(1, b"GET /metrics HTTP/1.1\r\n\r\n")
    + R + bytes([READ, 0, READ, 0, READ, 0, READ, 0]) + R + advance(2100),
    "stats_faults": header(stats=True) + connect(STATS_PORT, LOOPBACK) + R
    + fault(C_RECV, F_EINTR) + send(0, b"GET /stats.json HTTP/1.1\r\n\r\n") + R
    + connect(STATS_PORT, LOOPBACK) + R + fault(C_RECV, F_ECONNRESET) + send(1, b"G") + R
    + connect(STATS_PORT, LOOPBACK) + R + fault(C_SEND, F_EINTR) + bytes([FIN, 2]) + R
    + connect(STATS_PORT, LOOPBACK) + R + fault(C_SEND, F_EPIPE) + bytes([FIN, 3]) + R
    + fault(C_EPOLL_CTL, F_ENOMEM) + connect(STATS_PORT, LOOPBACK) + R,
    "big_text_read": header() + connect() + R + bytes([SEND_BIG, 0, 69, 0x61, 0x42, 0x63, 0x20])
    + R + bytes([FIN, 0]) + R,
    "faults_recv_send": header() + connect() + R + fault(C_RECV, F_EINTR) + send(0, b"abc") + R
    + fault(C_SEND, F_SHORT) + send(0, b"defghij") + R + fault(C_RECV, F_SHORT)
    + send(0, b"klm") + R + fault(C_SEND, F_EAGAIN) + send(0, b"n") + R + bytes([FIN, 0]) + R,
    "faults_accept_epoll": header() + fault(C_ACCEPT, F_EINTR) + connect() + R
    + fault(C_ACCEPT, F_ECONNRESET) + connect(source=1) + R + fault(C_EPOLL_WAIT, F_EINTR) + R
    + fault(C_EPOLL_CTL, F_ENOMEM) + connect(source=2) + R + fault(C_SETSOCKOPT, F_ENOMEM)
    + connect(source=3) + R + fault(C_ACCEPT, F_EMFILE) + connect(source=4) + R,
    "faults_udp": header() + fault(C_RECVFROM, F_EINTR) + datagrams(MAIN, 1, b"a") + R
    + fault(C_SENDTO, F_EAGAIN) + datagrams(MAIN, 1, b"b") + R
    + fault(C_RECVMMSG, F_EINTR) + datagrams(MAIN, 1, b"c", count=40) + R
    + fault(C_SENDMSG, F_EINTR) + datagrams(MAIN, 10, b"d", count=40) + R,
    "order_of_batch": header() + connect() + connect(source=1) + R + send(0, b"a") + send(1, b"b")
    + bytes([ORDER, 1]) + R + bytes([RST, 1]) + send(0, b"c") + bytes([ORDER, 2 | 1 << 2]) + R,
    "ipv6_sources": header(per_ip=2, prefix128=True) + connect(source=11) + connect(source=12)
    + connect(source=13) + connect(source=15) + R + datagrams(MAIN, 11, b"v6", count=3, stride=1)
    + R,
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "corpus", "fuzz_server")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
