import Testing
@testable import ResourceModel

@Suite struct SchemaTests {
    @Test func realManifestsHaveOnlyKnownFieldsExceptPlantedOnes() {
        for (name, kind) in [("pod", "Pod"), ("service", "Service"), ("job", "Job"), ("daemonSet", "DaemonSet"), ("configMap", "ConfigMap"), ("secret", "Secret")] {
            #expect(Schemas.unknownFields(in: Manifests.json(Manifests.all[name] ?? ""), kind: kind).isEmpty, "\(name)")
        }
        // The deployment fixture carries one field Kubernetes does not know.
        #expect(Schemas.unknownFields(in: Manifests.json(Manifests.deployment), kind: "Deployment") == ["spec.template.spec.containers[0].futureField"])
    }

    @Test func reportsPathsInKubernetesWording() throws {
        let pod = try JSONValue.parse(#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labelz":{}},"spec":{"foo":1,"containers":[{"name":"a","image":"x","imagePolicy":"Always","env":[{"name":"A","valu":"1"}]}]}}"#)
        let unknown = Schemas.unknownFields(in: pod, kind: "Pod")
        #expect(unknown == ["metadata.labelz", "spec.foo", "spec.containers[0].imagePolicy", "spec.containers[0].env[0].valu"])
        #expect(Schemas.unknownFieldMessage("spec.foo") == #"unknown field "spec.foo""#)
        #expect(Schemas.strictDecodingMessage(kind: "Pod", apiVersion: "v1", unknown: ["spec.foo"])
            == #"Pod in version "v1" cannot be handled as a Pod: strict decoding error: unknown field "spec.foo""#)
        // Free-form maps and unmodelled subtrees never report.
        let ok = try JSONValue.parse(#"{"metadata":{"labels":{"anything":"x"}},"spec":{"securityContext":{"whatever":1},"containers":[]}}"#)
        #expect(Schemas.unknownFields(in: ok, kind: "Pod").isEmpty)
        #expect(Schemas.unknownFields(in: ok, kind: "NoSuchKind").isEmpty)
    }
}

@Suite struct TableTests {
    let now: Int64 = 1_714_564_800  // 2024-05-01T12:00:00Z

    func cells(_ table: JSONValue) -> [[JSONValue]] {
        (table["rows"]?.arrayValue ?? []).map { $0["cells"]?.arrayValue ?? [] }
    }

    func columnNames(_ table: JSONValue) -> [String] {
        (table["columnDefinitions"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
    }

    @Test func podTable() throws {
        let running = try JSONValue.parse(#"{"metadata":{"name":"web-1","namespace":"default","creationTimestamp":"2024-05-01T11:55:00Z"},"spec":{"nodeName":"n1","containers":[{"name":"a"},{"name":"b"}]},"status":{"phase":"Running","podIP":"10.0.0.5","containerStatuses":[{"name":"a","ready":true,"restartCount":1,"state":{"running":{}},"lastState":{"terminated":{"exitCode":1,"finishedAt":"2024-05-01T11:58:00Z"}}},{"name":"b","ready":false,"restartCount":2,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}"#)
        let pending = try JSONValue.parse(#"{"metadata":{"name":"p2","creationTimestamp":"2024-05-01T11:59:30Z","deletionTimestamp":"2024-05-01T12:00:00Z"},"spec":{"containers":[{"name":"a"}]},"status":{"phase":"Pending"}}"#)
        let t = Tables.table(kind: "Pod", objects: [running, pending], nowEpochSeconds: now, resourceVersion: "42")
        #expect(t["kind"] == "Table")
        #expect(t["apiVersion"] == "meta.k8s.io/v1")
        #expect(t["metadata"]?["resourceVersion"] == "42")
        #expect(columnNames(t) == ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"])
        #expect(t["columnDefinitions"]?.arrayValue?.first?["format"] == "name")
        #expect(t["columnDefinitions"]?.arrayValue?[5]["priority"] == .int(1))
        #expect(cells(t)[0] == ["web-1", "1/2", "CrashLoopBackOff", "3 (2m ago)", "5m", "10.0.0.5", "n1", "<none>", "<none>"])
        #expect(cells(t)[1] == ["p2", "0/1", "Terminating", "0", "30s", "<none>", "<none>", "<none>", "<none>"])
        let object = t["rows"]?.arrayValue?.first?["object"]
        #expect(object?["kind"] == "PartialObjectMetadata")
        #expect(object?["metadata"]?["namespace"] == "default")
        let full = Tables.table(kind: "Pod", objects: [running], nowEpochSeconds: now, resourceVersion: nil, includeObject: .object, includeColumnDefinitions: false)
        #expect(full["rows"]?.arrayValue?.first?["object"] == running)
        #expect(full["columnDefinitions"] == [])
    }

    @Test func completedAndInitPods() throws {
        let done = try JSONValue.parse(#"{"metadata":{"name":"j"},"spec":{"containers":[{"name":"a"}]},"status":{"phase":"Succeeded","containerStatuses":[{"name":"a","ready":false,"restartCount":0,"state":{"terminated":{"exitCode":0,"reason":"Completed"}}}]}}"#)
        #expect(Tables.cells(kind: "Pod", object: done, now: now)[2] == "Completed")
        let initPod = try JSONValue.parse(#"{"metadata":{"name":"i"},"spec":{"initContainers":[{"name":"x"}],"containers":[{"name":"a"}]},"status":{"phase":"Pending","initContainerStatuses":[{"name":"x","ready":false,"restartCount":0,"state":{"running":{}}}]}}"#)
        #expect(Tables.cells(kind: "Pod", object: initPod, now: now)[2] == "Init:0/1")
    }

    @Test func deploymentAndReplicaSetTables() throws {
        var d = Manifests.json(Manifests.deployment)
        d.set("2024-04-30T12:00:00Z", at: ["metadata", "creationTimestamp"])
        d["status"] = ["replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2]
        let t = Tables.table(kind: "Deployment", objects: [d], nowEpochSeconds: now, resourceVersion: "1")
        #expect(columnNames(t) == ["Name", "Ready", "Up-to-date", "Available", "Age", "Containers", "Images", "Selector"])
        #expect(cells(t)[0] == ["web", "2/3", 3, 2, "24h", "nginx", "nginx:1.21", "app=web"])
        let rs: JSONValue = ["metadata": ["name": "web-abc"], "spec": ["replicas": 2, "selector": ["matchLabels": ["app": "web", "pod-template-hash": "abc"]]], "status": ["replicas": 2, "readyReplicas": 1]]
        #expect(Tables.cells(kind: "ReplicaSet", object: rs, now: now) == ["web-abc", 2, 2, 1, "<unknown>", "", "", "app=web,pod-template-hash=abc"])
    }

    @Test func serviceJobNodeAndOtherTables() throws {
        var svc = Manifests.json(Manifests.service)
        svc.set("10.96.0.10", at: ["spec", "clusterIP"])
        svc.set("ClusterIP", at: ["spec", "type"])
        #expect(Tables.cells(kind: "Service", object: svc, now: now) == ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,443/TCP", "<unknown>", "app=web"])
        let job = try JSONValue.parse(#"{"metadata":{"name":"pi"},"spec":{"completions":1,"template":{"spec":{"containers":[{"name":"pi","image":"perl"}]}}},"status":{"succeeded":1,"startTime":"2024-05-01T11:00:00Z","completionTime":"2024-05-01T11:00:42Z","conditions":[{"type":"Complete","status":"True"}]}}"#)
        #expect(Array(Tables.cells(kind: "Job", object: job, now: now).prefix(4)) == ["pi", "Complete", "1/1", "42s"])
        let node = try JSONValue.parse(#"{"metadata":{"name":"n1","labels":{"node-role.kubernetes.io/control-plane":""}},"spec":{"unschedulable":true},"status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"192.168.1.2"}],"nodeInfo":{"kubeletVersion":"v1.32.0","osImage":"Debian","kernelVersion":"6.1","containerRuntimeVersion":"runc"}}}"#)
        #expect(Tables.cells(kind: "Node", object: node, now: now) == ["n1", "Ready,SchedulingDisabled", "control-plane", "<unknown>", "v1.32.0", "192.168.1.2", "<none>", "Debian", "6.1", "runc"])
        #expect(Tables.cells(kind: "ConfigMap", object: Manifests.json(Manifests.configMap), now: now) == ["cfg", 3, "<unknown>"])
        #expect(Tables.cells(kind: "Secret", object: Manifests.json(Manifests.secret), now: now) == ["sec", "Opaque", 1, "<unknown>"])
        let ep = try JSONValue.parse(#"{"metadata":{"name":"web"},"subsets":[{"addresses":[{"ip":"10.0.0.1"},{"ip":"10.0.0.2"}],"ports":[{"port":80},{"port":443}]}]}"#)
        #expect(Tables.cells(kind: "Endpoints", object: ep, now: now)[1] == "10.0.0.1:80,10.0.0.1:443,10.0.0.2:80 + 1 more...")
        let ev = try JSONValue.parse(#"{"metadata":{"name":"p.1"},"involvedObject":{"kind":"Pod","name":"p"},"reason":"Pulled","message":"ok","type":"Normal","count":2,"lastTimestamp":"2024-05-01T11:59:00Z","firstTimestamp":"2024-05-01T11:50:00Z","source":{"component":"kubelet"}}"#)
        #expect(Tables.cells(kind: "Event", object: ev, now: now) == ["60s", "Normal", "Pulled", "pod/p", "ok", "", "kubelet", "10m", 2, "p.1"])
        #expect(columnNames(Tables.table(kind: "Namespace", objects: [], nowEpochSeconds: now, resourceVersion: nil)) == ["Name", "Status", "Age"])
    }
}
