#!/usr/bin/env python3
"""KV benchmark: our 3-peer cluster beside a 3-member etcd 3.4 cluster, same load, same run.

Both clusters are started fresh, side by side on their own loopback addresses, and stay up for the whole
run; the scenarios are interleaved (ours, then etcd, for each scenario) so that background load on the
machine hits both alike, and only one cluster is driven at a time. Scenarios: puts, then linearizable
reads, at each client count. Clients are closed-loop: one kept-alive HTTP/1.1 connection each, spread
round-robin over the three members, each request written in one `write` with TCP_NODELAY set.

Python 3 standard library only. Traffic stays on 127.0.0.0/8. Every server process and temp directory is
torn down on exit, error, Ctrl-C or SIGTERM.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
KEY_COUNT = 10_000
VALUE_BYTES = 256

# ---------------------------------------------------------------------------------------------------------
# Processes and temp dirs: shared with the other benchmarks (bench/processes.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from processes import TEMP_DIRS as _TEMP_DIRS, on_signal as _on_signal, spawn  # noqa: E402
import processes  # noqa: E402


def kill_proc(proc):
    processes.kill_proc(proc, grace=5)


def teardown_everything():
    processes.teardown_everything(grace=5)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------
# /proc readings
def proc_status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_code_kib(pid):
    """Resident pages of the executable's own code (its r-xp mapping): what the link order packs."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
        total, counting = 0, False
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split()
                if head and "-" in head[0] and not head[0].endswith(":"):
                    counting = len(head) >= 6 and head[1] == "r-xp" and head[5] == exe
                elif counting and head[0] == "Rss:":
                    total += int(head[1])
        return total
    except OSError:
        return 0


