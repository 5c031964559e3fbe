/// The store's keys in unsigned byte order, so every prefix is one contiguous run.
///
/// Keys live in sorted chunks of at most `chunkCapacity`: an insert or removal shifts one chunk
/// (plus the small chunk directory), not the whole key space, and lookups are two binary searches.
struct SortedKeyIndex: Sendable {
    static let chunkCapacity = 512

    struct Position: Equatable {
        var chunk: Int
        var offset: Int
    }

    private var chunks: [[[UInt8]]] = []
    private(set) var count = 0
    var chunkCount: Int { chunks.count }

    init() {}

    /// Builds the index from keys already in strictly increasing order.
    init<Keys: Sequence>(sortedKeys: Keys) where Keys.Element == [UInt8] {
        var chunk: [[UInt8]] = []
        chunk.reserveCapacity(Self.chunkCapacity / 2)
        for key in sortedKeys {
            chunk.append(key)
            count += 1
            if chunk.count == Self.chunkCapacity / 2 {
                chunks.append(chunk)
                chunk = []
            }
        }
        if !chunk.isEmpty { chunks.append(chunk) }
    }

    var startPosition: Position { Position(chunk: 0, offset: 0) }

    /// The first position whose key is not less than `key`.
    func lowerBound(_ key: [UInt8]) -> Position {
        // First chunk whose last key is ≥ key.
        var low = 0
        var high = chunks.count
        while low < high {
            let mid = (low + high) / 2
            if let last = chunks[mid].last, [UInt8].storeKeyLess(last, key) { low = mid + 1 } else { high = mid }
        }
        guard low < chunks.count else { return Position(chunk: chunks.count, offset: 0) }
        let chunk = chunks[low]
        var l = 0
        var h = chunk.count
        while l < h {
            let mid = (l + h) / 2
            if [UInt8].storeKeyLess(chunk[mid], key) { l = mid + 1 } else { h = mid }
        }
        return Position(chunk: low, offset: l)
    }

    /// The key at `position`, or nil at the end.
    func key(at position: Position) -> [UInt8]? {
        guard position.chunk < chunks.count, position.offset < chunks[position.chunk].count else { return nil }
        return chunks[position.chunk][position.offset]
    }

    func position(after position: Position) -> Position {
        let next = Position(chunk: position.chunk, offset: position.offset + 1)
        if next.chunk < chunks.count, next.offset >= chunks[next.chunk].count {
            return Position(chunk: next.chunk + 1, offset: 0)
        }
        return next
    }

    /// Inserts a key that is not present yet.
    mutating func insert(_ key: [UInt8]) {
        count += 1
        guard !chunks.isEmpty else {
            chunks.append([key])
            return
        }
        var at = lowerBound(key)
        if at.chunk == chunks.count {
            // Larger than every key: append to the last chunk.
            at = Position(chunk: chunks.count - 1, offset: chunks[chunks.count - 1].count)
        }
        chunks[at.chunk].insert(key, at: at.offset)
        if chunks[at.chunk].count > Self.chunkCapacity {
            let upper = Array(chunks[at.chunk][(Self.chunkCapacity / 2)...])
            chunks[at.chunk].removeLast(upper.count)
            chunks.insert(upper, at: at.chunk + 1)
        }
    }

    /// Removes `key` if present.
    mutating func remove(_ key: [UInt8]) {
        let at = lowerBound(key)
        guard self.key(at: at) == key else { return }
        count -= 1
        chunks[at.chunk].remove(at: at.offset)
        if chunks[at.chunk].isEmpty {
            chunks.remove(at: at.chunk)
        } else if at.chunk + 1 < chunks.count,
                  chunks[at.chunk].count + chunks[at.chunk + 1].count <= Self.chunkCapacity / 2 {
            // Merge small neighbours so the chunk directory stays short.
            chunks[at.chunk].append(contentsOf: chunks[at.chunk + 1])
            chunks.remove(at: at.chunk + 1)
        }
    }
}
