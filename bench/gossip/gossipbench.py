#!/usr/bin/env python3
"""Gossip benchmark: our `peer` beside HashiCorp Serf, same settings, same run.

Measures, for each cluster size N and for both systems: join convergence, failure detection after
`kill -9`, false suspicions/failures (quiet and with the CPU saturated), RSS and CPU per member.
Python 3 standard library only. Traffic stays on 127.0.0.0/8. Every agent, hog and temp directory
is torn down on exit, error, Ctrl-C or SIGTERM.
"""
import argparse
import asyncio
import base64
import json
import os
import random
import re
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------------------
# Processes and temp dirs: shared with the other benchmarks (bench/processes.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from processes import TEMP_DIRS as _TEMP_DIRS, on_signal as _on_signal, spawn  # noqa: E402
import processes  # noqa: E402


def kill_proc(proc):
    processes.kill_proc(proc, grace=0)


def unmount_under(roots):
    """Peers that run the node agent keep their sandbox pool's network namespaces bind-mounted in their data
    directories; killed with SIGKILL they leave those mounts behind, and the temp dirs could not be removed."""
    prefixes = [r.rstrip("/") + "/" for r in roots]
    for _ in range(8):
        with open("/proc/mounts") as f:
            points = sorted({line.split()[1] for line in f if any(line.split()[1].startswith(p) for p in prefixes)},
                            reverse=True)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL, check=False)


def teardown_everything():
    for proc in list(processes.PROCS.values()):
        processes.kill_proc(proc, grace=0)
    unmount_under(list(_TEMP_DIRS))
    processes.teardown_everything(grace=0)


# ---------------------------------------------------------------------------------------------------------
# Minimal msgpack, enough for Serf's RPC (maps, arrays, strings, bytes, ints, bools, nil, floats).
class NeedMore(Exception):
    pass


def mp_pack(obj):
    if obj is None:
        return b"\xc0"
    if obj is True:
        return b"\xc3"
    if obj is False:
        return b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 128:
            return bytes([obj])
        if 0 <= obj < 2 ** 32:
            return b"\xce" + struct.pack(">I", obj)
        return b"\xd3" + struct.pack(">q", obj)
    if isinstance(obj, str):
        b = obj.encode()
        if len(b) < 32:
            return bytes([0xa0 | len(b)]) + b
        return b"\xda" + struct.pack(">H", len(b)) + b
    if isinstance(obj, dict):
        out = bytes([0x80 | len(obj)]) if len(obj) < 16 else b"\xde" + struct.pack(">H", len(obj))
        for k, v in obj.items():
            out += mp_pack(k) + mp_pack(v)
        return out
    if isinstance(obj, (list, tuple)):
        out = bytes([0x90 | len(obj)]) if len(obj) < 16 else b"\xdc" + struct.pack(">H", len(obj))
        for v in obj:
            out += mp_pack(v)
        return out
    raise TypeError(type(obj))


def mp_unpack(buf, pos=0):
    """Decodes one object at pos; returns (object, next position). Raises NeedMore if buf is short."""
    def need(n):
        if pos + n > len(buf):
            raise NeedMore()

    need(1)
    b = buf[pos]
    pos += 1
    if b < 0x80:
        return b, pos
    if b >= 0xe0:
        return b - 0x100, pos
    if 0x80 <= b <= 0x8f:
        return _mp_map(buf, pos, b & 0x0f)
    if 0x90 <= b <= 0x9f:
        return _mp_array(buf, pos, b & 0x0f)
    if 0xa0 <= b <= 0xbf:
        n = b & 0x1f
        need(n)
        return buf[pos:pos + n].decode("utf-8", "replace"), pos + n
    if b == 0xc0:
        return None, pos
    if b == 0xc2:
        return False, pos
    if b == 0xc3:
        return True, pos
    fixed = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q",
             0xca: ">f", 0xcb: ">d"}
    if b in fixed:
        size = struct.calcsize(fixed[b])
        need(size)
        return struct.unpack_from(fixed[b], buf, pos)[0], pos + size
    lengths = {0xc4: (">B", "bin"), 0xc5: (">H", "bin"), 0xc6: (">I", "bin"),
               0xd9: (">B", "str"), 0xda: (">H", "str"), 0xdb: (">I", "str"),
               0xdc: (">H", "arr"), 0xdd: (">I", "arr"), 0xde: (">H", "map"), 0xdf: (">I", "map")}
    if b in lengths:
        fmt, kind = lengths[b]
        size = struct.calcsize(fmt)
        need(size)
        n = struct.unpack_from(fmt, buf, pos)[0]
        pos += size
        if kind == "arr":
            return _mp_array(buf, pos, n)
        if kind == "map":
            return _mp_map(buf, pos, n)
        need(n)
        raw = bytes(buf[pos:pos + n])
        return (raw if kind == "bin" else raw.decode("utf-8", "replace")), pos + n
    ext = {0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16}
    if b in ext:
        need(1 + ext[b])
        return None, pos + 1 + ext[b]
    raise ValueError(f"msgpack byte 0x{b:02x} not supported")


