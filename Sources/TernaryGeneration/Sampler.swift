
/// Picks the next token from logits: repetition penalty → temperature → top-k → top-p → min-p.
public struct Sampler {
    public let options: SamplingOptions
    private var random: SplitMix64

    public init(options: SamplingOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed)
    }

    public mutating func sample(_ logits: [Float], history: [Int]) -> Int {
        var logits = logits
        if options.repetitionPenalty != 1 {
            // As in llama.cpp/CTRL: positive logits are divided, negative ones multiplied.
            for id in Set(history.suffix(options.repetitionWindow)) where id < logits.count {
                logits[id] = logits[id] > 0 ? logits[id] / options.repetitionPenalty : logits[id] * options.repetitionPenalty
            }
        }
        if options.temperature == 0 { return Self.argmax(logits) }
        var candidates = logits.indices.map { (id: $0, logit: logits[$0] / options.temperature) }
        candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if options.topK > 0, candidates.count > options.topK { candidates.removeLast(candidates.count - options.topK) }
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

    public static func argmax(_ values: [Float]) -> Int {
        var best = 0
        for i in values.indices where values[i] > values[best] { best = i }
        return best
    }
}

import Foundation
import TernaryKernels
