
/// Picks the next token from logits: logit bias → repetition penalty → presence/frequency
/// penalties → temperature → top-k → top-p → min-p (llama.cpp's order).
public struct Sampler {
    public let options: SamplingOptions
    private var random: SplitMix64

    public init(options: SamplingOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed)
    }

    /// The next token. Logits that are NaN or infinite (corrupt weights) are an error, not a
    /// token. A tiny temperature or repetition penalty (1e-38) that scales a score past Float's
    /// range gives the limit of the distribution it sharpens: the best-scoring token. With
    /// `allowed` (one flag per token; an output format's), only allowed tokens are candidates.
    public mutating func sample(_ logits: [Float], history: [Int], allowed: [Bool]? = nil) throws -> Int {
        if let bad = logits.firstIndex(where: { !$0.isFinite }) {
            throw GenerationError.nonFiniteLogits(token: bad, value: logits[bad])
        }
        if let allowed, !allowed.prefix(logits.count).contains(true) { throw GenerationError.formatUnreachable }
        var logits = logits
        for (id, bias) in options.logitBias where id < logits.count { logits[id] += bias }
        if options.repetitionPenalty != 1 {
            // As in llama.cpp/CTRL: positive logits are divided, negative ones multiplied.
            for id in Set(history.suffix(options.repetitionWindow)) where id >= 0 && id < logits.count {
                logits[id] = logits[id] > 0 ? logits[id] / options.repetitionPenalty : logits[id] * options.repetitionPenalty
            }
            if logits.contains(where: { !$0.isFinite }) { return Self.limit(of: logits, allowed: allowed) }
        }
        if options.presencePenalty != 0 || options.frequencyPenalty != 0 {
            var counts: [Int: Int] = [:]
            for id in history.suffix(options.repetitionWindow) where id >= 0 && id < logits.count { counts[id, default: 0] += 1 }
            for (id, count) in counts { logits[id] -= options.presencePenalty + options.frequencyPenalty * Float(count) }
        }
        // A model may have more logits than its tokenizer has tokens (padded tables): those are never allowed.
        if let allowed { for i in logits.indices where i >= allowed.count || !allowed[i] { logits[i] = -.infinity } }
        if options.temperature == 0 { return Self.argmax(logits) }
        let candidates = Self.ranked(logits, keep: options.topK).filter { $0.logit > -.infinity }.map { (id: $0.id, logit: $0.logit / options.temperature) }
        if candidates.contains(where: { !$0.logit.isFinite }) { return candidates[0].id }
        let maxLogit = candidates[0].logit
        var probabilities = candidates.map { Double(expf($0.logit - maxLogit)) }
        var total = probabilities.reduce(0, +)
        if options.topP < 1 {
            var cumulative = 0.0, keep = 0
            repeat { cumulative += probabilities[keep] / total; keep += 1 } while keep < probabilities.count && cumulative < Double(options.topP)
            probabilities.removeLast(probabilities.count - keep)
            total = probabilities.reduce(0, +)
        }
        if options.minP > 0 {
            let floor = probabilities[0] * Double(options.minP)
            let keep = probabilities.firstIndex { $0 < floor } ?? probabilities.count
            probabilities.removeLast(probabilities.count - keep)
            total = probabilities.reduce(0, +)
        }
        var target = Double.random(in: 0..<total, using: &random)
        for (i, p) in probabilities.enumerated() {
            target -= p
            if target < 0 { return candidates[i].id }
        }
        return candidates[probabilities.count - 1].id
    }

    /// The best token when penalized logits overflowed: +∞ is the largest, −∞ the smallest.
    static func limit(of logits: [Float], allowed: [Bool]? = nil) -> Int {
        var best = -1
        for i in logits.indices where !logits[i].isNaN && (allowed.map { i < $0.count && $0[i] } ?? true) && (best < 0 || logits[i] > logits[best]) {
            best = i
        }
        return max(best, 0)
    }

    /// Candidates by descending logit (ties: lower id first); only the best `keep` when keep > 0,
    /// found in one pass instead of sorting the whole vocabulary.
    static func ranked(_ logits: [Float], keep: Int) -> [(id: Int, logit: Float)] {
        let before: ((id: Int, logit: Float), (id: Int, logit: Float)) -> Bool = {
            $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id)
        }
        guard keep > 0, keep < logits.count else {
            return logits.indices.map { (id: $0, logit: logits[$0]) }.sorted(by: before)
        }
        var top: [(id: Int, logit: Float)] = []
        top.reserveCapacity(keep + 1)
        for (id, logit) in logits.enumerated() {
            if top.count == keep, logit <= top[keep - 1].logit { continue }
            var i = top.count
            while i > 0, before((id, logit), top[i - 1]) { i -= 1 }
            top.insert((id, logit), at: i)
            if top.count > keep { top.removeLast() }
        }
        return top
    }

    public static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TernaryKernels
