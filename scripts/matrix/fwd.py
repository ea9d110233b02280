#!/usr/bin/python3
"""Forwards TCP from 127.0.0.1:PORT in one network namespace to 127.0.0.1:PORT
in another, without touching either namespace's interfaces or firewall: the
listening socket is made inside LISTEN_NS, each outgoing one inside
CONNECT_NS (a socket keeps the namespace it was made in).

Usage: fwd.py LISTEN_NS CONNECT_NS PORT
NS: a network namespace file (/proc/PID/ns/net) or "host" (this process's).
Prints "ready" on stdout once listening.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def ns(spec, host):
    return host if spec == "host" else os.open(spec, os.O_RDONLY)


def pump(src, dst, done):
    try:
        while True:
            b = src.recv(1 << 18)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    if done.acquire(blocking=False):
        return  # the other direction closes both
    src.close()
    dst.close()


def main():
    listen_spec, connect_spec, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    host = os.open("/proc/self/ns/net", os.O_RDONLY)
    lfd, cfd = ns(listen_spec, host), ns(connect_spec, host)
    setns(lfd)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(128)
    setns(host)
    print("ready", flush=True)
    sys.stdout.close()
    while True:
        c, _ = ls.accept()
        setns(cfd)
        try:
            u = socket.create_connection(("127.0.0.1", port), timeout=10)
            u.settimeout(None)
        except OSError:
            c.close()
            continue
        finally:
            setns(host)
        done = threading.Lock()
        for a, b in ((c, u), (u, c)):
            threading.Thread(target=pump, args=(a, b, done), daemon=True).start()


if __name__ == "__main__":
    main()
