/// Token piece → id by exact UTF-8 bytes. Swift's `String` hashing and equality follow canonical
/// equivalence, which would make a precomposed and a decomposed "é" the same key (two distinct
/// tokens in real vocabularies) and costs a normalization check per lookup; this table compares
/// bytes. Open addressing over one contiguous copy of all pieces.
struct PieceIndex: Sendable {
    private let blob: [UInt8]
    private let offsets: [Int32]   // piece i is blob[offsets[i] ..< offsets[i + 1]]
    private let slots: [Int32]     // id, or −1 for empty
    private let mask: Int

    init(_ pieces: [String]) {
        var blob: [UInt8] = []
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(pieces.count + 1)
        for piece in pieces {
            blob.append(contentsOf: piece.utf8)
            offsets.append(Int32(blob.count))
        }
        var size = 16
        while size < 2 * pieces.count { size *= 2 }
        var slots = [Int32](repeating: -1, count: size)
        let mask = size - 1
        blob.withUnsafeBytes { bytes in
            for id in 0..<pieces.count {
                let piece = UnsafeRawBufferPointer(rebasing: bytes[Int(offsets[id])..<Int(offsets[id + 1])])
                var i = Self.hash(piece) & mask
                while slots[i] >= 0 {
                    let other = UnsafeRawBufferPointer(rebasing: bytes[Int(offsets[Int(slots[i])])..<Int(offsets[Int(slots[i]) + 1])])
                    if other.elementsEqual(piece) { break }  // a duplicate piece keeps its first id
                    i = (i + 1) & mask
                }
                if slots[i] < 0 { slots[i] = Int32(id) }
            }
        }
        self.blob = blob
        self.offsets = offsets
        self.slots = slots
        self.mask = mask
    }

    /// FNV-1a over the bytes.
    @inline(__always) static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    func id(_ bytes: UnsafeRawBufferPointer) -> Int32? {
        var i = Self.hash(bytes) & mask
        return blob.withUnsafeBytes { all in
            while true {
                let id = slots[i]
                if id < 0 { return nil }
                let start = Int(offsets[Int(id)]), end = Int(offsets[Int(id) + 1])
                if end - start == bytes.count, memcmp(all.baseAddress! + start, bytes.baseAddress ?? all.baseAddress!, bytes.count) == 0 {
                    return id
                }
                i = (i + 1) & mask
            }
        }
    }

    func id(_ piece: String) -> Int32? {
        var piece = piece
        return piece.withUTF8 { id(UnsafeRawBufferPointer($0)) }
    }

    /// The id of `left` + `right` joined, without building the string.
    func id(joining left: Int32, _ right: Int32) -> Int32? {
        let a = Int(offsets[Int(left)])..<Int(offsets[Int(left) + 1]), b = Int(offsets[Int(right)])..<Int(offsets[Int(right) + 1])
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: a.count + b.count) { joined in
            blob.withUnsafeBufferPointer { all in
                for (k, i) in a.enumerated() { joined[k] = all[i] }
                for (k, i) in b.enumerated() { joined[a.count + k] = all[i] }
            }
            return id(UnsafeRawBufferPointer(joined))
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
