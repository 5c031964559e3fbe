#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel
#if canImport(Glibc)
import Glibc
#endif

/// ConfigMaps and Secrets the pods of this node refer to, keyed `namespace/name`, handed in by the caller with
/// the desired pods.
public struct PodSources: Sendable {
    public var configMaps: [String: ConfigMap]
    public var secrets: [String: Secret]
    public init(configMaps: [String: ConfigMap] = [:], secrets: [String: Secret] = [:]) {
        self.configMaps = configMaps; self.secrets = secrets
    }

    func configMap(_ namespace: String, _ name: String?) -> ConfigMap? { name.flatMap { configMaps["\(namespace)/\($0)"] } }
    func secret(_ namespace: String, _ name: String?) -> Secret? { name.flatMap { secrets["\(namespace)/\($0)"] } }

    static func decoded(_ secret: Secret) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for (k, v) in secret.data ?? [:] { if let d = Data(base64Encoded: v) { out[k] = [UInt8](d) } }
        for (k, v) in secret.stringData ?? [:] { out[k] = Array(v.utf8) }
        return out
    }

    static func decoded(_ map: ConfigMap) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for (k, v) in map.data ?? [:] { out[k] = Array(v.utf8) }
        for (k, v) in map.binaryData ?? [:] { if let d = Data(base64Encoded: v) { out[k] = [UInt8](d) } }
        return out
    }
}

/// Why a container cannot be configured yet (Kubernetes: `CreateContainerConfigError`).
struct ConfigError: Error, CustomStringConvertible { var description: String }

enum Environment {
    /// The container's environment in Kubernetes order: envFrom first, then env (later names win).
    static func resolve(container: Container, pod: Pod, podIP: String?, hostIP: String?, sources: PodSources) throws -> [(String, String)] {
        let namespace = pod.metadata?.namespace ?? "default"
        var out: [(String, String)] = []
        for from in container.envFrom ?? [] {
            let prefix = from.prefix ?? ""
            if let ref = from.configMapRef {
                guard let map = sources.configMap(namespace, ref.name) else {
                    if ref.optional == true { continue }
                    throw ConfigError(description: "configmap \"\(ref.name ?? "")\" not found")
                }
                for (k, v) in PodSources.decoded(map).sorted(by: { $0.key < $1.key }) { out.append((prefix + k, String(decoding: v, as: UTF8.self))) }
            }
            if let ref = from.secretRef {
                guard let secret = sources.secret(namespace, ref.name) else {
                    if ref.optional == true { continue }
                    throw ConfigError(description: "secret \"\(ref.name ?? "")\" not found")
                }
                for (k, v) in PodSources.decoded(secret).sorted(by: { $0.key < $1.key }) { out.append((prefix + k, String(decoding: v, as: UTF8.self))) }
            }
        }
        for variable in container.env ?? [] {
            if let value = variable.value { out.append((variable.name, expand(value, out))); continue }
            guard let from = variable.valueFrom else { out.append((variable.name, "")); continue }
            if let ref = from.configMapKeyRef {
                guard let map = sources.configMap(namespace, ref.name) else {
                    if ref.optional == true { continue }
                    throw ConfigError(description: "configmap \"\(ref.name ?? "")\" not found")
                }
                guard let v = PodSources.decoded(map)[ref.key] else {
                    if ref.optional == true { continue }
                    throw ConfigError(description: "couldn't find key \(ref.key) in ConfigMap \(namespace)/\(ref.name ?? "")")
                }
                out.append((variable.name, String(decoding: v, as: UTF8.self)))
            } else if let ref = from.secretKeyRef {
                guard let secret = sources.secret(namespace, ref.name) else {
                    if ref.optional == true { continue }
                    throw ConfigError(description: "secret \"\(ref.name ?? "")\" not found")
                }
                guard let v = PodSources.decoded(secret)[ref.key] else {
                    if ref.optional == true { continue }
                    throw ConfigError(description: "couldn't find key \(ref.key) in Secret \(namespace)/\(ref.name ?? "")")
                }
                out.append((variable.name, String(decoding: v, as: UTF8.self)))
            } else if let field = from.fieldRef {
                let value: String? = switch field.fieldPath {
                case "metadata.name": pod.metadata?.name
                case "metadata.namespace": namespace
                case "metadata.uid": pod.metadata?.uid
                case "spec.nodeName": pod.spec?.nodeName
                case "status.podIP": podIP
                case "status.hostIP": hostIP
                default: nil
                }
                out.append((variable.name, value ?? ""))
            }
        }
        return out
    }