def proc_pss_kib(pid):
    """Proportional set size: shared pages (code of shared libraries) split among the processes using them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def proc_cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0.0


def address_free(ip, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # SO_REUSEADDR, as the servers set it: connections left in TIME_WAIT by an earlier run do not count.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def http_simple(method, url, body=None, timeout=2.0):
    req = urllib.request.Request(url, data=body, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.read()


# ---------------------------------------------------------------------------------------------------------
# The two systems. Each knows how to start, wait for readiness, and shape its requests.
class System:
    name = "?"
    procs = ()
    endpoints = ()  # (ip, port) per member

    def put_request(self, host, key_index, value):
        raise NotImplementedError

    def get_request(self, host, key_index):
        raise NotImplementedError

    def get_ok(self, body):
        raise NotImplementedError


class Ours(System):
    name = "ours"

    def __init__(self, peer_bin, base_ip, workdir, name="ours"):
        self.name = name
        self.peer_bin = peer_bin
        self.ips = [f"{base_ip}.{i}" for i in (1, 2, 3)]
        self.endpoints = [(ip, 6443) for ip in self.ips]
        self.workdir = workdir
        self.keys = [f"bench/k{i:05d}".encode() for i in range(KEY_COUNT)]

    def start(self):
        for ip in self.ips:
            for port in (6443, 7946, 7947):
                if not address_free(ip, port):
                    raise RuntimeError(f"{ip}:{port} is in use")
        self.procs = []
        for i, ip in enumerate(self.ips):
            data = os.path.join(self.workdir, f"p{i + 1}")
            os.makedirs(data)
            argv = [self.peer_bin, "start", "--insecure-http", "--name", f"p{i + 1}", "--bind-address", ip,
                    "--data-dir", data]
            if i > 0:
                argv += ["--join", self.ips[0], "--gossip-key-file",
                         os.path.join(self.workdir, "p1", "gossip.keyring")]
            self.procs.append(spawn(argv, os.path.join(self.workdir, f"p{i + 1}.log")))
            if i == 0:
                # A join sent before the seed's gossip listener is up is not retried by the peer (seen here:
                # the joiner then stays alone), so the others start only once p1 answers on its API, which
                # it opens after gossip.
                deadline = time.monotonic() + 30
                while True:
                    if time.monotonic() > deadline or self.procs[0].poll() is not None:
                        raise RuntimeError("peer p1 did not come up")
                    try:
                        _, body = http_simple("GET", f"http://{ip}:6443/v1/raft")
                        if json.loads(body).get("leader") and os.path.exists(os.path.join(data, "gossip.keyring")):
                            break
                    except (OSError, ValueError):
                        pass
                    time.sleep(0.1)

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"peer pid {p.pid} exited with {p.returncode}")
            views = []
            for ip in self.ips:
                try:
                    _, body = http_simple("GET", f"http://{ip}:6443/v1/raft")
                    views.append(json.loads(body))
                except (OSError, ValueError):
                    views.append(None)
            if all(v and len(v.get("voters", [])) == 3 and v.get("leader") for v in views) \
                    and len({v["leader"] for v in views}) == 1:
                return
            time.sleep(0.5)
        raise RuntimeError("our cluster did not reach 3 voters with one leader")

    def put_request(self, host, key_index, value):
        return (b"PUT /v1/kv/" + self.keys[key_index] + b" HTTP/1.1\r\nHost: " + host +
                b"\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                str(len(value)).encode() + b"\r\n\r\n" + value)

    def get_request(self, host, key_index):
        return b"GET /v1/kv/" + self.keys[key_index] + b" HTTP/1.1\r\nHost: " + host + b"\r\n\r\n"

    def get_ok(self, body):
        return len(body) == VALUE_BYTES


class Etcd(System):
    name = "etcd"

    def __init__(self, etcd_bin, base_ip, workdir):
        self.etcd_bin = etcd_bin
        self.ips = [f"{base_ip}.{i}" for i in (1, 2, 3)]
        self.endpoints = [(ip, 2379) for ip in self.ips]
        self.workdir = workdir
        self.keys_b64 = [base64.b64encode(f"bench/k{i:05d}".encode()) for i in range(KEY_COUNT)]

    def start(self):
        for ip in self.ips:
            for port in (2379, 2380):
                if not address_free(ip, port):
                    raise RuntimeError(f"{ip}:{port} is in use")
        cluster = ",".join(f"m{i + 1}=http://{ip}:2380" for i, ip in enumerate(self.ips))
        token = f"kvbench-{os.getpid()}-{int(time.time())}"
        self.procs = []
        for i, ip in enumerate(self.ips):
            argv = [self.etcd_bin, "--name", f"m{i + 1}", "--data-dir", os.path.join(self.workdir, f"m{i + 1}"),
                    "--listen-client-urls", f"http://{ip}:2379", "--advertise-client-urls", f"http://{ip}:2379",
                    "--listen-peer-urls", f"http://{ip}:2380", "--initial-advertise-peer-urls", f"http://{ip}:2380",
                    "--initial-cluster", cluster, "--initial-cluster-state", "new",
                    "--initial-cluster-token", token, "--logger", "zap", "--log-outputs", "stderr"]
            self.procs.append(spawn(argv, os.path.join(self.workdir, f"m{i + 1}.log")))

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        probe = json.dumps({"key": base64.b64encode(b"bench/ready").decode()}).encode()
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"etcd pid {p.pid} exited with {p.returncode}")
            ok = 0
            for ip in self.ips:
                try:
                    status, _ = http_simple("POST", f"http://{ip}:2379/v3/kv/range", probe)
                    ok += status == 200
                except OSError:
                    pass
            if ok == 3:
                return
            time.sleep(0.5)
        raise RuntimeError("etcd cluster did not become ready")

    def put_request(self, host, key_index, value):
        body = b'{"key":"' + self.keys_b64[key_index] + b'","value":"' + base64.b64encode(value) + b'"}'
        return (b"POST /v3/kv/put HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def get_request(self, host, key_index):
        body = b'{"key":"' + self.keys_b64[key_index] + b'"}'
        return (b"POST /v3/kv/range HTTP/1.1\r\nHost: " + host + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

    def get_ok(self, body):
        return b'"kvs"' in body


# ---------------------------------------------------------------------------------------------------------
# A minimal HTTP/1.1 keep-alive client on asyncio streams.
class BadResponse(Exception):
    pass


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise BadResponse(lines[0][:80])
    status = int(parts[1])
    length, chunked, close = None, False, False
    for line in lines[1:]:
        name, _, val = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(val.strip())
        elif name == b"transfer-encoding" and b"chunked" in val.lower():
            chunked = True
        elif name == b"connection" and b"close" in val.lower():
            close = True
    if chunked:
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                # Trailers are not expected; the final CRLF was consumed with the empty chunk.
                break
            body += chunk[:-2]
        body = bytes(body)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        raise BadResponse(b"no length")
    return status, body, close


class Connection:
    def __init__(self, ip, port):
        self.ip, self.port = ip, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(self.ip, self.port), 5)
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, payload, timeout):
        if self.writer is None:
            await self.open()
        self.writer.write(payload)  # one write: headers and body together
        status, body, close = await asyncio.wait_for(read_response(self.reader), timeout)
        if close:
            self.close()
        return status, body


# ---------------------------------------------------------------------------------------------------------
# One measured scenario: closed-loop clients for warmup + seconds; only completions inside the window count.
async def drive(system, op, clients, warmup, seconds, seed, written=None):
    rng = random.Random(seed)
    values = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(VALUE_BYTES))
              for _ in range(64)]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    measure_from, stop_at = t0 + warmup, t0 + warmup + seconds
    latencies, errors, error_kinds = [], [0], {}
    cpu_marks = {}

    async def client(n):
        crng = random.Random(seed * 1000 + n)
        ip, port = system.endpoints[n % len(system.endpoints)]
        host = f"{ip}:{port}".encode()
        conn = Connection(ip, port)
        try:
            while True:
                start = loop.time()
                if start >= stop_at:
                    return
                k = crng.randrange(KEY_COUNT)
                if op == "put":
                    payload = system.put_request(host, k, values[crng.randrange(len(values))])
                else:
                    payload = system.get_request(host, k)
                kind = None
                try:
                    status, body = await conn.request(payload, timeout=10)
                    if status != 200:
                        kind = f"HTTP {status}"
                    elif op == "get" and not system.get_ok(body):
                        kind = "bad body"
                    elif op == "put" and written is not None:
                        written.add(k)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                        BadResponse, ValueError) as e:
                    kind = type(e).__name__
                    conn.close()
                end = loop.time()
                if measure_from <= end <= stop_at:
                    if kind is None:
                        latencies.append(end - start)
                    else:
                        errors[0] += 1
                        error_kinds[kind] = error_kinds.get(kind, 0) + 1
                if kind is not None:
                    await asyncio.sleep(0.05)  # bounded back-off; the loop ends at stop_at regardless
        finally:
            conn.close()

    async def cpu_marker():
        await asyncio.sleep(max(0.0, measure_from - loop.time()))
        cpu_marks["start"] = sum(proc_cpu_seconds(p.pid) for p in system.procs)
        cpu_marks["client_start"] = time.process_time()
        await asyncio.sleep(max(0.0, stop_at - loop.time()))
        cpu_marks["end"] = sum(proc_cpu_seconds(p.pid) for p in system.procs)
        cpu_marks["client_end"] = time.process_time()

    await asyncio.gather(cpu_marker(), *(client(n) for n in range(clients)))
    latencies.sort()

    def pct(q):
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000

    ops = len(latencies) / seconds
    cpu = cpu_marks.get("end", 0) - cpu_marks.get("start", 0)
    return {"system": system.name, "op": op, "clients": clients, "ops": ops, "p50": pct(0.50), "p99": pct(0.99),
            "errors": errors[0], "error_kinds": error_kinds, "completed": len(latencies),
            "cpu_ms_per_op": (cpu * 1000 / len(latencies)) if latencies else float("nan"),
            "server_cores": cpu / seconds,
            "client_cores": (cpu_marks.get("client_end", 0) - cpu_marks.get("client_start", 0)) / seconds}


async def preload(system, missing, clients=16):
    """Writes every key not yet written, so linearizable reads always find a value."""
    queue = list(missing)
    value = b"p" * VALUE_BYTES
    failures = [0]

    async def worker(n):
        ip, port = system.endpoints[n % len(system.endpoints)]
        host = f"{ip}:{port}".encode()
        conn = Connection(ip, port)
        try:
            while queue:
                k = queue.pop()
                for _attempt in range(5):
                    try:
                        status, _ = await conn.request(system.put_request(host, k, value), timeout=10)
                        if status == 200:
                            break
                    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, BadResponse, ValueError):
                        conn.close()
                    await asyncio.sleep(0.05)
                else:
                    failures[0] += 1
        finally:
            conn.close()

    await asyncio.gather(*(worker(n) for n in range(clients)))
    return failures[0]


# ---------------------------------------------------------------------------------------------------------
def mib(kib):
    return kib / 1024


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="1,16,64", help="comma-separated client counts (default 1,16,64)")
    ap.add_argument("--seconds", type=float, default=15, help="measured seconds per scenario (default 15)")
    ap.add_argument("--warmup", type=float, default=2, help="warm-up seconds per scenario (default 2)")
    ap.add_argument("--skip-etcd", action="store_true", help="run ours only")
    ap.add_argument("--seed", type=int, default=1, help="seed for keys and values (default 1)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--rss-only", action="store_true",
                    help="start the clusters, read their idle memory after --settle seconds, and stop (no load)")
    ap.add_argument("--settle", type=float, default=3,
                    help="seconds from the last member ready to the idle memory reading (default 3)")
    ap.add_argument("--baseline-peer", help="also run this (older) peer binary as a third system, \"before\","
                    " to compare two builds of ours in the same run")
    args = ap.parse_args()
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    if not clients or any(c < 1 or c > 1024 for c in clients):
        ap.error("--clients must be 1..1024")

    peer_bin = os.environ.get("PEER_BIN") or ".build-bench/release/peer"
    etcd_bin = os.environ.get("ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    workdir = tempfile.mkdtemp(prefix="kvbench-")
    _TEMP_DIRS.append(workdir)
    subnet = 1 + os.getpid() % 250
    try:
        systems = [Ours(os.path.abspath(peer_bin), f"127.110.{subnet}", os.path.join(workdir, "ours"))]
        if args.baseline_peer:
            systems.append(Ours(os.path.abspath(args.baseline_peer), f"127.120.{subnet}",
                                os.path.join(workdir, "before"), name="before"))
        if not args.skip_etcd:
            systems.append(Etcd(etcd_bin, f"127.160.{subnet}", os.path.join(workdir, "etcd")))
        for s in systems:
            os.makedirs(s.workdir)
        log(f"load average before: {loadavg()}; cores: {os.cpu_count()}")
        for s in systems:
            t = time.monotonic()
            s.start()
            s.wait_ready()
            log(f"{s.name}: ready in {time.monotonic() - t:.1f} s on {', '.join(ip for ip, _ in s.endpoints)}")
        time.sleep(args.settle)  # let start-up work (elections, member promotion) settle before the idle reading
        idle = {s.name: [mib(proc_status_kib(p.pid, "VmRSS")) for p in s.procs] for s in systems}
        idle_code = {s.name: [mib(proc_code_kib(p.pid)) for p in s.procs] for s in systems}
        idle_anon = {s.name: [mib(proc_status_kib(p.pid, "RssAnon")) for p in s.procs] for s in systems}
        idle_pss = {s.name: [mib(proc_pss_kib(p.pid)) for p in s.procs] for s in systems}
        for s in systems:
            log(f"{s.name}: idle RSS per member: {', '.join(f'{v:.1f}' for v in idle[s.name])} MiB"
                f" (anonymous {', '.join(f'{v:.1f}' for v in idle_anon[s.name])};"
                f" PSS {', '.join(f'{v:.1f}' for v in idle_pss[s.name])};"
                f" own code {', '.join(f'{v:.1f}' for v in idle_code[s.name])})")

        results = []
        written = {s.name: set() for s in systems}
        scenario_seed = args.seed
        for op in () if args.rss_only else ("put", "get"):
            if op == "get":
                for s in systems:
                    missing = set(range(KEY_COUNT)) - written[s.name]
                    t = time.monotonic()
                    failed = asyncio.run(preload(s, missing))
                    log(f"{s.name}: preloaded {len(missing)} unwritten keys in {time.monotonic() - t:.1f} s"
                        f" ({failed} failed)")
            for c in clients:
                scenario_seed += 1
                for s in systems:
                    r = asyncio.run(drive(s, op, c, args.warmup, args.seconds, scenario_seed, written[s.name]))
                    results.append(r)
                    kinds = f" {r['error_kinds']}" if r["error_kinds"] else ""
                    log(f"{s.name} {op} c={c}: {r['ops']:.0f} ops/s p50 {r['p50']:.2f} ms p99 {r['p99']:.2f} ms"
                        f" errors {r['errors']}{kinds}; server CPU {r['cpu_ms_per_op']:.2f} ms/op,"
                        f" {r['server_cores']:.2f} cores; load generator {r['client_cores']:.2f} cores")
        peak = {s.name: [mib(proc_status_kib(p.pid, "VmHWM")) for p in s.procs] for s in systems}
        log(f"load average after: {loadavg()}")
    finally:
        teardown_everything()

    # The report.
    print()
    if args.rss_only:
        print(f"KV benchmark, idle memory only: {len(systems)} system(s), 3 members each, read {args.settle:g} s"
              f" after the last member was ready")
    else:
        print(f"KV benchmark: {len(systems)} system(s), 3 members each, {VALUE_BYTES}-byte values over {KEY_COUNT}"
              f" keys, {args.warmup:g} s warm-up + {args.seconds:g} s measured per scenario; clients spread over"
              f" all members")
    print()
    hdr = f"{'system':<6} {'scenario':<9} {'clients':>7} {'ops/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}" \
          f" {'CPU ms/op':>9}   {'ours/etcd ops':>13} {'ours/etcd p99':>13}"
    if not args.rss_only:
        print(hdr)
        print("-" * len(hdr))
    by_key = {(r["system"], r["op"], r["clients"]): r for r in results}
    for op in () if args.rss_only else ("put", "get"):
        for c in clients:
            for s in systems:
                r = by_key[(s.name, op, c)]
                ratio = ""
                e = by_key.get(("etcd", op, c))
                if s.name in ("ours", "before") and e and e["ops"] > 0:
                    ratio = f"   {r['ops'] / e['ops']:>13.2f} {r['p99'] / e['p99']:>13.2f}"
                scen = "put" if op == "put" else "lin. get"
                print(f"{s.name:<6} {scen:<9} {c:>7} {r['ops']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}"
                      f" {r['errors']:>6} {r['cpu_ms_per_op']:>9.2f}{ratio}")
    print()
    print("Memory (MiB per member, members 1/2/3):")
    for s in systems:
        print(f"  {s.name:<5} idle RSS {' / '.join(f'{v:.1f}' for v in idle[s.name])}"
              f"   peak RSS (VmHWM) {' / '.join(f'{v:.1f}' for v in peak[s.name])}")
        print(f"  {'':<5} idle: anonymous {' / '.join(f'{v:.1f}' for v in idle_anon[s.name])},"
              f" PSS {' / '.join(f'{v:.1f}' for v in idle_pss[s.name])},"
              f" own code (the executable's r-xp) {' / '.join(f'{v:.1f}' for v in idle_code[s.name])}")
    if "etcd" in idle:
        print(f"  idle RSS per member, ours/etcd (medians): "
              f"{sorted(idle['ours'])[1] / sorted(idle['etcd'])[1]:.2f}; load average {loadavg()}")
    print("  (RSS counts mapped code; PSS splits pages shared between processes, e.g. the Swift runtime libraries"
          " our three peers share; anonymous = heap and stacks.)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "idle_rss_mib": idle, "idle_anon_mib": idle_anon,
                       "idle_code_mib": idle_code,
                       "idle_pss_mib": idle_pss, "peak_rss_mib": peak,
                       "args": vars(args)}, f, indent=1)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as e:
        print(f"\ninterrupted ({e}); everything torn down", file=sys.stderr)
        sys.exit(130)
