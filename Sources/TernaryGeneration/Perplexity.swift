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
import TernaryModels

/// Perplexity over non-overlapping chunks (the llama.cpp-style protocol in the README):
/// each chunk of `contextSize` tokens scores its positions 1…N−1.
public struct PerplexityResult: Sendable {
    public let perplexity: Double
    /// Standard error of the perplexity (delta method on the mean NLL).
    public let standardError: Double
    public let tokensScored: Int
    public let chunks: Int
}

public enum PerplexityEvaluator {
    /// `progress(done, total)` is called after each chunk.
    public static func evaluate(
        model: any LanguageModel, context: InferenceContext, memoryOptions: MemoryOptions = MemoryOptions(), tokens: [Int],
        contextSize: Int, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> PerplexityResult {
        guard contextSize >= 2, contextSize <= model.contextLength else {
            throw GenerationError.badOption(option: "--ctx", value: "\(contextSize)", expected: "an integer in 2...\(model.contextLength) (the model's context)")
        }
        let chunks = tokens.count / contextSize
        guard chunks > 0 else { throw GenerationError.notEnoughTokens(have: tokens.count, needed: contextSize) }
        var nlls: [Double] = []
        nlls.reserveCapacity(chunks * (contextSize - 1))
        let vocabulary = model.vocabularySize
        for chunk in 0..<chunks {
            let ids = Array(tokens[(chunk * contextSize)..<((chunk + 1) * contextSize)])
            let memory = model.makeMemory(memoryOptions)
            let logits = try model.forward(ids, memory: memory, context: context, allLogits: true)
            for position in 0..<(contextSize - 1) {
                let row = position * vocabulary
                var maxLogit = -Double.infinity
                for v in 0..<vocabulary { maxLogit = max(maxLogit, Double(logits[row + v])) }
                var sum = 0.0
                for v in 0..<vocabulary { sum += exp(Double(logits[row + v]) - maxLogit) }
                let target = ids[position + 1]
                nlls.append(maxLogit + log(sum) - Double(logits[row + target]))
            }
            progress(chunk + 1, chunks)
        }
        let n = Double(nlls.count)
        let mean = nlls.reduce(0, +) / n
        let variance = nlls.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(n - 1, 1)
        let ppl = exp(mean)
        return PerplexityResult(perplexity: ppl, standardError: ppl * (variance / n).squareRoot(), tokensScored: nlls.count, chunks: chunks)
    }
}
