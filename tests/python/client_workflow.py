"""Drives a running cluster with the official Python `kubernetes` client, each call through a different peer.

Usage: python client_workflow.py KUBECONFIG_1 KUBECONFIG_2 KUBECONFIG_3
Prints one line per step ("ok <step>") and exits non-zero on the first failure, with the reason.
"""
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException


def api(path):
    return client.ApiClient(configuration=_configuration(path))


def _configuration(path):
    c = client.Configuration()
    config.load_kube_config(config_file=path, client_configuration=c)
    return c


def step(name):
    print("ok", name, flush=True)


def main(paths):
    peers = [api(p) for p in paths]
    core = [client.CoreV1Api(p) for p in peers]
    apps = [client.AppsV1Api(p) for p in peers]
    ns = "default"

    # list (peer 1): the bootstrap namespaces exist, and the strict models accept the response.
    names = [n.metadata.name for n in core[0].list_namespace().items]
    assert "default" in names and "kube-system" in names, names
    step("list namespaces")

    # create (peer 2) a pod and a deployment; both are typed models on the way back.
    before = core[1].list_namespaced_pod(ns).metadata.resource_version
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="py-pod", labels={"app": "py"}),
                       spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))
    created = core[1].create_namespaced_pod(ns, pod)
    assert created.metadata.uid and created.spec.restart_policy == "Always", created
    step("create pod")
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "py-deploy"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "py-deploy"}},
                 "template": {"metadata": {"labels": {"app": "py-deploy"}},
                              "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}},
    }
    apps[1].create_namespaced_deployment(ns, deployment)
    step("create deployment")

    # a linearizable read on another peer sees the write at once.
    got = core[2].read_namespaced_pod("py-pod", ns)
    assert got.metadata.uid == created.metadata.uid
    step("read on another peer")

    # patch (peer 3): strategic merge (the client's default for a dict) and the scale subresource.
    patched = core[2].patch_namespaced_pod("py-pod", ns, {"metadata": {"labels": {"tier": "backend"}}})
    assert patched.metadata.labels == {"app": "py", "tier": "backend"}, patched.metadata.labels
    step("patch pod")
    scale = apps[0].patch_namespaced_deployment_scale("py-deploy", ns, {"spec": {"replicas": 3}})
    assert scale.spec.replicas == 3, scale
    assert apps[2].read_namespaced_deployment("py-deploy", ns).spec.replicas == 3
    step("scale deployment")

    # watch (peer 1) from the resourceVersion before the create: the ADDED and MODIFIED events.
    seen = []
    w = watch.Watch()
    for event in w.stream(core[0].list_namespaced_pod, ns, resource_version=before, timeout_seconds=5):
        if event["object"].metadata.name == "py-pod":
            seen.append(event["type"])
            if len(seen) >= 2:
                w.stop()
    assert seen[:2] == ["ADDED", "MODIFIED"], seen
    step("watch")

    # a watch on peer 2 sees a delete made through peer 3.
    deleted = threading.Event()

    def watch_delete():
        w2 = watch.Watch()
        for event in w2.stream(core[1].list_namespaced_pod, ns, timeout_seconds=10):
            if event["type"] == "DELETED" and event["object"].metadata.name == "py-pod":
                deleted.set()
                w2.stop()

    watcher = threading.Thread(target=watch_delete)
    watcher.start()
    import time
    time.sleep(0.5)
    # grace 0: the pod may be bound to a peer that runs no pods, whose agent would never confirm a graceful stop.
    gone = core[2].delete_namespaced_pod("py-pod", ns, grace_period_seconds=0)
    assert gone.metadata.name == "py-pod"
    apps[0].delete_namespaced_deployment("py-deploy", ns)
    watcher.join(timeout=15)
    assert deleted.is_set(), "no DELETED event"
    step("delete and watch the delete")

    try:
        core[0].read_namespaced_pod("py-pod", ns)
        raise AssertionError("the pod is still there")
    except ApiException as e:
        assert e.status == 404, e.status
    step("gone everywhere")

    # a wrong token is refused with 401.
    good = _configuration(paths[0])
    bad = client.Configuration()
    bad.host = good.host
    bad.ssl_ca_cert = good.ssl_ca_cert
    bad.api_key = {"authorization": "Bearer not-the-token"}
    try:
        client.CoreV1Api(client.ApiClient(configuration=bad)).list_namespaced_pod(ns)
        raise AssertionError("a wrong token was accepted")
    except ApiException as e:
        assert e.status == 401, e.status
    step("wrong token refused")


if __name__ == "__main__":
    try:
        main(sys.argv[1:4])
    except Exception as error:  # one line the Swift test can show
        print("FAILED", type(error).__name__, error, flush=True)
        sys.exit(1)
