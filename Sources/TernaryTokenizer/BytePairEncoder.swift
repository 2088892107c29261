/// Byte-pair encoding of one word: adjacent symbols are merged pairwise, the pair with the best
/// priority first (ties: the leftmost), until no pair merges. This is what Hugging Face's BPE does
/// with merge ranks and what SentencePiece/llama.cpp's SPM does with piece scores; only the
/// priorities differ. One merge per step (not every occurrence of the pair at once): a merge can
/// make a better pair with its neighbour. Long words (SentencePiece treats a whole text as one)
/// use a heap, O(n log n).
struct BytePairEncoder: Sendable {
    struct Merge: Sendable {
        /// Lower merges first: the merge rank, or minus the merged piece's score.
        let priority: Float
        let id: Int32
    }

    /// (left id, right id) → the merge.
    let merges: [UInt64: Merge]

    @inline(__always) static func key(_ left: Int32, _ right: Int32) -> UInt64 { UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right)) }

    /// Merges `symbols` in place.
    func encode(_ symbols: inout [Int32]) {
        if symbols.count < 2 || merges.isEmpty { return }
        if symbols.count <= 48 { encodeShort(&symbols) } else { encodeLong(&symbols) }
    }

    private func encodeShort(_ symbols: inout [Int32]) {
        while symbols.count > 1 {
            var best = Float.infinity, at = -1, id: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                if let merge = merges[Self.key(symbols[i], symbols[i + 1])], merge.priority < best {
                    best = merge.priority
                    at = i
                    id = merge.id
                }
            }
            if at < 0 { return }
            symbols[at] = id
            symbols.remove(at: at + 1)
        }
    }

    private struct Candidate: Comparable {
        let priority: Float, position: Int32, left: Int32, right: Int32
        static func < (a: Candidate, b: Candidate) -> Bool { (a.priority, a.position) < (b.priority, b.position) }
    }

    private func encodeLong(_ symbols: inout [Int32]) {
        let n = symbols.count
        var ids = symbols
        var next = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
            for i in 0..<n { buffer[i] = Int32(i + 1 < n ? i + 1 : -1) }
            count = n
        }
        var previous = [Int32](unsafeUninitializedCapacity: n) { buffer, count in
            for i in 0..<n { buffer[i] = Int32(i - 1) }
            count = n
        }
        var heap = MinHeap<Candidate>()
        func consider(_ left: Int32) {
            guard left >= 0 else { return }
            let right = next[Int(left)]
            guard right >= 0, let merge = merges[Self.key(ids[Int(left)], ids[Int(right)])] else { return }
            heap.push(Candidate(priority: merge.priority, position: left, left: ids[Int(left)], right: ids[Int(right)]))
        }
        for i in 0..<(n - 1) { consider(Int32(i)) }
        while let candidate = heap.pop() {
            let l = Int(candidate.position), r = Int(next[l])
            // Stale: a neighbour was merged since this pair was seen.
            guard r >= 0, ids[l] == candidate.left, ids[r] == candidate.right, ids[l] >= 0 else { continue }
            ids[l] = merges[Self.key(candidate.left, candidate.right)]!.id
            ids[r] = -1
            next[l] = next[r]
            if next[r] >= 0 { previous[Int(next[r])] = Int32(l) }
            consider(previous[l])
            consider(Int32(l))
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var i: Int32 = 0
        while i >= 0 {
            out.append(ids[Int(i)])
            i = next[Int(i)]
        }
        symbols = out
    }
}

/// A binary min-heap.
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []

    mutating func push(_ item: Element) {
        items.append(item)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var smallest = i
                if l < items.count, items[l] < items[smallest] { smallest = l }
                if r < items.count, items[r] < items[smallest] { smallest = r }
                if smallest == i { break }
                items.swapAt(i, smallest)
                i = smallest
            }
        }
        return top
    }
}
