@testable import NodeAgent
import ResourceModel
import Testing

@Suite struct BundleSpecTests {
    let image = ResolvedImage(reference: "busybox:1", manifestDigest: "sha256:aa", entrypoint: ["/entry"], cmd: ["serve", "--port=80"],
                              env: ["PATH=/bin", "MODE=image"], workingDir: "/srv", user: "1000:1000", layerDirectories: ["/l"])

    func inputs(_ containerJSON: String, podSecurity: String = "{}", volumes: [String: String] = [:],
                environment: [(String, String)] = []) throws -> BundleSpec.Inputs {
        let pod = makePod(#"{"metadata":{"name":"web","namespace":"ns","uid":"u"},"spec":{"securityContext":\#(podSecurity),"containers":[\#(containerJSON)]}}"#)
        let container = try #require(pod.spec?.containers.first)
        return BundleSpec.Inputs(pod: pod, container: container, image: image, rootfs: "/b/rootfs", cgroupsPath: "/orch/u/c",
                                 networkNamespace: "/p/ns/net", ipcNamespace: "/p/ns/ipc", utsNamespace: "/p/ns/uts", shm: "/p/shm",
                                 etcFiles: ["/etc/hosts": "/p/etc/hosts"], volumes: volumes, environment: environment, defaultPidsLimit: 4096)
    }

    @Test func commandAndArgsFollowKubernetesRules() throws {
        func args(_ json: String) throws -> [String] {
            let i = try inputs(json)
            return BundleSpec.processArguments(container: i.container, image: image)
        }
        #expect(try args(#"{"name":"c"}"#) == ["/entry", "serve", "--port=80"])
        #expect(try args(#"{"name":"c","args":["x"]}"#) == ["/entry", "x"])
        #expect(try args(#"{"name":"c","command":["sh"]}"#) == ["sh"])
        #expect(try args(#"{"name":"c","command":["sh"],"args":["-c","true"]}"#) == ["sh", "-c", "true"])
    }

    @Test func processEnvironmentUserAndCwd() throws {
        let spec = try BundleSpec.build(inputs(#"{"name":"c","workingDir":"/work"}"#, environment: [("MODE", "pod"), ("EXTRA", "1")]))
        let env = spec["process"]?["env"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(env.contains("MODE=pod"))
        #expect(!env.contains("MODE=image"))
        #expect(env.contains("PATH=/bin"))
        #expect(env.contains("HOSTNAME=web"))
        #expect(env.contains("EXTRA=1"))
        #expect(spec["process"]?["cwd"]?.stringValue == "/work")
        #expect(spec["process"]?["terminal"]?.boolValue == false)
        #expect(spec["process"]?["user"]?["uid"]?.intValue == 1000)
        #expect(spec["process"]?["user"]?["gid"]?.intValue == 1000)
        #expect(spec["process"]?["noNewPrivileges"]?.boolValue == true)
        let overridden = try BundleSpec.build(inputs(#"{"name":"c","securityContext":{"runAsUser":5,"runAsGroup":6}}"#))
        #expect(overridden["process"]?["user"]?["uid"]?.intValue == 5)
        #expect(overridden["process"]?["user"]?["gid"]?.intValue == 6)
        let fromPod = try BundleSpec.build(inputs(#"{"name":"c"}"#, podSecurity: #"{"runAsUser":7,"fsGroup":9}"#))
        #expect(fromPod["process"]?["user"]?["uid"]?.intValue == 7)
        #expect(fromPod["process"]?["user"]?["additionalGids"]?.arrayValue == [.int(9)])
    }

    @Test func capabilitiesDefaultDropAddAndPrivileged() throws {
        #expect(BundleSpec.capabilities(nil) == BundleSpec.defaultCapabilities)
        let dropped = try #require(try inputs(#"{"name":"c","securityContext":{"capabilities":{"drop":["NET_RAW","chown"],"add":["NET_ADMIN"]}}}"#).container.securityContext)
        let caps = BundleSpec.capabilities(dropped)
        #expect(!caps.contains("CAP_NET_RAW"))
        #expect(!caps.contains("CAP_CHOWN"))
        #expect(caps.contains("CAP_NET_ADMIN"))
        let none = try #require(try inputs(#"{"name":"c","securityContext":{"capabilities":{"drop":["ALL"]}}}"#).container.securityContext)
        #expect(BundleSpec.capabilities(none).isEmpty)
        let privileged = try BundleSpec.build(inputs(#"{"name":"c","securityContext":{"privileged":true}}"#))
        #expect(privileged["process"]?["capabilities"]?["bounding"]?.arrayValue?.contains("CAP_SYS_ADMIN") == true)
        #expect(privileged["process"]?["noNewPrivileges"]?.boolValue == false)
        #expect(privileged["linux"]?["maskedPaths"] == nil)
    }

    @Test func resourcesBecomeCgroupLimits() throws {
        let spec = try BundleSpec.build(inputs(#"{"name":"c","resources":{"limits":{"cpu":"250m","memory":"64Mi","pids":"50"},"requests":{"cpu":"100m"}}}"#))
        let r = spec["linux"]?["resources"]
        #expect(r?["memory"]?["limit"]?.intValue == 64 << 20)
        #expect(r?["memory"]?["swap"]?.intValue == 64 << 20)
        #expect(r?["cpu"]?["quota"]?.intValue == 25_000)
        #expect(r?["cpu"]?["period"]?.intValue == 100_000)
        #expect(r?["cpu"]?["shares"]?.intValue == 102)
        #expect(r?["pids"]?["limit"]?.intValue == 50)
        #expect(spec["linux"]?["cgroupsPath"]?.stringValue == "/orch/u/c")
        let unlimited = try BundleSpec.build(inputs(#"{"name":"c"}"#))
        #expect(unlimited["linux"]?["resources"]?["memory"] == nil)
        #expect(unlimited["linux"]?["resources"]?["pids"]?["limit"]?.intValue == 4096)
    }

    @Test func namespacesAndMounts() throws {
        let spec = try BundleSpec.build(inputs(#"{"name":"c","securityContext":{"readOnlyRootFilesystem":true},"volumeMounts":[{"name":"data","mountPath":"/data","readOnly":true},{"name":"data","mountPath":"/sub","subPath":"a/b"}]}"#,
                                               volumes: ["data": "/p/volumes/data"]))
        let namespaces = spec["linux"]?["namespaces"]?.arrayValue ?? []
        #expect(namespaces.first { $0["type"] == "network" }?["path"]?.stringValue == "/p/ns/net")
        #expect(namespaces.first { $0["type"] == "ipc" }?["path"]?.stringValue == "/p/ns/ipc")
        #expect(namespaces.first { $0["type"] == "uts" }?["path"]?.stringValue == "/p/ns/uts")
        #expect(namespaces.first { $0["type"] == "pid" }?["path"] == nil)
        #expect(spec["root"]?["readonly"]?.boolValue == true)
        let mounts = spec["mounts"]?.arrayValue ?? []
        let data = mounts.first { $0["destination"] == "/data" }
        #expect(data?["source"]?.stringValue == "/p/volumes/data")
        #expect(data?["options"]?.arrayValue?.contains("ro") == true)
        #expect(mounts.first { $0["destination"] == "/sub" }?["source"]?.stringValue == "/p/volumes/data/a/b")
        #expect(mounts.first { $0["destination"] == "/dev/shm" }?["source"]?.stringValue == "/p/shm")
        #expect(mounts.first { $0["destination"] == "/etc/hosts" } != nil)
    }

    @Test func badSpecsAreClearErrors() throws {
        #expect(throws: BundleSpec.Invalid.self) { try BundleSpec.build(inputs(#"{"name":"c","volumeMounts":[{"name":"nope","mountPath":"/x"}]}"#)) }
        #expect(throws: BundleSpec.Invalid.self) {
            try BundleSpec.build(inputs(#"{"name":"c","volumeMounts":[{"name":"d","mountPath":"/x","subPath":"../etc"}]}"#, volumes: ["d": "/v"]))
        }
        #expect(throws: BundleSpec.Invalid.self) { try BundleSpec.build(inputs(#"{"name":"c","securityContext":{"runAsNonRoot":true,"runAsUser":0}}"#)) }
        var named = image
        named.user = "www-data"
        let i = try inputs(#"{"name":"c"}"#)
        #expect(throws: BundleSpec.Invalid.self) { try BundleSpec.user(pod: i.pod, container: i.container, image: named) }
    }

    @Test func environmentResolution() throws {
        let pod = makePod(#"{"metadata":{"name":"web","namespace":"ns","uid":"u"},"spec":{"containers":[{"name":"c","env":[{"name":"A","value":"x"},{"name":"B","value":"$(A)-$$(A)-$(MISSING)"},{"name":"K","valueFrom":{"configMapKeyRef":{"name":"cm","key":"k"}}},{"name":"S","valueFrom":{"secretKeyRef":{"name":"s","key":"p"}}},{"name":"IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}},{"name":"O","valueFrom":{"configMapKeyRef":{"name":"absent","key":"k","optional":true}}}],"envFrom":[{"prefix":"P_","configMapRef":{"name":"cm"}}]}]}}"#)
        var cm = ConfigMap()
        cm.data = ["k": "v"]
        var secret = Secret()
        secret.data = ["p": "aGk="]
        let sources = PodSources(configMaps: ["ns/cm": cm], secrets: ["ns/s": secret])
        let env = try Environment.resolve(container: try #require(pod.spec?.containers.first), pod: pod, podIP: "10.0.0.9", hostIP: nil, sources: sources)
        let dict = Dictionary(env, uniquingKeysWith: { _, b in b })
        #expect(dict["A"] == "x")
        #expect(dict["B"] == "x-$(A)-$(MISSING)")
        #expect(dict["K"] == "v")
        #expect(dict["S"] == "hi")
        #expect(dict["IP"] == "10.0.0.9")
        #expect(dict["P_k"] == "v")
        #expect(dict["O"] == nil)
        #expect(env.first?.0 == "P_k")
        #expect(throws: ConfigError.self) {
            try Environment.resolve(container: try #require(pod.spec?.containers.first), pod: pod, podIP: nil, hostIP: nil, sources: PodSources())
        }
    }

    @Test func logTail() {
        let text = Array("a\nb\nc\n".utf8)
        #expect(ContainerLogs.tail(text, lines: 2) == Array("b\nc\n".utf8))
        #expect(ContainerLogs.tail(text, lines: 5) == text)
        #expect(ContainerLogs.tail(text, lines: 0) == [])
        #expect(ContainerLogs.tail(Array("a\nb".utf8), lines: 1) == Array("b".utf8))
    }

    @Test func eventsFollowStatusChanges() throws {
        func status(_ json: String) throws -> PodStatus { try JSONValue.parse(json).decode(PodStatus.self) }
        let waiting = try status(#"{"containerStatuses":[{"name":"c","image":"i","imageID":"","ready":false,"restartCount":0,"state":{"waiting":{"reason":"ErrImageSignature","message":"not signed by a trusted key"}}}]}"#)
        let refused = NodeAgent.events(from: nil, to: waiting, namespace: "ns", name: "p", uid: "u")
        #expect(refused == [PodEvent(namespace: "ns", podName: "p", podUID: "u", type: "Warning", reason: "ErrImageSignature",
                                     message: "not signed by a trusted key", fieldPath: "spec.containers{c}")])
        #expect(NodeAgent.events(from: waiting, to: waiting, namespace: "ns", name: "p", uid: "u").isEmpty)
        let running = try status(#"{"containerStatuses":[{"name":"c","image":"i","imageID":"","ready":true,"restartCount":0,"containerID":"runc://u_c_0","state":{"running":{}}}]}"#)
        #expect(NodeAgent.events(from: waiting, to: running, namespace: "ns", name: "p", uid: "u").map(\.reason) == ["Started"])
        let oom = try status(#"{"containerStatuses":[{"name":"c","image":"i","imageID":"","ready":false,"restartCount":1,"lastState":{"terminated":{"exitCode":137,"reason":"OOMKilled","containerID":"runc://u_c_0"}},"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}"#)
        #expect(NodeAgent.events(from: running, to: oom, namespace: "ns", name: "p", uid: "u").map(\.reason) == ["BackOff", "OOMKilling"])
    }
}