    /// `$(NAME)` expands to an earlier variable; `$$` escapes.
    static func expand(_ value: String, _ defined: [(String, String)]) -> String {
        guard value.contains("$") else { return value }
        var out = ""
        var rest = Substring(value)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest[rest.index(after: dollar)...]
            if after.hasPrefix("$") { out += "$"; rest = after.dropFirst(); continue }
            if after.hasPrefix("("), let close = after.firstIndex(of: ")") {
                let name = String(after[after.index(after: after.startIndex)..<close])
                if let v = defined.last(where: { $0.0 == name })?.1 { out += v } else { out += "$(\(name))" }
                rest = after[after.index(after: close)...]
                continue
            }
            out += "$"
            rest = after
        }
        return out + rest
    }
}

/// Prepares each volume of a pod under `<pod>/volumes/<name>` and returns its host path.
enum Volumes {
    static func prepare(pod: Pod, directory: String, sources: PodSources) throws -> [String: String] {
        let namespace = pod.metadata?.namespace ?? "default"
        var paths: [String: String] = [:]
        for volume in pod.spec?.volumes ?? [] {
            let path = directory + "/" + volume.name
            if let hostPath = volume.hostPath {
                let type = hostPath.type ?? ""
                if !Files.exists(hostPath.path) {
                    switch type {
                    case "DirectoryOrCreate": try Files.makeDirectory(hostPath.path)
                    case "FileOrCreate": try Files.write(hostPath.path, [])
                    case "", "Directory", "File", "Socket", "CharDevice", "BlockDevice":
                        if type.isEmpty { try Files.makeDirectory(hostPath.path) } else {
                            throw ConfigError(description: "hostPath \(hostPath.path) of type \(type) does not exist")
                        }
                    default: throw ConfigError(description: "hostPath type \(type) is not supported")
                    }
                }
                paths[volume.name] = hostPath.path
                continue
            }
            let fresh = !Files.exists(path)
            try Files.makeDirectory(path)
            paths[volume.name] = path
            if let emptyDir = volume.emptyDir {
                if fresh, emptyDir.medium == "Memory" {
                    let size = emptyDir.sizeLimit.map { ",size=\($0.value)" } ?? ""
                    try Mounts.tmpfs(target: path, options: "mode=0777\(size)")
                } else if fresh {
                    chmod(path, 0o777)
                }
            } else if let source = volume.configMap {
                guard let map = sources.configMap(namespace, source.name) else {
                    if source.optional == true { continue }
                    throw ConfigError(description: "configmap \"\(source.name ?? "")\" not found")
                }
                try project(PodSources.decoded(map), items: source.items, defaultMode: source.defaultMode ?? 0o644, into: path)
            } else if let source = volume.secret {
                guard let secret = sources.secret(namespace, source.secretName) else {
                    if source.optional == true { continue }
                    throw ConfigError(description: "secret \"\(source.secretName ?? "")\" not found")
                }
                // Secrets never touch the disk.
                if fresh { try Mounts.tmpfs(target: path, options: "mode=0755,size=4m") }
                try project(PodSources.decoded(secret), items: source.items, defaultMode: source.defaultMode ?? 0o400, into: path)
            }
        }
        return paths
    }

    /// Writes keys as files: all keys, or the listed `items` at their paths with their modes.
    static func project(_ data: [String: [UInt8]], items: [KeyToPath]?, defaultMode: Int, into directory: String) throws {
        let entries: [(path: String, bytes: [UInt8], mode: Int)]
        if let items, !items.isEmpty {
            entries = try items.map { item in
                guard let bytes = data[item.key] else { throw ConfigError(description: "key \(item.key) not found") }
                return (item.path, bytes, item.mode ?? defaultMode)
            }
        } else {
            entries = data.sorted { $0.key < $1.key }.map { ($0.key, $0.value, defaultMode) }
        }
        for entry in entries {
            guard !entry.path.hasPrefix("/"), !entry.path.split(separator: "/").contains("..") else {
                throw ConfigError(description: "path \(entry.path) must be relative without '..'")
            }
            try Files.write(directory + "/" + entry.path, entry.bytes, mode: entry.mode)
        }
    }
}
