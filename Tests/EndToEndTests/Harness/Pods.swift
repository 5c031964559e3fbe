import Foundation

/// Images built in the test from Debian's busybox-static (as `scripts/demo-image` does), signed with a key
/// every peer of the lab trusts for images under `e2e/`.
final class SignedImages: @unchecked Sendable {
    static let reference = "e2e/web:1"
    let directory: String
    let keyPath: String
    let publicKey: String
    let archive: String
    private let lock = NSLock()
    private var imported: Set<Int> = []

    /// Makes the key and the image in the lab's directory and sets every peer's configuration to trust the key,
    /// with `nodeGracePeriodSeconds` short enough for a test. Call before `startAll()`.
    init(cluster: Cluster, gracePeriodSeconds: Int = PodChecks.gracePeriodSeconds) throws {
        directory = cluster.lab.directory.appendingPathComponent("images").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        keyPath = directory + "/trusted.key"
        let printed = try Command.run([Cluster.binary.path, "keygen", "signing", "--out", keyPath])
        publicKey = try String(contentsOfFile: keyPath + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !publicKey.isEmpty else { throw Command.Failure(arguments: ["peer keygen signing"], status: 1, output: printed) }
        archive = try Self.build(in: directory, name: "web", reference: Self.reference, page: "hello from a signed pod")
        cluster.configuration = """
            nodeGracePeriodSeconds: \(gracePeriodSeconds)
            imageTrust:
              - prefix: e2e
                keys: ["\(publicKey)"]
            """
    }

    /// Imports and signs the image in host i's store only (once); the other peers pull it from there.
    func importAndSign(on cluster: Cluster, host i: Int) async throws {
        let done = lock.withLock { imported.contains(i) }
        guard !done else { return }
        try await cluster.peerTool(["image", "import", archive], host: i)
        try await cluster.peerTool(["image", "sign", "--key", keyPath, Self.reference], host: i)
        _ = lock.withLock { imported.insert(i) }
    }

    /// Writes an oci-archive of a busybox image serving `page` at /www on port 8080; answers its path.
    static func build(in directory: String, name: String, reference: String, page: String) throws -> String {
        let out = "\(directory)/\(name).tar"
        try Command.run(["/bin/bash", "-c", buildScript, "build-image", "\(directory)/\(name)", out, reference, page])
        return out
    }

    /// The layer digests (hex) of an image in host i's store, lowest first.
    static func layers(of reference: String, in cluster: Cluster, host i: Int) throws -> [String] {
        let root = cluster.dataDirectory(i) + "/images"
        let index = try JSON.object(from: String(contentsOfFile: root + "/index.json", encoding: .utf8))
        let entries = (index?["manifests"] as? [[String: Any]]) ?? []
        guard let entry = entries.first(where: { ($0["annotations"] as? [String: Any])?["org.opencontainers.image.ref.name"] as? String == reference }),
              let digest = (entry["digest"] as? String)?.replacingOccurrences(of: "sha256:", with: "")
        else { return [] }
        let manifest = try JSON.object(from: String(contentsOfFile: "\(root)/blobs/sha256/\(digest)", encoding: .utf8))
        return ((manifest?["layers"] as? [[String: Any]]) ?? []).compactMap { ($0["digest"] as? String)?.replacingOccurrences(of: "sha256:", with: "") }
    }

    /// Gives the image `to` a copy of the signature stored for the image `from` in host i's store (what an
    /// attacker who can write a store would do: a valid signature, but for another digest).
    static func copySignature(from: String, to: String, in cluster: Cluster, host i: Int) throws {
        let path = cluster.dataDirectory(i) + "/images/index.json"
        guard var index = try JSON.object(from: String(contentsOfFile: path, encoding: .utf8)),
              var entries = index["manifests"] as? [[String: Any]] else { throw Command.Failure(arguments: [path], status: 1, output: "no index") }
        func refName(_ entry: [String: Any]) -> String? { (entry["annotations"] as? [String: Any])?["org.opencontainers.image.ref.name"] as? String }
        func digest(_ reference: String) -> String? {
            (entries.first { refName($0) == reference }?["digest"] as? String)?.replacingOccurrences(of: "sha256:", with: "")
        }
        let repository = String(from.prefix { $0 != ":" })
        guard let source = digest(from), let target = digest(to),
              var signature = entries.first(where: { refName($0) == "\(repository):sha256-\(source).sig" })
        else { throw Command.Failure(arguments: [path], status: 1, output: "no signature for \(from) or no image \(to)") }
        signature["annotations"] = ["org.opencontainers.image.ref.name": "\(repository):sha256-\(target).sig"]
        entries.append(signature)
        index["manifests"] = entries
        let data = try JSONSerialization.data(withJSONObject: index)
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    private static let buildScript = #"""
        set -euo pipefail
        work=$1; out=$2; ref=$3; page=$4
        rm -rf "$work"; root=$work/rootfs
        mkdir -p "$root"/bin "$root"/etc "$root"/www "$root"/tmp "$work"/layout/blobs/sha256
        cp /bin/busybox "$root/bin/busybox"
        for applet in $("$root/bin/busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"; done
        printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
        printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
        echo "$page" > "$root/www/index.html"
        chmod 1777 "$root/tmp"
        blob() { local hex; hex=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$work/layout/blobs/sha256/$hex"; echo "$hex"; }
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/layer.tar" .
        diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
        gzip -n -c "$work/layer.tar" > "$work/layer.tar.gz"
        layer_size=$(stat -c %s "$work/layer.tar.gz"); layer=$(blob "$work/layer.tar.gz")
        printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["httpd","-f","-p","8080","-h","/www"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" > "$work/config.json"
        config_size=$(stat -c %s "$work/config.json"); config=$(blob "$work/config.json")
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$config" "$config_size" "$layer" "$layer_size" > "$work/manifest.json"
        manifest_size=$(stat -c %s "$work/manifest.json"); manifest=$(blob "$work/manifest.json")
        printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' "$manifest" "$manifest_size" "$ref" > "$work/layout/index.json"
        echo '{"imageLayoutVersion":"1.0.0"}' > "$work/layout/oci-layout"
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work/layout" -cf "$out" .
        rm -rf "$work"
        """#
}

enum JSON {
    static func object(from text: String) throws -> [String: Any]? {
        try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    static func string(_ object: [String: Any], _ path: String...) -> String? {
        var current: Any? = object
        for key in path { current = (current as? [String: Any])?[key] }
        return current as? String
    }
}

/// A pod as the API shows it, reduced to what the checks need.
struct PodView: Sendable, CustomStringConvertible {
    var name: String
    var uid: String
    var node: String?
    var phase: String
    var ready: Bool
    var podIP: String?
    var deleting: Bool
    var labels: [String: String]
    /// Waiting reasons of the containers (e.g. ErrImageSignature).
    var waitingReasons: [String]

    var description: String { "\(name)@\(node ?? "-") \(phase)\(ready ? " Ready" : "")\(deleting ? " deleting" : "")\(waitingReasons.isEmpty ? "" : " \(waitingReasons)")" }

    init(_ object: [String: Any]) {
        let metadata = object["metadata"] as? [String: Any] ?? [:]
        let spec = object["spec"] as? [String: Any] ?? [:]
        let status = object["status"] as? [String: Any] ?? [:]
        name = metadata["name"] as? String ?? ""
        uid = metadata["uid"] as? String ?? ""
        deleting = metadata["deletionTimestamp"] != nil
        labels = metadata["labels"] as? [String: String] ?? [:]
        node = spec["nodeName"] as? String
        phase = status["phase"] as? String ?? "Pending"
        podIP = status["podIP"] as? String
        let conditions = status["conditions"] as? [[String: Any]] ?? []
        ready = conditions.contains { $0["type"] as? String == "Ready" && $0["status"] as? String == "True" }
        let statuses = status["containerStatuses"] as? [[String: Any]] ?? []
        waitingReasons = statuses.compactMap { (($0["state"] as? [String: Any])?["waiting"] as? [String: Any])?["reason"] as? String }
    }
}

/// A container runc runs on a host (from that peer's runc state root, not the API).
struct HostContainer: Sendable, Equatable {
    var id: String
    var podUID: String
    var name: String
    var status: String
    var pid: Int32
}

extension Cluster {
    /// `peer …` against host i's data directory (image import and sign work while the peer runs).
    @discardableResult
    func peerTool(_ arguments: [String], host i: Int) async throws -> String {
        let command = [Self.binary.path] + arguments + ["--data-dir", dataDirectory(i)]
        return try await offPool { try Command.run(command) }
    }

    /// Pods through host i's API, or nil when it did not answer.
    func pods(through i: Int, selector: String? = nil) async -> [PodView]? {
        let arguments = ["get", "pods", "-o", "json"] + (selector.map { ["-l", $0] } ?? [])
        guard let (status, output) = try? await kubectl(arguments, through: i), status == 0,
              let object = try? JSON.object(from: output), let items = object["items"] as? [[String: Any]]
        else { return nil }
        return items.map(PodView.init)
    }

    /// Pods through the first host in `hosts` that answers.
    func pods(through hosts: [Int], selector: String? = nil) async -> [PodView]? {
        for i in hosts { if let pods = await pods(through: i, selector: selector) { return pods } }
        return nil
    }

    /// One object as JSON through host i (`kubectl get KIND NAME -o json`).
    func object(_ kind: String, _ name: String, through i: Int) async -> [String: Any]? {
        guard let (status, output) = try? await kubectl(["get", kind, name, "-o", "json"], through: i), status == 0 else { return nil }
        return try? JSON.object(from: output)
    }

    /// What runc runs for host i's peer, read from its state root (the truth on the host, whatever the API says).
    func containers(on i: Int) async -> [HostContainer] {
        let root = dataDirectory(i) + "/agent/runc"
        guard FileManager.default.fileExists(atPath: root) else { return [] }
        var items: [[String: Any]] = []
        // `runc list` fails now and then while a container is being created or deleted: ask again.
        for attempt in 0..<10 {
            let output = (try? await offPool({ try Command.run([Command.tool("runc"), "--root", root, "list", "--format", "json"], check: true) })) ?? ""
            if output.trimmingCharacters(in: .whitespacesAndNewlines) == "null" { return [] }
            if let parsed = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] {
                items = parsed
                break
            }
            if attempt < 9 { try? await Task.sleep(for: .milliseconds(200)) }
        }
        return items.compactMap { item in
            guard let id = item["id"] as? String else { return nil }
            let parts = id.split(separator: "_")
            guard parts.count == 3 else { return nil }
            return HostContainer(id: id, podUID: String(parts[0]), name: String(parts[1]), status: item["status"] as? String ?? "",
                                 pid: Int32(item["pid"] as? Int ?? 0))
        }
    }

    /// Running containers on host i (runc says running and the process exists).
    func runningContainers(on i: Int) async -> [HostContainer] {
        await containers(on: i).filter { $0.status == "running" && $0.pid > 0 && kill($0.pid, 0) == 0 }
    }

    /// GET http://ip:port/ from inside host i's namespace (pod IPs are private to their node); the body or nil.
    func httpGetInHost(_ i: Int, ip: String, port: Int = 8080) async -> String? {
        let command = [Command.ipPath, "netns", "exec", hosts[i].namespace, Command.tool("curl"), "-sf", "-m", "3", "http://\(ip):\(port)/"]
        return try? await offPool { try Command.run(command, check: true) }
    }

    func hostIndex(named name: String?) -> Int? { hosts.first { $0.name == name }?.index }
}
