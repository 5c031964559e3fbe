/// Min-heap of events ordered by (time, sequence number); the sequence number is
/// assigned on push, so events at the same instant pop in insertion order.
public struct EventQueue<Element> {
    public struct Entry {
        public let time: Int64
        public let sequence: UInt64
        public let element: Element
    }

    private var heap: [Entry] = []
    private var nextSequence: UInt64 = 0

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }
    public var nextTime: Int64? { heap.first?.time }

    @discardableResult
    public mutating func push(_ element: Element, at time: Int64) -> UInt64 {
        let entry = Entry(time: time, sequence: nextSequence, element: element)
        nextSequence &+= 1
        heap.append(entry)
        siftUp(heap.count - 1)
        return entry.sequence
    }

    public mutating func pop() -> Entry? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        if !heap.isEmpty { siftDown(0) }
        return top
    }

    public func peek() -> Entry? { heap.first }

    public mutating func removeAll() { heap.removeAll(keepingCapacity: true) }

    @inline(__always)
    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.time != b.time ? a.time < b.time : a.sequence < b.sequence
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            if EventQueue.less(heap[child], heap[parent]) {
                heap.swapAt(child, parent)
                child = parent
            } else {
                return
            }
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        let n = heap.count
        while true {
            let left = 2 * parent + 1
            if left >= n { return }
            var smallest = left
            let right = left + 1
            if right < n && EventQueue.less(heap[right], heap[left]) { smallest = right }
            if EventQueue.less(heap[smallest], heap[parent]) {
                heap.swapAt(smallest, parent)
                parent = smallest
            } else {
                return
            }
        }
    }
}

extension EventQueue: Sendable where Element: Sendable {}
extension EventQueue.Entry: Sendable where Element: Sendable {}
