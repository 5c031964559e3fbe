#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Sodium

#if canImport(Glibc)
import Glibc
#endif

/// Unpacks one layer blob into its own directory, once: decompress while hashing (the result must be the
/// config's diff_id), check every member's path before anything touches the disk, extract with the system
/// `tar`, then turn OCI whiteouts into the overlayfs form.
enum LayerUnpacker {
    struct Failure: Error, CustomStringConvertible {
        enum Kind { case tampered, unsafe, invalid, io }
        let kind: Kind
        let description: String
    }

    /// Decompresses `blob` to `output` and returns the sha256 of the uncompressed stream.
    static func decompress(blob: String, compression: OCIMediaType.LayerCompression, output: String) throws(Failure) -> Digest {
        switch compression {
        case .uncompressed:
            do {
                return try ImageFiles.hashFile(blob).digest
            } catch {
                throw Failure(kind: .io, description: error.description)
            }
        case .gzip:
            let result: (status: Int32, stderr: String)
            do {
                result = try ImageFiles.run("/bin/gzip", ["-dc"], stdin: blob, stdout: output)
            } catch {
                throw Failure(kind: .io, description: error.description)
            }
            guard result.status == 0 else {
                throw Failure(kind: .invalid, description: "the layer is not valid gzip (\(result.stderr))")
            }
            do {
                return try ImageFiles.hashFile(output).digest
            } catch {
                throw Failure(kind: .io, description: error.description)
            }
        }
    }

    struct Plan: Equatable {
        /// Paths (relative to the layer root) to turn into whiteout devices: `dir/.wh.name` → `dir/name`.
        var whiteouts: [(marker: String, target: String)] = []
        /// Directories marked opaque by `dir/.wh..wh..opq`.
        var opaque: [(marker: String, directory: String)] = []
        var members = 0

        static func == (a: Plan, b: Plan) -> Bool {
            a.members == b.members && a.whiteouts.map { [$0.marker, $0.target] } == b.whiteouts.map { [$0.marker, $0.target] }
                && a.opaque.map { [$0.marker, $0.directory] } == b.opaque.map { [$0.marker, $0.directory] }
        }
    }

    /// Normalizes a member path, refusing anything that could land outside the layer directory.
    static func safePath(_ raw: String) throws(Failure) -> String {
        guard !raw.hasPrefix("/") else { throw Failure(kind: .unsafe, description: "member '\(raw)' has an absolute path") }
        guard !raw.utf8.contains(0) else { throw Failure(kind: .unsafe, description: "member '\(raw)' has a NUL in its path") }
        var parts: [Substring] = []
        for component in raw.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            guard component != ".." else { throw Failure(kind: .unsafe, description: "member '\(raw)' escapes the layer with '..'") }
            parts.append(component)
        }
        return parts.joined(separator: "/")
    }

    /// Reads every header of the uncompressed layer and returns what to do after extraction, or refuses.
    static func inspect(tarPath: String) throws(Failure) -> Plan {
        let fd = open(tarPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(kind: .io, description: "cannot open \(tarPath): \(ImageFiles.errnoText())") }
        defer { close(fd) }
        let reader = TarReader(fd: fd)
        var plan = Plan()
        var symlinks = Set<String>()
        func checkParents(_ path: String, of raw: String) throws(Failure) {
            var prefix = ""
            for component in path.split(separator: "/").dropLast() {
                prefix = prefix.isEmpty ? String(component) : prefix + "/" + component
                if symlinks.contains(prefix) {
                    throw Failure(kind: .unsafe, description: "member '\(raw)' goes through the symbolic link '\(prefix)'")
                }
            }
        }
        do {
            while let entry = try reader.next() {
                plan.members += 1
                let path = try safePath(entry.path)
                try checkParents(path, of: entry.path)
                switch entry.kind {
                case .symbolicLink:
                    // The target is resolved inside the container's root later; only later members through it matter.
                    symlinks.insert(path)
                case .hardLink:
                    let target = try safePath(entry.linkTarget)
                    guard !target.isEmpty else { throw Failure(kind: .unsafe, description: "hard link '\(entry.path)' has no target") }
                    try checkParents(target, of: entry.linkTarget)
                case .blockDevice:
                    throw Failure(kind: .unsafe, description: "member '\(entry.path)' is a block device")
                case .characterDevice where entry.deviceMajor != 0 || entry.deviceMinor != 0:
                    throw Failure(kind: .unsafe, description: "member '\(entry.path)' is a character device")
                default:
                    break
                }
                let name = path.split(separator: "/").last.map(String.init) ?? ""
                if name.hasPrefix(".wh.") {
                    let parent = String(path.dropLast(name.count)).imageTrimmingSuffix("/")
                    if name == ".wh..wh..opq" {
                        plan.opaque.append((path, parent))
                    } else {
                        let hidden = String(name.dropFirst(4))
                        guard !hidden.isEmpty, hidden != ".", hidden != ".." else {
                            throw Failure(kind: .unsafe, description: "member '\(entry.path)' is a malformed whiteout")
                        }
                        plan.whiteouts.append((path, parent.isEmpty ? hidden : parent + "/" + hidden))
                    }
                }
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw Failure(kind: .invalid, description: "the layer is not a valid tar stream: \(error)")
        }
        return plan
    }

    /// Extracts the checked tar into `directory` (which must be empty) and applies the whiteout plan.
    static func extract(tarPath: String, into directory: String, plan: Plan) throws(Failure) {
        let result: (status: Int32, stderr: String)
        do {
            result = try ImageFiles.run("/usr/bin/tar", [
                "--extract", "--file", tarPath, "--directory", directory,
                "--numeric-owner", "--same-owner", "--same-permissions", "--no-overwrite-dir",
                "--xattrs", "--xattrs-include=user.*", "--xattrs-include=security.capability",
            ])
        } catch {
            throw Failure(kind: .io, description: error.description)
        }
        guard result.status == 0 else { throw Failure(kind: .invalid, description: "tar could not extract the layer: \(result.stderr)") }
        for (marker, target) in plan.whiteouts {
            _ = unlink(directory + "/" + marker)
            // A whiteout hides lower layers only; a same-named file of this layer wins.
            guard !ImageFiles.exists(directory + "/" + target) else { continue }
            guard mknod(directory + "/" + target, S_IFCHR, dev_t(0)) == 0 else {
                throw Failure(kind: .io, description: "cannot create the whiteout for '\(target)': \(ImageFiles.errnoText())")
            }
        }
        for (marker, opaqueDirectory) in plan.opaque {
            _ = unlink(directory + "/" + marker)
            let path = opaqueDirectory.isEmpty ? directory : directory + "/" + opaqueDirectory
            guard ImageXattr.set(path, name: "trusted.overlay.opaque", value: "y") else {
                throw Failure(kind: .io, description: "cannot mark '\(opaqueDirectory)' opaque: \(ImageFiles.errnoText())")
            }
        }
    }
}

extension String {
    func imageTrimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
