"""Ports for the members that the Python and shell harnesses start.

Taken below the kernel's ephemeral range (`ip_local_port_range`), as the Rust
harness's `free_port` does: a port from that range (what binding port 0 gives)
can become the local end of any outgoing connection (a client, a scrape) while
a killed member is down, and its restart then fails with "Address already in
use".

    python3 tests/free_ports.py N    # prints N distinct ports free a moment ago
"""

import os
import socket
import sys
import time

LOW = 10000


def below_ephemeral(n):
    """n distinct ports on 127.0.0.1 that were free a moment ago."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            high = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        high = 32768
    span = max(high - LOW, 1)
    # Harnesses that run at once start at different places.
    start = (os.getpid() * 7919 + time.time_ns()) % span
    ports = []
    for k in range(span):
        port = LOW + (start + k) % span
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError(f"no {n} free ports in {LOW}..{high}")


if __name__ == "__main__":
    print(" ".join(str(p) for p in below_ephemeral(int(sys.argv[1]))))
