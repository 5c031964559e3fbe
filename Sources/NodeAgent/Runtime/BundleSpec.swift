import ResourceModel

/// Builds a container's OCI runtime `config.json` from the pod spec, the image and the sandbox's paths.
/// A pure function, so the spec can be checked without runc.
public struct BundleSpec: Sendable {
    public struct Inputs: Sendable {
        public var pod: Pod
        public var container: Container
        public var image: ResolvedImage
        public var rootfs: String
        public var cgroupsPath: String
        public var networkNamespace: String
        public var ipcNamespace: String
        public var utsNamespace: String
        /// The pod's shared /dev/shm.
        public var shm: String
        /// `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf` written for the pod.
        public var etcFiles: [String: String]
        /// Host directory of each volume, by volume name.
        public var volumes: [String: String]
        /// The environment after resolving ConfigMap and Secret references (names in order, later wins).
        public var environment: [(String, String)]
        public var defaultPidsLimit: Int64
        public init(pod: Pod, container: Container, image: ResolvedImage, rootfs: String, cgroupsPath: String,
                    networkNamespace: String, ipcNamespace: String, utsNamespace: String, shm: String,
                    etcFiles: [String: String], volumes: [String: String], environment: [(String, String)], defaultPidsLimit: Int64) {
            self.pod = pod; self.container = container; self.image = image; self.rootfs = rootfs; self.cgroupsPath = cgroupsPath
            self.networkNamespace = networkNamespace; self.ipcNamespace = ipcNamespace; self.utsNamespace = utsNamespace
            self.shm = shm; self.etcFiles = etcFiles; self.volumes = volumes; self.environment = environment
            self.defaultPidsLimit = defaultPidsLimit
        }
    }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Docker's and containerd's default capability set.
    public static let defaultCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
    ]

    static let allCapabilities = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID",
        "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
        "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",
        "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// The pod's hostname (UTS), as kubelet sets it: `spec.hostname`, else the pod's name, at most 63 characters.
    public static func hostname(pod: Pod) -> String {
        String((pod.spec?.hostname ?? pod.metadata?.name ?? pod.metadata?.uid ?? "pod").prefix(63))
    }

    /// Kubernetes' rule: `command` replaces the entrypoint, `args` the cmd; a command alone drops the image's cmd.
    public static func processArguments(container: Container, image: ResolvedImage) -> [String] {
        if let command = container.command, !command.isEmpty { return command + (container.args ?? []) }
        return image.entrypoint + (container.args ?? image.cmd)
    }

    public static func capabilities(_ context: SecurityContext?) -> [String] {
        if context?.privileged == true { return allCapabilities }
        func normalise(_ c: String) -> String { let u = c.uppercased(); return u.hasPrefix("CAP_") ? u : "CAP_" + u }
        let drop = Set((context?.capabilities?.drop ?? []).map(normalise))
        var caps = drop.contains("CAP_ALL") ? [] : defaultCapabilities.filter { !drop.contains($0) }
        for add in (context?.capabilities?.add ?? []).map(normalise) {
            if add == "CAP_ALL" { return allCapabilities.filter { !drop.contains($0) } }
            if !caps.contains(add) { caps.append(add) }
        }
        return caps
    }

    /// uid and gid: securityContext (container, then pod), else the image's numeric `User`.
    public static func user(pod: Pod, container: Container, image: ResolvedImage) throws(Invalid) -> (uid: Int64, gid: Int64) {
        var uid: Int64 = 0, gid: Int64 = 0
        if !image.user.isEmpty {
            let parts = image.user.split(separator: ":", maxSplits: 1).map(String.init)
            guard let u = Int64(parts[0]) else {
                throw Invalid(description: "image user '\(image.user)' is a name; only numeric users are supported (set runAsUser)")
            }
            uid = u
            gid = parts.count > 1 ? (Int64(parts[1]) ?? 0) : 0
        }
        if let u = container.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser { uid = u }
        if let g = container.securityContext?.runAsGroup ?? pod.spec?.securityContext?.runAsGroup { gid = g }
        if (container.securityContext?.runAsNonRoot ?? pod.spec?.securityContext?.runAsNonRoot) == true, uid == 0 {
            throw Invalid(description: "container has runAsNonRoot and image will run as root")
        }
        return (uid, gid)
    }

    public static func build(_ inputs: Inputs) throws(Invalid) -> JSONValue {
        let container = inputs.container
        let context = container.securityContext
        let privileged = context?.privileged == true
        let arguments = processArguments(container: container, image: inputs.image)
        guard !arguments.isEmpty else { throw Invalid(description: "no command: neither the pod nor the image gives one") }
        let (uid, gid) = try user(pod: inputs.pod, container: container, image: inputs.image)

        var env: [(String, String)] = []
        func setEnv(_ name: String, _ value: String) {
            if let i = env.firstIndex(where: { $0.0 == name }) { env[i].1 = value } else { env.append((name, value)) }
        }
        setEnv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        for entry in inputs.image.env {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            setEnv(String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
        setEnv("HOSTNAME", inputs.pod.metadata?.name ?? "")
        for (name, value) in inputs.environment { setEnv(name, value) }

        let caps: [JSONValue] = capabilities(context).map { .string($0) }
        var supplementary: [JSONValue] = []
        for g in inputs.pod.spec?.securityContext?.supplementalGroups ?? [] { supplementary.append(.int(g)) }
        if let fsGroup = inputs.pod.spec?.securityContext?.fsGroup { supplementary.append(.int(fsGroup)) }
        let cwd = container.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? (inputs.image.workingDir.isEmpty ? "/" : inputs.image.workingDir)
        let process: JSONValue = [
            "terminal": false,
            "user": ["uid": .int(uid), "gid": .int(gid), "additionalGids": .array(supplementary)],
            "args": .array(arguments.map { .string($0) }),
            "env": .array(env.map { .string("\($0.0)=\($0.1)") }),
            "cwd": .string(cwd),
            "capabilities": ["bounding": .array(caps), "effective": .array(caps), "permitted": .array(caps)],
            "noNewPrivileges": .bool(!privileged && context?.allowPrivilegeEscalation != true),
        ]

        var mounts: [JSONValue] = [
            ["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]],
            ["destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]],
            ["destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", privileged ? "rw" : "ro"]],
            ["destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]],
            ["destination": "/dev/shm", "type": "bind", "source": .string(inputs.shm), "options": ["rbind", "rprivate", "nosuid", "nodev"]],
        ]
        for (destination, source) in inputs.etcFiles.sorted(by: { $0.key < $1.key }) {
            mounts.append(["destination": .string(destination), "type": "bind", "source": .string(source), "options": ["rbind", "rprivate"]])
        }
        for mount in container.volumeMounts ?? [] {
            guard let source = inputs.volumes[mount.name] else {
                throw Invalid(description: "volumeMount \(mount.name) names no volume of the pod")
            }
            var path = source
            if let sub = mount.subPath, !sub.isEmpty {
                guard !sub.hasPrefix("/"), !sub.split(separator: "/").contains("..") else {
                    throw Invalid(description: "subPath '\(sub)' must be a relative path without '..'")
                }
                path += "/" + sub
            }
            var options: [JSONValue] = ["rbind", "rprivate"]
            if mount.readOnly == true { options.append("ro") }
            mounts.append(["destination": .string(mount.mountPath), "type": "bind", "source": .string(path), "options": .array(options)])
        }

        var resources: JSONObject = ["devices": [["allow": false, "access": "rwm"]]]
        let limits = container.resources?.limits ?? [:]
        let requests = container.resources?.requests ?? [:]
        if let memory = limits["memory"] {
            resources["memory"] = ["limit": .int(memory.value), "swap": .int(memory.value)]
        }
        var cpu: JSONObject = [:]
        if let limit = limits["cpu"] {
            cpu["quota"] = .int(max(1000, limit.milliValue * 100))
            cpu["period"] = 100_000
        }
        if let request = requests["cpu"] ?? limits["cpu"] { cpu["shares"] = .int(max(2, request.milliValue * 1024 / 1000)) }
        if !cpu.isEmpty { resources["cpu"] = .object(cpu) }
        resources["pids"] = ["limit": .int(limits["pids"]?.value ?? inputs.defaultPidsLimit)]

        var linux: JSONObject = [
            "cgroupsPath": .string(inputs.cgroupsPath),
            "resources": .object(resources),
            "namespaces": [
                ["type": "pid"], ["type": "mount"],
                ["type": "network", "path": .string(inputs.networkNamespace)],
                ["type": "ipc", "path": .string(inputs.ipcNamespace)],
                ["type": "uts", "path": .string(inputs.utsNamespace)],
            ],
        ]
        if !privileged {
            linux["maskedPaths"] = [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ]
            linux["readonlyPaths"] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
        return [
            "ociVersion": "1.0.2",
            "process": process,
            // runc sets it inside the pod's UTS namespace it joins: a sandbox made ahead (the pool) has no name yet.
            "hostname": .string(hostname(pod: inputs.pod)),
            "root": ["path": .string(inputs.rootfs), "readonly": .bool(context?.readOnlyRootFilesystem == true)],
            "mounts": .array(mounts),
            "linux": .object(linux),
        ]
    }
}
