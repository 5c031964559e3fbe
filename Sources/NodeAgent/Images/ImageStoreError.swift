/// What can go wrong in the store, in words an operator can act on; maps onto the container reasons.
public struct ImageStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case invalidReference
        case notFound
        /// Bytes that do not match their digest (manifest, config, layer, diff_id).
        case tampered
        /// A layer that would write outside its directory, or holds device nodes.
        case unsafeLayer
        /// Well-formed bytes that are not a usable image (bad JSON, missing fields, unsupported media type).
        case invalidImage
        case signature
        case pull
        case io
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// The waiting reason a container shows for it.
    public var refusal: ImageRefusal {
        switch kind {
        case .invalidReference: ImageRefusal(reason: .invalidName, message: message)
        case .signature: ImageRefusal(reason: .signature, message: message)
        // An unsafe layer is refused as content that must not run, like one whose bytes changed.
        case .tampered, .unsafeLayer: ImageRefusal(reason: .tampered, message: message)
        case .notFound, .invalidImage, .pull, .io: ImageRefusal(reason: .pull, message: message)
        }
    }
}