def _mp_array(buf, pos, n):
    out = []
    for _ in range(n):
        v, pos = mp_unpack(buf, pos)
        out.append(v)
    return out, pos


def _mp_map(buf, pos, n):
    out = {}
    for _ in range(n):
        k, pos = mp_unpack(buf, pos)
        v, pos = mp_unpack(buf, pos)
        out[k if not isinstance(k, bytes) else k.decode()] = v
    return out, pos


# ---------------------------------------------------------------------------------------------------------
# Clients: one persistent connection per agent, so polling costs the agents as little as possible.
IO_ERRORS = (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.LimitOverrunError, ValueError,
             NeedMore, KeyError, TypeError, UnicodeDecodeError)


class HTTPConn:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def get_json(self, path, timeout=2.0):
        for _ in range(2):
            reused = self.writer is not None
            try:
                return await asyncio.wait_for(self._get(path), timeout)
            except IO_ERRORS:
                self.close()
                if not reused:
                    return None
        return None

    async def _get(self, path):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        headers = {}
        for line in head[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            for _ in range(100000):
                size = int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                body += chunk[:-2]
        else:
            body = await self.reader.read()
            self.close()
        if headers.get("connection", "").lower() == "close":
            self.close()
        if status != 200:
            raise ValueError(f"HTTP {status}")
        return json.loads(body)


class SerfRPC:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None
        self.buf = b""
        self.seq = 0

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None
        self.buf = b""

    async def _read_obj(self):
        for _ in range(100000):
            try:
                obj, pos = mp_unpack(self.buf, 0)
                self.buf = self.buf[pos:]
                return obj
            except NeedMore:
                data = await self.reader.read(65536)
                if not data:
                    raise OSError("serf RPC closed")
                self.buf += data
        raise OSError("serf RPC: no complete object")

    async def _call(self, command, body=None, has_response_body=True):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.buf = b""
            self.writer.write(mp_pack({"Command": "handshake", "Seq": self.seq}) + mp_pack({"Version": 1}))
            self.seq += 1
            header = await self._read_obj()
            if header.get("Error"):
                raise ValueError(header["Error"])
        msg = mp_pack({"Command": command, "Seq": self.seq})
        if body is not None:
            msg += mp_pack(body)
        self.seq += 1
        self.writer.write(msg)
        header = await self._read_obj()
        if header.get("Error"):
            raise ValueError(header["Error"])
        return await self._read_obj() if has_response_body else None

    async def members(self, timeout=2.0):
        for _ in range(2):
            reused = self.writer is not None
            try:
                return await asyncio.wait_for(self._call("members"), timeout)
            except IO_ERRORS:
                self.close()
                if not reused:
                    return None
        return None


# ---------------------------------------------------------------------------------------------------------
# The two systems behind one interface. States are normalised to alive / suspect / dead / left.
class Agent:
    def __init__(self, name, ip, proc, log_path, data_dir):
        self.name, self.ip, self.proc, self.log_path, self.data_dir = name, ip, proc, log_path, data_dir
        self.client = None

    def log_counts(self, patterns):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return {k: 0 for k in patterns}
        return {k: len(p.findall(text)) for k, p in patterns.items()}


class OurPeer:
    label = "ours"
    shows_suspect = True
    log_patterns = {"suspect": re.compile(r"member suspected"), "dead": re.compile(r"member declared dead")}

    def __init__(self, binary, key_file):
        self.binary, self.key_file = binary, key_file

    def argv(self, name, ip, data_dir, seed_ip):
        argv = [self.binary, "start", "--insecure-http", "--name", name, "--bind-address", ip,
                "--data-dir", data_dir, "--gossip-key-file", self.key_file]
        if seed_ip:
            argv += ["--join", f"{seed_ip}:7946"]
        return argv

    def make_client(self, agent):
        return HTTPConn(agent.ip, 6443)

    async def gossip_counters(self, agent):
        data = await agent.client.get_json("/v1/gossip")
        return data if isinstance(data, dict) else None

    async def members(self, agent):
        data = await agent.client.get_json("/v1/members")
        if not isinstance(data, list):
            return None
        return {m.get("name", ""): m.get("state", "") for m in data if isinstance(m, dict)}


class Serf:
    label = "serf"
    shows_suspect = False  # Serf's member list has no suspect state; its suspicions are counted from the log
    log_patterns = {"suspect": re.compile(r"memberlist: Suspect "),
                    "dead": re.compile(r"memberlist: Marking \S+ as failed")}
    _states = {"alive": "alive", "failed": "dead", "left": "left", "leaving": "left"}

    def __init__(self, binary, key_b64):
        self.binary, self.key = binary, key_b64

    def argv(self, name, ip, data_dir, seed_ip):
        argv = [self.binary, "agent", "-node", name, "-bind", f"{ip}:7946", "-rpc-addr", f"{ip}:7373",
                "-encrypt", self.key, "-profile", "lan", "-log-level", "info"]
        if seed_ip:
            argv += ["-join", f"{seed_ip}:7946"]
        return argv

    def make_client(self, agent):
        return SerfRPC(agent.ip, 7373)

    async def members(self, agent):
        data = await agent.client.members()
        if not isinstance(data, dict) or not isinstance(data.get("Members"), list):
            return None
        return {m.get("Name", ""): self._states.get(m.get("Status", ""), m.get("Status", ""))
                for m in data["Members"] if isinstance(m, dict)}


# ---------------------------------------------------------------------------------------------------------
class Cluster:
    """N agents of one system on their own loopback addresses, all joined through the first (the seed)."""

    def __init__(self, system, octet, root, tag):
        self.system, self.octet, self.root, self.tag = system, octet, root, tag
        self.agents = []
        self.dead = set()
        self.next_host = 1

    def _new_ip(self):
        i = self.next_host
        self.next_host += 1
        return f"127.{self.octet}.{i // 250}.{i % 250 + 1}"

    def start_agent(self, name, seed_ip):
        ip = self._new_ip()
        data_dir = os.path.join(self.root, name)
        os.makedirs(data_dir, exist_ok=True)
        log_path = os.path.join(self.root, name + ".log")
        proc = spawn(self.system.argv(name, ip, data_dir, seed_ip), log_path)
        agent = Agent(name, ip, proc, log_path, data_dir)
        agent.client = self.system.make_client(agent)
        self.agents.append(agent)
        return agent

    @property
    def live(self):
        return [a for a in self.agents if a.name not in self.dead]

    async def sweep(self, agents=None):
        agents = self.live if agents is None else agents
        views = await asyncio.gather(*(self.system.members(a) for a in agents))
        return time.monotonic(), dict(zip((a.name for a in agents), views))

    async def wait_converged(self, since, timeout, period=0.1):
        """Seconds from `since` until every live agent lists every live agent alive; None on timeout."""
        expected = {a.name for a in self.live}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now, views = await self.sweep()
            if all(v is not None and all(v.get(n) == "alive" for n in expected) for v in views.values()):
                return now - since
            for a in self.live:
                if a.proc.poll() is not None:
                    raise RuntimeError(f"{self.system.label} agent {a.name} exited: see {a.log_path}")
            await asyncio.sleep(period)
        return None

    def kill(self, agent):
        kill_proc(agent.proc)
        agent.client.close()
        self.dead.add(agent.name)

    def stop(self):
        for a in self.agents:
            if a.client:
                a.client.close()
            kill_proc(a.proc)
        self.agents = []
        # A killed peer leaves its sandbox pool's namespaces bind-mounted, their veths on the shared bridge. Kept
        # until the end, four join trials of 50 peers left ~1,000 ports that flooded every broadcast to each
        # other: the softirq work landed on whatever ran, the next cluster's members too (CPU 0.27-0.34 instead of
        # 0.07-0.15 CPU-s/min per member at N = 50). Serf leaves nothing behind, so each trial starts clean.
        unmount_under([self.root])


async def start_cluster(system, n, octet, root, tag, timeout):
    cluster = Cluster(system, octet, root, tag)
    seed = cluster.start_agent(f"{tag}-0", None)
    deadline = time.monotonic() + 30
    while True:
        _, views = await cluster.sweep([seed])
        if views[seed.name] is not None:
            break
        if seed.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{system.label} seed did not come up: see {seed.log_path}")
        await asyncio.sleep(0.05)
    for i in range(1, n):
        cluster.start_agent(f"{tag}-{i}", seed.ip)
    started_last = time.monotonic()
    converged = await cluster.wait_converged(started_last, timeout)
    return cluster, converged


def proc_sample(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    mem = {"VmRSS:": 0, "RssAnon:": 0, "Pss:": 0}
    for path in (f"/proc/{pid}/status", f"/proc/{pid}/smaps_rollup"):
        try:
            with open(path) as f:
                for line in f:
                    key = line.split(" ", 1)[0].split("\t", 1)[0]
                    if key in mem:
                        mem[key] = int(line.split()[1])
        except OSError:
            pass
    return cpu, mem


def thread_class(comm):
    """A thread's name without its number: NIO-ELT-0-#3 -> NIO-ELT, TP-#0 -> TP."""
    return re.sub(r"[-_ ]*#?\d+$", "", re.sub(r"-\d+-#\d+$", "", comm)) or comm


def thread_switches(pid):
    """{thread id: (name, voluntary context switches)}: each voluntary switch is one sleep, so one wake-up."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                comm = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                switches = next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches"))
        except (OSError, StopIteration):
            continue
        out[tid] = (comm, switches)
    return out


def wakeups_by_thread(before, after, elapsed, members):
    """Wake-ups per second per member, by thread name (threads born in the window count from zero)."""
    totals = {}
    for pid, threads in after.items():
        for tid, (comm, switches) in threads.items():
            start = before.get(pid, {}).get(tid, (comm, 0))[1]
            name = thread_class(comm)
            totals[name] = totals.get(name, 0) + (switches - start)
    return {k: v / elapsed / members for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


async def measure_resources(cluster, seconds, during=None):
    agents = cluster.live
    counters = getattr(cluster.system, "gossip_counters", None)
    packets_before = await asyncio.gather(*(counters(a) for a in agents)) if counters else []
    start = {a.name: proc_sample(a.proc.pid) for a in agents}
    switches_before = {a.proc.pid: thread_switches(a.proc.pid) for a in agents}
    helper = None
    if during:
        # e.g. perf: `--during-idle 'perf stat -e context-switches,task-clock -p {pids} -- sleep 10'`
        helper = subprocess.Popen(during.replace("{pids}", ",".join(str(a.proc.pid) for a in agents)), shell=True)
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    end = {a.name: proc_sample(a.proc.pid) for a in agents}
    switches_after = {a.proc.pid: thread_switches(a.proc.pid) for a in agents}
    if helper is not None:
        await asyncio.get_running_loop().run_in_executor(None, helper.wait)
    wakeups = wakeups_by_thread(switches_before, switches_after, elapsed, len(agents))
    packets = None
    if counters:
        packets_after = await asyncio.gather(*(counters(a) for a in agents))
        sent = [b.get("packetsSent", 0) - a.get("packetsSent", 0)
                for a, b in zip(packets_before, packets_after) if a and b]
        packets = statistics.mean(sent) * 60.0 / elapsed if sent else None
    cpu_per_min = [(end[n][0] - start[n][0]) * 60.0 / elapsed for n in end]
    rss_mib = [end[n][1]["VmRSS:"] / 1024.0 for n in end]
    anon_mib = [end[n][1]["RssAnon:"] / 1024.0 for n in end]
    pss_mib = [end[n][1]["Pss:"] / 1024.0 for n in end]
    return {"seconds": round(elapsed, 1), "cpu_s_per_min_mean": statistics.mean(cpu_per_min),
            "cpu_s_per_min_max": max(cpu_per_min), "rss_mib_mean": statistics.mean(rss_mib),
            "rss_mib_max": max(rss_mib), "rss_anon_mib_mean": statistics.mean(anon_mib),
            "pss_mib_mean": statistics.mean(pss_mib), "gossip_packets_sent_per_min_mean": packets,
            "wakeups_per_s_mean": sum(wakeups.values()), "wakeups_per_s_by_thread": wakeups}


async def false_positive_window(cluster, seconds, period):
    """Polls every live agent each `period`; counts observations of a live member as suspect/dead/left."""
    system = cluster.system
    before = {a.name: a.log_counts(system.log_patterns) for a in cluster.live}
    expected = {a.name for a in cluster.live}
    observations, pairs, unreachable, sweeps = 0, set(), 0, 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        tick = time.monotonic()
        _, views = await cluster.sweep()
        sweeps += 1
        for observer, view in views.items():
            if view is None:
                unreachable += 1
                continue
            for subject in expected:
                state = view.get(subject)
                if state != "alive":
                    observations += 1
                    pairs.add((observer, subject, state))
        await asyncio.sleep(max(0.0, period - (time.monotonic() - tick)))
    after = {a.name: a.log_counts(system.log_patterns) for a in cluster.live}
    logged = {k: sum(after[n][k] - before[n][k] for n in after) for k in system.log_patterns}
    return {"seconds": seconds, "sweeps": sweeps, "non_alive_observations": observations,
            "distinct_observer_subject_states": len(pairs), "unreachable_polls": unreachable,
            "logged_suspicions": logged["suspect"], "logged_failures": logged["dead"],
            "examples": sorted(pairs)[:5]}


async def local_health(cluster, agents):
    """Ours only: each agent's Lifeguard local health multiplier (it stretches a failing probe's wait)."""
    counters = getattr(cluster.system, "gossip_counters", None)
    if counters is None:
        return None
    async def one(agent):
        try:
            data = await counters(agent)
        except Exception:
            return None
        return data.get("localHealthMultiplier") if data else None
    return await asyncio.gather(*(one(a) for a in agents))


async def detection_trial(cluster, victim, period, timeout):
    survivors = [a for a in cluster.live if a is not victim]
    health = await local_health(cluster, survivors)
    cluster.kill(victim)
    killed = time.monotonic()
    dead_at, suspect_at = {}, {}
    while time.monotonic() - killed < timeout and len(dead_at) < len(survivors):
        tick = time.monotonic()
        now, views = await cluster.sweep(survivors)
        for name, view in views.items():
            if view is None:
                continue
            state = view.get(victim.name)
            if state in ("suspect", "dead") and name not in suspect_at:
                suspect_at[name] = now - killed
            if state == "dead" and name not in dead_at:
                dead_at[name] = now - killed
        await asyncio.sleep(max(0.0, period - (time.monotonic() - tick)))
    times = sorted(dead_at.values())
    sus = sorted(suspect_at.values())
    return {"victim": victim.name, "survivors": len(survivors), "detected_by": len(times),
            "first": times[0] if times else None, "median": statistics.median(times) if times else None,
            "last": times[-1] if len(times) == len(survivors) else None,
            "first_suspect": sus[0] if (sus and cluster.system.shows_suspect) else None,
            "local_health_at_kill": health}


async def run_hogs(count):
    return [spawn([sys.executable, "-c", "while True: pass"], os.devnull) for _ in range(count)]


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


async def bench_system(system, n, octet, args, root, rng, log):
    tag = f"{system.label}{n}"
    result = {"n": n, "join": [], "join_timeouts": 0, "detection": [], "rejoin": []}
    cluster = None
    try:
        for trial in range(args.trials):
            if cluster is not None:
                cluster.stop()
                await asyncio.sleep(1)
            cluster_root = os.path.join(root, f"{tag}-t{trial}")
            os.makedirs(cluster_root)
            cluster, conv = await start_cluster(system, n, octet + trial, cluster_root, f"{tag}t{trial}",
                                                args.join_timeout)
            if conv is None:
                result["join_timeouts"] += 1
            result["join"].append(conv)
            log(f"  {system.label} N={n} join trial {trial + 1}/{args.trials}: "
                f"{fmt(conv)} s" + ("" if conv is not None else f" (timeout {args.join_timeout:.0f} s)"))
        if result["join_timeouts"] == args.trials:
            raise RuntimeError(f"{system.label} N={n} never converged")
        if result["join_timeouts"]:
            await cluster.wait_converged(time.monotonic(), args.join_timeout)
        await asyncio.sleep(args.settle)
        res = await measure_resources(cluster, args.cpu_seconds, args.during_idle)
        result["resources"] = res
        log(f"  {system.label} N={n} quiet {res['seconds']} s: RSS {res['rss_mib_mean']:.1f} MiB/member, "
            f"CPU {res['cpu_s_per_min_mean']:.3f} s/min/member, {res['wakeups_per_s_mean']:.1f} wake-ups/s/member")
        by_thread = ", ".join(f"{k} {v:.1f}" for k, v in res["wakeups_per_s_by_thread"].items() if v >= 0.05)
        log(f"  {system.label} N={n} wake-ups/s/member by thread: {by_thread}")
        if args.idle_only:
            result["summary"] = {"rss_mib": res["rss_mib_mean"], "rss_anon_mib": res["rss_anon_mib_mean"],
                                 "pss_mib": res["pss_mib_mean"], "cpu_s_per_min": res["cpu_s_per_min_mean"],
                                 "cpu_s_per_min_max": res["cpu_s_per_min_max"],
                                 "wakeups_per_s": res["wakeups_per_s_mean"],
                                 "packets_per_min": res["gossip_packets_sent_per_min_mean"]}
            return result
        fp = await false_positive_window(cluster, args.quiet_seconds, args.poll)
        result["false_positives_quiet"] = fp
        log(f"  {system.label} N={n} quiet window: {fp['non_alive_observations']} non-alive observations, "
            f"{fp['logged_suspicions']} suspicions / {fp['logged_failures']} failures logged")
        hogs = await run_hogs(args.hogs)
        try:
            await asyncio.sleep(0.5)
            fp = await false_positive_window(cluster, args.quiet_seconds, args.poll)
        finally:
            for h in hogs:
                kill_proc(h)
        result["false_positives_loaded"] = fp
        log(f"  {system.label} N={n} {args.hogs} CPU hogs: {fp['non_alive_observations']} non-alive observations, "
            f"{fp['logged_suspicions']} suspicions / {fp['logged_failures']} failures logged")
        await asyncio.sleep(args.settle)
        seed = cluster.agents[0]
        for trial in range(args.trials):
            victim = rng.choice([a for a in cluster.live if a is not seed])
            d = await detection_trial(cluster, victim, args.detect_poll, args.detect_timeout)
            result["detection"].append(d)
            log(f"  {system.label} N={n} detection {trial + 1}/{args.trials}: first/median/last "
                f"{fmt(d['first'])}/{fmt(d['median'])}/{fmt(d['last'])} s (first suspicion {fmt(d['first_suspect'])} s, "
                f"{d['detected_by']}/{d['survivors']} survivors"
                + ("" if d["local_health_at_kill"] is None else f", local health at the kill {d['local_health_at_kill']}")
                + ")")
            # Keep N constant: a fresh member replaces the dead one before the next trial.
            cluster.start_agent(f"{tag}t{args.trials - 1}-r{trial}", seed.ip)
            t = time.monotonic()
            rj = await cluster.wait_converged(t, args.join_timeout)
            result["rejoin"].append(rj)
            await asyncio.sleep(args.settle)
    finally:
        if cluster is not None:
            cluster.stop()
    joins = [j for j in result["join"] if j is not None]
    result["summary"] = {
        "join_median": med(joins), "join_max": (max(joins) if joins else None),
        "detect_first": med([d["first"] for d in result["detection"]]),
        "detect_median": med([d["median"] for d in result["detection"]]),
        "detect_last": med([d["last"] for d in result["detection"]]),
        "detect_first_suspect": med([d["first_suspect"] for d in result["detection"]]),
        "fp_quiet": result["false_positives_quiet"]["non_alive_observations"],
        "fp_quiet_logged": result["false_positives_quiet"]["logged_suspicions"]
        + result["false_positives_quiet"]["logged_failures"],
        "fp_loaded": result["false_positives_loaded"]["non_alive_observations"],
        "fp_loaded_logged": result["false_positives_loaded"]["logged_suspicions"]
        + result["false_positives_loaded"]["logged_failures"],
        "rss_mib": result["resources"]["rss_mib_mean"],
        "rss_anon_mib": result["resources"]["rss_anon_mib_mean"],
        "pss_mib": result["resources"]["pss_mib_mean"],
        "cpu_s_per_min": result["resources"]["cpu_s_per_min_mean"],
        "cpu_s_per_min_max": result["resources"]["cpu_s_per_min_max"],
        "wakeups_per_s": result["resources"]["wakeups_per_s_mean"],
        "packets_per_min": result["resources"]["gossip_packets_sent_per_min_mean"],
    }
    return result


ROWS = [("join convergence median (s)", "join_median", 2), ("join convergence max (s)", "join_max", 2),
        ("detection first (s)", "detect_first", 2), ("detection median (s)", "detect_median", 2),
        ("detection last (s)", "detect_last", 2), ("first suspicion (s)", "detect_first_suspect", 2),
        ("false positives quiet: observed", "fp_quiet", 0), ("false positives quiet: logged", "fp_quiet_logged", 0),
        ("false positives loaded: observed", "fp_loaded", 0),
        ("false positives loaded: logged", "fp_loaded_logged", 0),
        ("RSS per member (MiB)", "rss_mib", 1), ("  of which anonymous (MiB)", "rss_anon_mib", 1),
        ("PSS per member (MiB)", "pss_mib", 1), ("CPU per member (CPU-s/min)", "cpu_s_per_min", 3),
        ("CPU busiest member (CPU-s/min)", "cpu_s_per_min_max", 3),
        ("thread wake-ups/s/member", "wakeups_per_s", 1),
        ("gossip packets sent/min/member", "packets_per_min", 0)]


def table(n, ours, serf):
    lines = [f"N = {n}", f"| {'metric':<34} | {'ours':>8} | {'serf':>8} | {'ours/serf':>9} |",
             f"|{'-' * 36}|{'-' * 10}|{'-' * 10}|{'-' * 11}|"]
    for label, key, digits in ROWS:
        a = ours.get(key) if ours else None
        b = serf.get(key) if serf else None
        ratio = fmt(a / b, 2) if (a is not None and b) else "-"
        lines.append(f"| {label:<34} | {fmt(a, digits):>8} | {fmt(b, digits):>8} | {ratio:>9} |")
    return "\n".join(lines)


async def main_async(args):
    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)

    root = tempfile.mkdtemp(prefix="bench-gossip-")
    _TEMP_DIRS.append(root)
    key_b64 = base64.b64encode(random.Random(args.seed).randbytes(32)).decode()
    key_file = os.path.join(root, "gossip.key")
    with open(key_file, "w") as f:
        f.write(key_b64 + "\n")
    systems = [OurPeer(args.peer, key_file)]
    if not args.skip_serf:
        systems.append(Serf(args.serf, key_b64))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    report = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "argv": sys.argv[1:],
              "settings": vars(args), "load_before": os.getloadavg(), "results": {}}
    log(f"load average before: {report['load_before']}")
    started = time.monotonic()
    for n in sizes:
        report["results"][str(n)] = {}
        for idx, system in enumerate(systems):
            log(f"{system.label}: N={n}")
            rng = random.Random(args.seed * 1000 + n)
            octet = 10 + 50 * idx + (sizes.index(n) * 10)
            report["results"][str(n)][system.label] = await bench_system(system, n, octet, args, root, rng, log)
        res = report["results"][str(n)]
        print(table(n, res.get("ours", {}).get("summary"), res.get("serf", {}).get("summary")), flush=True)
    report["load_after"] = os.getloadavg()
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    log(f"load average after: {report['load_after']}; elapsed {report['elapsed_s']} s")
    print("\nSummary")
    for n in sizes:
        res = report["results"][str(n)]
        print(table(n, res.get("ours", {}).get("summary"), res.get("serf", {}).get("summary")) + "\n")
    out = args.output or f"/tmp/bench-gossip-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    with open(out, "w") as f:
        json.dump(report, f, indent=2, default=str)
    log(f"results written to {out}")


def evict_from_page_cache(paths):
    """Both binaries start from pages read from disk. A binary just built or copied sits in the page cache as the
    write left it, and its members then map more of it: ours measured 14.2 MiB RSS per member at N = 5 right
    after a `cp`, 13.6 MiB after its pages were dropped, with nothing else changed (2026-11-27)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)  # dirty pages are not dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_peer = os.path.join(here, "..", "..", ".build-bench", "release", "peer")
    p = argparse.ArgumentParser(description="Gossip benchmark: our peer beside HashiCorp Serf.")
    p.add_argument("--sizes", default="5,20,50", help="cluster sizes, comma separated (default 5,20,50)")
    p.add_argument("--trials", type=int, default=3, help="join and detection trials per size (default 3)")
    p.add_argument("--quiet-seconds", type=float, default=60, help="length of each false-positive window")
    p.add_argument("--cpu-seconds", type=float, default=None,
                   help="unpolled window for RSS/CPU (default: min(20, quiet-seconds))")
    p.add_argument("--hogs", type=int, default=4, help="busy processes during the loaded window (default 4)")
    p.add_argument("--skip-serf", action="store_true", help="run only our peer")
    p.add_argument("--peer", default=os.environ.get("PEER_BIN", os.path.normpath(default_peer)))
    p.add_argument("--serf", default=os.environ.get("SERF_BIN", "serf"))
    p.add_argument("--poll", type=float, default=0.5, help="poll period in false-positive windows (s)")
    p.add_argument("--detect-poll", type=float, default=0.2, help="poll period while detecting (s)")
    p.add_argument("--detect-timeout", type=float, default=60)
    p.add_argument("--join-timeout", type=float, default=90)
    p.add_argument("--settle", type=float, default=3, help="pause after joins and between phases (s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--idle-only", action="store_true",
                   help="per size: join, then only the idle RSS/CPU/wake-up window (no false-positive or detection runs)")
    p.add_argument("--during-idle", default=None, metavar="CMD",
                   help="shell command run during the idle window; {pids} becomes the members' pids, comma separated")
    p.add_argument("--output", default=None, help="JSON result file (default /tmp/bench-gossip-<time>.json)")
    args = p.parse_args()
    if args.cpu_seconds is None:
        args.cpu_seconds = min(20.0, args.quiet_seconds)
    if not os.access(args.peer, os.X_OK):
        sys.exit(f"bench-gossip: no peer binary at {args.peer} (build: swift build -c release --product peer "
                 f"--scratch-path .build-bench, or pass --peer)")
    if not args.skip_serf and shutil.which(args.serf) is None:
        sys.exit("bench-gossip: serf not found (apt-get install -y serf, or pass --skip-serf)")
    evict_from_page_cache([args.peer] + ([] if args.skip_serf else [shutil.which(args.serf)]))
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        asyncio.run(main_async(args))
    except KeyboardInterrupt:
        print("bench-gossip: interrupted; tearing down", file=sys.stderr)
        sys.exit(130)
    finally:
        teardown_everything()


if __name__ == "__main__":
    main()
