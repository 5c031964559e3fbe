/// The seam between the image store (Images/) and the pod runtime (Runtime/): the runtime asks for an image
/// by reference and gets either unpacked, verified layers to stack into a rootfs, or a reason to wait.
///
/// The runtime never reads blobs itself, so every container it starts has passed the provenance check.
public struct ResolvedImage: Sendable, Equatable {
    /// The reference as the pod spec named it (`busybox:1`, `127.0.0.1:5000/demo/web:1`, `name@sha256:…`).
    public var reference: String
    /// `sha256:<hex>` of the manifest the signature covers.
    public var manifestDigest: String
    /// From the image config: what `command` and `args` default to, and the process environment.
    public var entrypoint: [String]
    public var cmd: [String]
    public var env: [String]
    public var workingDir: String
    /// The image config's `User` (`uid`, `uid:gid` or a name), empty when unset.
    public var user: String
    /// Unpacked layer directories, lowest layer first, ready to be overlayfs `lowerdir`s (read-only: never
    /// write into them; they are shared by every container of the image).
    public var layerDirectories: [String]

    public init(reference: String, manifestDigest: String, entrypoint: [String], cmd: [String], env: [String],
                workingDir: String, user: String, layerDirectories: [String]) {
        self.reference = reference
        self.manifestDigest = manifestDigest
        self.entrypoint = entrypoint
        self.cmd = cmd
        self.env = env
        self.workingDir = workingDir
        self.user = user
        self.layerDirectories = layerDirectories
    }
}

/// Why an image cannot run yet, in the words Kubernetes shows as a waiting container's reason.
public struct ImageRefusal: Error, Sendable, Equatable {
    public enum Reason: String, Sendable {
        /// Not signed, or signed by a key the trust policy does not list for this namespace/image, or the
        /// signature names another digest.
        case signature = "ErrImageSignature"
        /// A manifest, config or layer whose bytes do not match its digest.
        case tampered = "ErrImageTampered"
        /// Not present locally and no source (registry or peer) could supply it.
        case pull = "ErrImagePull"
        /// A reference that does not parse.
        case invalidName = "InvalidImageName"
    }
    public var reason: Reason
    /// One human sentence for the container status and the Event.
    public var message: String

    public init(reason: Reason, message: String) {
        self.reason = reason
        self.message = message
    }
}

public protocol ImageProvider: Sendable {
    /// Makes the image present, verified and unpacked (pulling it if needed and allowed by `pullPolicy`:
    /// `Always`, `IfNotPresent` or `Never`), or says why it cannot. `namespace` selects the trust policy.
    func ensureImage(reference: String, namespace: String, pullPolicy: String) async -> Result<ResolvedImage, ImageRefusal>
}
