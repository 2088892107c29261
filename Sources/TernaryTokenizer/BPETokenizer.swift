#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// GPT-2's byte-level BPE: pre-tokenize, map bytes to vocabulary characters, apply merges by rank.
/// Matches tiktoken's `gpt2` encoding.
public final class BPETokenizer: @unchecked Sendable {
    /// Id → bytes of each token.
    public let tokenBytes: [[UInt8]]
    /// The vocabulary as stored (token string → id), kept to write it back out.
    public let vocabulary: [String: Int]
    /// Merges as "left right" lines in rank order.
    public let merges: [String]
    public let endOfText: Int?
    public let specialTokens: [String: Int]

    private let byteTokens: [Int32]                    // byte → id of its single-byte token
    private let mergeTable: [UInt64: (rank: Int32, id: Int32)]
    private let cache = Mutex<[[UInt8]: [Int32]]>([:])

    public var vocabularySize: Int { tokenBytes.count }

    /// - Parameters:
    ///   - vocabulary: token string (byte-level characters) → id.
    ///   - merges: "left right" pairs in rank order.
    public init(vocabulary: [String: Int], merges: [String], source: String = "vocabulary") throws {
        guard let maxID = vocabulary.values.max(), vocabulary.values.min()! >= 0 else {
            throw TokenizerError.malformedVocab(source: source, reason: "empty or negative ids")
        }
        var tokenBytes = [[UInt8]](repeating: [], count: maxID + 1)
        var specials: [String: Int] = [:]
        for (token, id) in vocabulary {
            if let bytes = ByteLevel.bytes(of: token) {
                tokenBytes[id] = bytes
            } else {
                specials[token] = id  // e.g. <|endoftext|>: not byte-level characters
                tokenBytes[id] = Array(token.utf8)
            }
        }
        if vocabulary["<|endoftext|>"] != nil { specials["<|endoftext|>"] = vocabulary["<|endoftext|>"] }
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            guard let id = vocabulary[String(Character(ByteLevel.byteToScalar[b]))] else {
                throw TokenizerError.malformedVocab(source: source, reason: "no token for byte \(b)")
            }
            byteTokens[b] = Int32(id)
        }
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, line) in merges.enumerated() {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let left = vocabulary[String(parts[0])], let right = vocabulary[String(parts[1])],
                  let merged = vocabulary[String(parts[0]) + String(parts[1])]
            else {
                throw TokenizerError.malformedMerges(source: source, line: rank + 1, reason: "'\(line)' is not two vocabulary tokens whose join is a token")
            }
            let key = UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))
            if table[key] == nil { table[key] = (Int32(rank), Int32(merged)) }
        }
        self.tokenBytes = tokenBytes
        self.vocabulary = vocabulary
        self.merges = merges
        self.byteTokens = byteTokens
        self.mergeTable = table
        self.specialTokens = specials
        self.endOfText = vocabulary["<|endoftext|>"]
    }

    /// Encodes text. With `allowSpecial`, `<|endoftext|>` in the text becomes its special id.
    public func encode(_ text: String, allowSpecial: Bool = true) -> [Int] {
        var ids: [Int] = []
        if allowSpecial, let eot = endOfText {
            var first = true
            for part in text.components(separatedBy: "<|endoftext|>") {
                if !first { ids.append(eot) }
                first = false
                encodeOrdinary(part, into: &ids)
            }
        } else {
            encodeOrdinary(text, into: &ids)
        }
        return ids
    }

    private func encodeOrdinary(_ text: String, into ids: inout [Int]) {
        let scalars = Array(text.unicodeScalars)
        for range in PreTokenizer.split(scalars) {
            var bytes: [UInt8] = []
            for scalar in scalars[range] { bytes.append(contentsOf: String(scalar).utf8) }
            for id in encodePiece(bytes) { ids.append(Int(id)) }
        }
    }

    private func encodePiece(_ bytes: [UInt8]) -> [Int32] {
        if let hit = cache.withLock({ $0[bytes] }) { return hit }
        var symbols = bytes.map { byteTokens[Int($0)] }
        while symbols.count > 1 {
            var best = Int32.max, bestIndex = -1, bestID: Int32 = 0
            for i in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[i])) << 32 | UInt64(UInt32(symbols[i + 1]))
                if let merge = mergeTable[key], merge.rank < best {
                    best = merge.rank; bestIndex = i; bestID = merge.id
                }
            }
            if bestIndex < 0 { break }
            // Merge every occurrence of this pair, left to right (as the reference BPE does).
            let left = symbols[bestIndex], right = symbols[bestIndex + 1]
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count, symbols[i] == left, symbols[i + 1] == right {
                    merged.append(bestID); i += 2
                } else {
                    merged.append(symbols[i]); i += 1
                }
            }
            symbols = merged
        }
        cache.withLock { cache in
            if cache.count > 100_000 { cache.removeAll(keepingCapacity: true) }
            cache[bytes] = symbols
        }
        return symbols
    }

    /// The bytes of a sequence of ids (invalid UTF-8 is possible mid-stream).
    public func bytes(of ids: [Int]) throws -> [UInt8] {
        var out: [UInt8] = []
        for id in ids {
            guard id >= 0, id < tokenBytes.count else { throw TokenizerError.unknownTokenID(id) }
            out.append(contentsOf: tokenBytes[id])
        }
        return out
    }

    /// Decodes ids to text; invalid UTF-8 becomes U+FFFD (as tiktoken's `decode` with "replace").
    public func decode(_ ids: [Int]) throws -> String {
        String(decoding: try bytes(of: ids), as: UTF8.self)
    }
}
