/// Updates waiting to be piggybacked, at most one per member (a newer fact about
/// a member replaces the older one). Least-transmitted updates go first, newest
/// first among equals, and each is dropped after the retransmit limit.
struct BroadcastQueue: Sendable {
    struct Entry: Sendable {
        var update: MemberUpdate
        var size: Int
        var transmits: Int
        var id: UInt64
    }

    /// Per transmit count, a stack of (member, entry id). Slots go stale when the
    /// entry moves on or is replaced; they are skipped and compacted lazily.
    struct Bucket: Sendable {
        var slots: [(address: String, id: UInt64)] = []
        var live: Int = 0
    }

    /// Updates larger than this could never be piggybacked; they are not queued
    /// (push/pull still carries them).
    var maxUpdateSize = Int.max
    private(set) var entries: [String: Entry] = [:]
    private var buckets: [Bucket] = [Bucket()]
    private var nextID: UInt64 = 0

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    mutating func enqueue(_ update: MemberUpdate) {
        let address = update.address
        if let old = entries.removeValue(forKey: address) {
            buckets[old.transmits].live -= 1
        }
        let size = SWIMMessage.update(update).encodedSize
        guard size <= maxUpdateSize else { return }
        nextID &+= 1
        entries[address] = Entry(update: update, size: size, transmits: 0, id: nextID)
        buckets[0].slots.append((address, nextID))
        buckets[0].live += 1
    }

    mutating func remove(address: String) {
        if let old = entries.removeValue(forKey: address) {
            buckets[old.transmits].live -= 1
        }
    }

    /// Takes updates fitting in `budget` bytes (at most `maxCount`), counting one
    /// transmission for each, and drops those that reach `limit` transmissions.
    mutating func take(budget: Int, maxCount: Int, limit: Int) -> [MemberUpdate] {
        var taken: [MemberUpdate] = []
        // Slots moved up a bucket during this call must not be taken twice.
        var takenIDs: [UInt64] = []  // at most maxCount, so a linear scan is cheap
        var remaining = budget
        var skips = 0
        var bucketIndex = 0
        while bucketIndex < buckets.count, taken.count < maxCount, remaining > 2, skips < 8 {
            var position = buckets[bucketIndex].slots.count - 1
            while position >= 0, taken.count < maxCount, remaining > 2, skips < 8 {
                let slot = buckets[bucketIndex].slots[position]
                guard var entry = entries[slot.address], entry.id == slot.id, entry.transmits == bucketIndex else {
                    if position == buckets[bucketIndex].slots.count - 1 {
                        buckets[bucketIndex].slots.removeLast()
                    }
                    position -= 1
                    continue
                }
                if takenIDs.contains(entry.id) {
                    position -= 1
                    continue
                }
                guard entry.size <= remaining else {
                    skips += 1
                    position -= 1
                    continue
                }
                remaining -= entry.size
                taken.append(entry.update)
                takenIDs.append(entry.id)
                buckets[bucketIndex].live -= 1
                if position == buckets[bucketIndex].slots.count - 1 {
                    buckets[bucketIndex].slots.removeLast()
                }
                entry.transmits += 1
                if entry.transmits >= limit {
                    entries.removeValue(forKey: slot.address)
                } else {
                    entries[slot.address] = entry
                    if buckets.count <= entry.transmits {
                        buckets.append(Bucket())
                    }
                    buckets[entry.transmits].slots.append(slot)
                    buckets[entry.transmits].live += 1
                }
                position -= 1
            }
            compact(bucketIndex)
            bucketIndex += 1
        }
        return taken
    }

    private mutating func compact(_ index: Int) {
        let bucket = buckets[index]
        guard bucket.slots.count > 2 * bucket.live + 32 else { return }
        buckets[index].slots = bucket.slots.filter { slot in
            guard let entry = entries[slot.address] else { return false }
            return entry.id == slot.id && entry.transmits == index
        }
    }
}
