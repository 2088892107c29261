// Kernel microbenchmark: decode GEMV and prefill GEMM throughput of every kernel path on
// GPT-2 XL's largest shapes, and activation quantization per token, single thread. Run: swift run -c release ternary-kernel-bench
// (TOKENS=n for the GEMM's token count, default 16, a decode batch; more than 16 is a prefill, which
// runs the unpacked-panel GEMM; COPIES=n weight copies streamed, default 16)
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import TernaryKernels

func seconds(_ body: () -> Void) -> Double {
    let start = Timing.now()
    body()
    return Timing.seconds(since: start)
}

func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

var random = SplitMix64(seed: 7)
let shapes = [(rows: 6400, k: 1600), (rows: 1600, k: 6400)]
let tokens = Int(ProcessInfo.processInfo.environment["TOKENS"] ?? "16")!
print("| kernel | shape (rows × k) | GEMV GB/s of weights | GEMM \(tokens) tokens GMAC/s (hot) | (from memory) |")
print("| --- | --- | ---: | ---: | ---: |")
for (rows, k) in shapes {
    let rowBytes = TernaryLayout.rowBytes(k)
    // Several copies so the GEMV streams from memory, not cache.
    let copies = Int(ProcessInfo.processInfo.environment["COPIES"] ?? "16")!
    let weights = (0..<(rows * rowBytes * copies)).map { _ in UInt8.random(in: 0...255, using: &random) & 0x55 }
    // Activations 64-byte aligned, as the engine allocates them (XOFFSET=n shifts them by n bytes).
    let xOffset = Int(ProcessInfo.processInfo.environment["XOFFSET"] ?? "0")!
    let xCount = TernaryLayout.paddedLength(k) * tokens
    let xStorage = UnsafeMutableRawPointer.allocate(byteCount: xCount + 64, alignment: 64)
    defer { xStorage.deallocate() }
    let x = UnsafeMutablePointer<Int8>((xStorage + xOffset).bindMemory(to: Int8.self, capacity: xCount))
    for i in 0..<xCount { x[i] = Int8.random(in: -127...127, using: &random) }
    let sums = [Int32](repeating: 0, count: tokens)
    var out = [Int32](repeating: 0, count: rows * tokens)
    for isa in KernelISA.available where isa != .scalar {
        let kernels = TernaryKernels(isa: isa)
        let gemv = median((0..<5).map { _ in
            seconds {
                for c in 0..<copies {
                    weights.withUnsafeBytes { w in
                        kernels.matmul(for: .ternary).gemv(w.baseAddress! + c * rows * rowBytes, rowBytes, rows, x, 0, &out)
                    }
                }
            }
        })
        let gemm = median((0..<3).map { _ in
            seconds {
                weights.withUnsafeBytes { w in
                    kernels.matmul(for: .ternary).gemm(w.baseAddress!, rowBytes, rows, x, TernaryLayout.paddedLength(k), sums, tokens, &out, rows)
                }
            }
        })
        // The decode-batch case: every copy once, so the weights come from memory as in a forward.
        let cold = median((0..<3).map { _ in
            seconds {
                for c in 0..<copies {
                    weights.withUnsafeBytes { w in
                        kernels.matmul(for: .ternary).gemm(w.baseAddress! + c * rows * rowBytes, rowBytes, rows, x, TernaryLayout.paddedLength(k),
                                                           sums, tokens, &out, rows)
                    }
                }
            }
        })
        let gemvRate = Double(rows * rowBytes * copies) / gemv / 1e9, gemmRate = Double(rows * k * tokens) / gemm / 1e9
        let coldRate = Double(rows * k * tokens * copies) / cold / 1e9
        print("| \(isa) | \(rows) × \(k) | \(gemvRate.fixed(1)) | \(gemmRate.fixed(1)) | \(coldRate.fixed(1)) |")
    }
}

// Activation quantization (once per token and linear input): nanoseconds per token.
print("")
print("| kernel | activation quantization, ns per token of 1600 | of 6400 |")
print("| --- | ---: | ---: |")
for isa in KernelISA.available where isa != .scalar {
    let kernels = TernaryKernels(isa: isa)
    let perToken = [1600, 6400].map { n in
        let x = (0..<n).map { _ in Float.random(in: -10...10, using: &random) }
        var q = [Int8](repeating: 0, count: TernaryLayout.paddedLength(n))
        let calls = 20_000
        return median((0..<5).map { _ in
            seconds { for _ in 0..<calls { _ = kernels.quantize(x, count: n, into: &q, padded: q.count) } }
        }) / Double(calls) * 1e9
    }
    print("| \(isa) | \(perToken[0].fixed(0)) | \(perToken[1].fixed(0)) |")
}
