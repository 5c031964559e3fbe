/// libsodium's headers mark pointers nonnull even for zero-length inputs, while an
/// empty Swift array has no base address; these hand out a valid pointer either way.
func withBytePointer<R>(_ bytes: [UInt8], _ body: (UnsafePointer<UInt8>) throws -> R) rethrows -> R {
    try bytes.withUnsafeBufferPointer { buffer in
        if let base = buffer.baseAddress { return try body(base) }
        var placeholder: UInt8 = 0
        return try withUnsafePointer(to: &placeholder) { try body($0) }
    }
}

func withMutableBytePointer<R>(_ bytes: inout [UInt8], _ body: (UnsafeMutablePointer<UInt8>) throws -> R) rethrows -> R {
    try bytes.withUnsafeMutableBufferPointer { buffer in
        if let base = buffer.baseAddress { return try body(base) }
        var placeholder: UInt8 = 0
        return try withUnsafeMutablePointer(to: &placeholder) { try body($0) }
    }
}
