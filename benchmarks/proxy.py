"""Cost of the embedded Toxiproxy with no toxics: added latency and throughput, next to a direct connection.

One run, three processes: this script (the client, blocking sockets with TCP_NODELAY), a child
serving an echo port and a sink port (one thread per connection), and ``servicelab chaos proxy`` with
one proxy to each port. Every figure is measured both directly and through the proxy:

- latency: ``--round-trips`` round trips of a ``--message``-byte message, in ``--repeat`` blocks on a
  connection each (after 200 warm-up trips); p50 and p99 in microseconds, and the p50 the proxy adds
  (target: < 300 us);
- throughput: ``--megabytes`` MB sent on one connection behind an 8-byte length; the sink answers one
  byte when it has read them all (Toxiproxy has no half-close, so the client cannot just shut down
  its side), timed from the first byte to the answer; the best of ``--repeat`` runs (target: the
  proxy keeps >= 50 % of the direct throughput).

The routes alternate (direct, proxy, direct, ...) so that a busy machine weighs on both alike.

    python benchmarks/proxy.py [--round-trips N] [--message BYTES] [--megabytes MB] [--repeat K] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.live.http import call  # noqa: E402

WARM_UP = 200
BLOCK = 1 << 20


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        part = sock.recv(min(BLOCK, size - got))
        if not part:
            raise ConnectionError(f"peer closed after {got} of {size} bytes")
        parts.append(part)
        got += len(part)
    return b"".join(parts)


# -- the child: echo and sink servers --
def _echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


def _sink(conn: socket.socket) -> None:
    while header := conn.recv(8, socket.MSG_WAITALL):
        (size,) = struct.unpack("!Q", header)
        while size > 0:
            size -= len(conn.recv(min(BLOCK, size)))
        conn.sendall(b"k")


def _serve(listener: socket.socket, handler) -> None:
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=lambda c=conn: (handler(c), c.close()), daemon=True).start()


def serve() -> None:
    listeners = {name: socket.create_server(("127.0.0.1", 0)) for name in ("echo", "sink")}
    for name, handler in (("echo", _echo), ("sink", _sink)):
        threading.Thread(target=_serve, args=(listeners[name], handler), daemon=True).start()
    print(json.dumps({name: sock.getsockname()[1] for name, sock in listeners.items()}), flush=True)
    sys.stdin.read()  # until the parent closes our stdin


# -- the parent: the client --
def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def round_trips(port: int, count: int, size: int) -> list[float]:
    message = b"x" * size
    times = []
    with _connect(port) as sock:
        for n in range(WARM_UP + count):
            started = time.perf_counter()
            sock.sendall(message)
            _recv_exactly(sock, size)
            if n >= WARM_UP:
                times.append(time.perf_counter() - started)
    return times


def transfer(port: int, megabytes: int) -> float:
    """Seconds to push ``megabytes`` MB through one connection and have them acknowledged."""
    block = b"\0" * BLOCK
    size = megabytes * BLOCK
    with _connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(struct.pack("!Q", size))
        for _ in range(megabytes):
            sock.sendall(block)
        _recv_exactly(sock, 1)
        return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(args: argparse.Namespace) -> dict:
    servers = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    toxiproxy = subprocess.Popen(
        [sys.executable, "-c", "from servicelab_cli import main; main()", "chaos", "proxy", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ports = json.loads(servers.stdout.readline())
        url = toxiproxy.stdout.readline().split()[-1]
        proxied = {}
        for name, port in ports.items():
            body = {"name": name, "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{port}"}
            proxied[name] = int(
                call("POST", f"{url}/proxies", json_body=body).body["listen"].rsplit(":", 1)[1]
            )
        result: dict = {
            "round_trips": args.round_trips,
            "message_bytes": args.message,
            "megabytes": args.megabytes,
        }
        routes = {"direct": ports, "proxy": proxied}
        times: dict[str, list[float]] = {route: [] for route in routes}
        best = dict.fromkeys(routes, float("inf"))
        for _ in range(args.repeat):  # alternate the routes so that both see the same machine load
            for route, where in routes.items():
                times[route] += round_trips(where["echo"], args.round_trips // args.repeat, args.message)
                best[route] = min(best[route], transfer(where["sink"], args.megabytes))
        for route in routes:
            result[route] = {
                "p50_us": statistics.median(times[route]) * 1e6,
                "p99_us": _percentile(times[route], 0.99) * 1e6,
                "throughput_MBps": args.megabytes / best[route],
            }
        result["added_p50_us"] = result["proxy"]["p50_us"] - result["direct"]["p50_us"]
        result["throughput_ratio"] = result["proxy"]["throughput_MBps"] / result["direct"]["throughput_MBps"]
        result["python"] = platform.python_version()
        return result
    finally:
        toxiproxy.terminate()
        toxiproxy.wait(timeout=10)
        servers.stdin.close()
        servers.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--round-trips", type=int, default=5000)
    parser.add_argument("--message", type=int, default=64, help="bytes per round-trip message")
    parser.add_argument("--megabytes", type=int, default=64)
    parser.add_argument(
        "--repeat", type=int, default=5, help="rounds per route (the fastest transfer is kept)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    result = measure(args)
    print(f"{'':8} {'p50 (us)':>10} {'p99 (us)':>10} {'MB/s':>10}")
    for route in ("direct", "proxy"):
        row = result[route]
        print(f"{route:8} {row['p50_us']:10.1f} {row['p99_us']:10.1f} {row['throughput_MBps']:10.1f}")
    added, ratio = result["added_p50_us"], result["throughput_ratio"]
    print(f"added p50: {added:.1f} us (target < 300: {'met' if added < 300 else 'MISSED'})")
    print(f"throughput kept: {ratio:.0%} of direct (target >= 50%: {'met' if ratio >= 0.5 else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
