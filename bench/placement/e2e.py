#!/usr/bin/env python3
"""End-to-end placement benchmark: a real 3-peer cluster binds a burst of N pending pods.

How: start three release peers on 127.0.X.{1,2,3}; create N pods (mixed requests, one container, no owner)
whose nodeSelector `bench=go` matches no node, through the Kubernetes API with many concurrent clients,
and wait until the scheduling leader has seen them all (and found them unschedulable). Then label every
node `bench=go` and time, with a watch on the pods, until every pod is bound. The figure is N / that time:
the leader re-queues the pods on the node change, schedules them, and writes the bindings as compare-and-swap
batches through Raft; the watch sees them committed. Pod creation is timed separately (the API's write rate).

    bench/placement/e2e.py [--pods 10000] [--clients 32] [--peer-bin PATH] [--base-ip 127.0.77]
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import processes  # noqa: E402


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Client:
    def __init__(self, host):
        self.host = host
        self.conn = None

    def request(self, method, path, body=None, content_type="application/json", timeout=30):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(self.host, 6443, timeout=timeout)
                headers = {"Content-Type": content_type} if body is not None else {}
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, data
            except (OSError, http.client.HTTPException):
                self.conn = None
                if attempt == 2:
                    raise
                time.sleep(0.2)


def pod(i):
    # Small shapes: a burst of 10,000 must fit three machines (each peer is a node of this one host).
    shapes = [{"memory": "1Mi"}, {"memory": "2Mi"}, {"memory": "512Ki"}, {"memory": "1Mi", "cpu": "1m"}]
    requests = shapes[i % len(shapes)] if i % 20 else {"memory": "4Mi", "cpu": "1m"}
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"p{i:06d}", "namespace": "default", "labels": {"app": f"a{i % 20}"}},
        # runPods: false taints the nodes peer.local/no-pods: these pods are only bound, never run.
        "spec": {"nodeSelector": {"bench": "go"},
                 "tolerations": [{"key": "peer.local/no-pods", "operator": "Exists", "effect": "NoSchedule"}],
                 "containers": [{"name": "c", "image": "busybox", "resources": {"requests": requests}}]},
    })


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--peer-bin", default=os.environ.get("PEER_BIN", ".build-bench/release/peer"))
    ap.add_argument("--base-ip", default="127.0.77")
    ap.add_argument("--keep-logs", default=None, help="copy the peers' logs into this directory at the end")
    ap.add_argument("--log-level", default="notice")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, processes.on_signal)
    workdir = tempfile.mkdtemp(prefix="bench-placement-")
    processes.TEMP_DIRS.append(workdir)
    ips = [f"{args.base_ip}.{i}" for i in (1, 2, 3)]
    try:
        # kubelet's default of 110 pods per node would hold 330: raise it, as an operator would (--max-pods).
        with open(os.path.join(workdir, "peer.yaml"), "w") as f:
            f.write(f"logLevel: {args.log_level}\nmaxPods: {args.pods}\nrunPods: false\n")
        for i, ip in enumerate(ips):
            data = os.path.join(workdir, f"p{i + 1}")
            argv = [args.peer_bin, "start", "--config", os.path.join(workdir, "peer.yaml"), "--insecure-http",
                    "--name", f"p{i + 1}", "--bind-address", ip, "--data-dir", data]
            if i > 0:
                argv += ["--join", ips[0], "--gossip-key-file", os.path.join(workdir, "p1", "gossip.keyring")]
            processes.spawn(argv, os.path.join(workdir, f"p{i + 1}.log"))
            if i == 0:
                deadline = time.monotonic() + 60
                while not os.path.exists(os.path.join(data, "gossip.keyring")) or not up(ips[0]):
                    if time.monotonic() > deadline:
                        raise RuntimeError("p1 did not come up")
                    time.sleep(0.2)
        c = Client(ips[0])
        deadline = time.monotonic() + 120
        while True:
            st, body = c.request("GET", "/api/v1/nodes")
            nodes = json.loads(body).get("items", []) if st == 200 else []
            if len(nodes) == 3 and all(ready(n) for n in nodes):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"no 3 Ready nodes: {st} {body[:300]!r}")
            time.sleep(0.5)
        log("3 peers, 3 Ready nodes")

        for n in nodes:
            name = n["metadata"]["name"]
            log(f"node {name}: allocatable {n['status'].get('allocatable')}")

        # Create the pods (pending: nothing matches their nodeSelector yet).
        t0 = time.monotonic()
        errors = []
        def creator(k):
            cl = Client(ips[k % 3])
            for i in range(k, args.pods, args.clients):
                # A loaded machine can miss an election: retry while the store is unavailable; 409 means an
                # earlier attempt landed.
                for attempt in range(50):
                    st, body = cl.request("POST", "/api/v1/namespaces/default/pods", pod(i))
                    if st not in (500, 503, 504):
                        break
                    time.sleep(0.2)
                if st not in (201, 409):
                    errors.append((st, body[:200]))
        threads = [threading.Thread(target=creator, args=(k,)) for k in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        created_s = time.monotonic() - t0
        if errors:
            raise RuntimeError(f"{len(errors)} creates failed, first: {errors[0]}")
        log(f"created {args.pods} pods in {created_s:.1f} s ({args.pods / created_s:.0f}/s)")

        # Wait until the leader has tried them all (each says PodScheduled=False).
        deadline = time.monotonic() + 300
        while True:
            st, body = c.request("GET", "/api/v1/namespaces/default/pods?fieldSelector=spec.nodeName%3D", timeout=120)
            items = json.loads(body)["items"]
            tried = sum(1 for p in items if any(x.get("type") == "PodScheduled" and x.get("status") == "False"
                                                for x in p.get("status", {}).get("conditions", [])))
            if tried == args.pods:
                rv = json.loads(body)["metadata"]["resourceVersion"]
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {tried} of {args.pods} pods were tried")
            time.sleep(1)
        log(f"all {args.pods} pods pending and found unschedulable")

        # Watch pods from here; label the nodes; count bindings.
        bound = set()
        done = threading.Event()
        started = {}
        def watcher():
            conn = http.client.HTTPConnection(ips[1], 6443, timeout=600)
            conn.request("GET", f"/api/v1/namespaces/default/pods?watch=1&resourceVersion={rv}")
            resp = conn.getresponse()
            buf = b""
            while not done.is_set():
                chunk = resp.read1(1 << 16) if hasattr(resp, "read1") else resp.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    obj = ev.get("object", {})
                    if obj.get("spec", {}).get("nodeName"):
                        bound.add(obj["metadata"]["name"])
                        if len(bound) == args.pods:
                            started["end"] = time.monotonic()
                            done.set()
                            return
        w = threading.Thread(target=watcher, daemon=True)
        w.start()
        time.sleep(0.5)
        started["start"] = time.monotonic()
        for n in nodes:
            name = n["metadata"]["name"]
            st, body = c.request("PATCH", f"/api/v1/nodes/{name}", json.dumps({"metadata": {"labels": {"bench": "go"}}}),
                                 content_type="application/merge-patch+json")
            if st != 200:
                raise RuntimeError(f"label {name}: {st} {body[:200]!r}")
        done.wait(timeout=600)
        if "end" not in started:
            raise RuntimeError(f"only {len(bound)} of {args.pods} bound within 600 s")
        took = started["end"] - started["start"]
        log(f"bound {args.pods} pods in {took:.2f} s")
        print(json.dumps({"pods": args.pods, "create_seconds": round(created_s, 2), "create_per_s": round(args.pods / created_s),
                          "bind_seconds": round(took, 2), "bound_per_s": round(args.pods / took),
                          "load_avg": open("/proc/loadavg").read().split()[:3]}))
    finally:
        if args.keep_logs:
            os.makedirs(args.keep_logs, exist_ok=True)
            for i in (1, 2, 3):
                src = os.path.join(workdir, f"p{i}.log")
                if os.path.exists(src):
                    shutil.copy(src, args.keep_logs)
        processes.teardown_everything(grace=5)


def up(ip):
    try:
        st, _ = Client(ip).request("GET", "/healthz", timeout=2)
        return st == 200
    except OSError:
        return False


def ready(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in node.get("status", {}).get("conditions", []))


if __name__ == "__main__":
    main()
