import ArgumentParser
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
import TernaryConvert
import TernaryFormat
import TernaryGeneration
import TernaryKernels
import TernaryModels

/// Options every model-running command shares.
struct ModelOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Packed model file (.safetensors from `ternary pack`).")
    var model: String?

    @Option(name: .shortAndLong, parsing: .unconditional, help: "Threads (default: all cores; more than the cores is capped to them).")
    var threads: Int?

    @Option(help: "Kernel path: \(KernelISA.allCases.map(\.rawValue).joined(separator: ", ")) (default: the fastest this CPU has).")
    var kernel: String?

    @Option(name: .customLong("kv-cache"), help: "KV cache precision: f16 (default, as llama.cpp), q8 (int8 + a scale per head and position: half of f16's memory), or f32 (exact float32 attention).")
    var kvCache: String = "f16"

    @Option(name: .customLong("ubatch"), parsing: .unconditional, help: "Micro-batch: the most prompt tokens one forward step processes; longer prompts run in steps of this size.")
    var microBatch: Int = InferenceContext.defaultMicroBatch

    func validate() throws {
        if let threads, threads < 1 || threads > 1024 {
            throw ValidationError("--threads \(threads) is invalid: expected 1...1024")
        }
        if microBatch < 1 || microBatch > 4096 {
            throw ValidationError("--ubatch \(microBatch) is invalid: expected 1...4096")
        }
        guard KVPrecision(rawValue: kvCache) != nil else {
            throw ValidationError("--kv-cache \(kvCache) is unknown: expected one of \(KVPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let kernel {
            guard let isa = KernelISA(rawValue: kernel) else {
                throw ValidationError("--kernel \(kernel) is unknown: expected one of \(KernelISA.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard KernelISA.available.contains(isa) else {
                throw ValidationError("--kernel \(kernel) is not supported by this CPU (available: \(KernelISA.available.map(\.rawValue).joined(separator: ", ")))")
            }
        }
    }

    /// Threads and scratch for the forward passes.
    func context() -> InferenceContext {
        InferenceContext(threads: cappedThreads(threads ?? WorkerPool.coreCount), microBatch: microBatch)
    }

    /// How sequences' memories are made.
    var memoryOptions: MemoryOptions { MemoryOptions(kvPrecision: KVPrecision(rawValue: kvCache) ?? .f16) }

    var isa: KernelISA { kernel.flatMap(KernelISA.init(rawValue:)) ?? .best }

    /// The model path: -m, else $TERNARY_MODEL, else the small model shipped in the repository.
    func resolvedPath() throws -> String {
        if let model { return model }
        if let env = ProcessInfo.processInfo.environment["TERNARY_MODEL"], !env.isEmpty { return env }
        if let shipped = DefaultModel.locate() { return shipped }
        throw ValidationError("no model given: pass -m FILE (a file made by `ternary pack`), or set TERNARY_MODEL")
    }

    func load() throws -> any LanguageModel {
        try ModelLoader.load(path: try resolvedPath(), isa: isa)
    }

    /// The model and a generator running it with these options.
    func generator() throws -> Generator {
        try Generator(model: try load(), context: context(), memoryOptions: memoryOptions)
    }
}

/// The model that ships in the repository (models/), found from the working directory or from
/// the executable's location inside .build/.
enum DefaultModel {
    static let relativePath = "models/shakespeare-ternary.safetensors"

    static func locate() -> String? {
        var candidates = [FileManager.default.currentDirectoryPath]
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.path)
            dir = dir.deletingLastPathComponent()
        }
        for base in candidates {
            let path = base + "/" + relativePath
            if FileManager.default.fileExists(atPath: path) { return path }
        }
        return nil
    }
}

/// A one-line progress bar on standard error.
struct ProgressBar {
    let label: String
    private var lastDrawn = -1
    /// A bar is drawn and its line not yet ended (an error must not print on it).
    nonisolated(unsafe) private static var lineOpen = false

    init(label: String) { self.label = label }

    mutating func update(_ done: Int, _ total: Int, _ note: String = "") {
        let width = 30
        let filled = total > 0 ? done * width / total : width
        guard filled != lastDrawn || done == total else { return }
        lastDrawn = filled
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        fputs("\r\(label) \(bar) \(done)/\(total) \(note)\u{1B}[K", stderr)
        Self.lineOpen = done != total
        if done == total { fputs("\n", stderr) }
    }

    /// Ends an unfinished bar's line, so what is printed next starts on its own.
    static func endLine() {
        if lineOpen { fputs("\n", stderr) }
        lineOpen = false
    }
}

func printError(_ message: String) {
    ProgressBar.endLine()
    fputs(message + "\n", stderr)
}

/// More threads than cores only makes the workers take turns (each parallel step waits for every
/// one of them): the count is capped to the cores, with a note.
func cappedThreads(_ requested: Int) -> Int {
    let cores = WorkerPool.coreCount
    guard requested > cores else { return requested }
    printError("note: --threads \(requested) is more than this machine's \(cores) cores; using \(cores)")
    return cores
}

/// A text file (or standard input for "-"), checked to be UTF-8: invalid bytes are an error naming
/// their offset, unless `lossy`, which replaces them with U+FFFD and says how many it replaced.
func readTextFile(_ path: String, lossy: Bool = false, option: String = "--file") throws -> String {
    let bytes: [UInt8]
    if path == "-" {
        bytes = readStandardInput()
    } else {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ValidationError("\(option) \(path) does not exist") }
        guard !isDirectory else { throw ValidationError("\(option) \(path) is a directory; pass a text file") }
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        bytes = [UInt8](data)
    }
    if let text = String(validating: bytes, as: UTF8.self) { return text }
    let invalid = UTF8Check.invalidBytes(bytes)
    guard lossy else {
        throw ValidationError("\(option) \(path == "-" ? "(standard input)" : path) is not UTF-8 text: byte \(invalid.first) (0x\(String(bytes[invalid.first], radix: 16))) starts an invalid sequence (\(invalid.count) invalid bytes in all); pass --lossy to replace them with U+FFFD")
    }
    printError("note: replaced \(invalid.count) bytes that are not UTF-8 with U+FFFD (the first at byte \(invalid.first))")
    return String(decoding: bytes, as: UTF8.self)
}

/// Where a byte sequence stops being UTF-8.
enum UTF8Check {
    /// The first invalid byte's offset and how many bytes are invalid in all.
    static func invalidBytes(_ bytes: [UInt8]) -> (first: Int, count: Int) {
        var first = -1, count = 0, i = 0
        while i < bytes.count {
            let length = sequenceLength(bytes, at: i)
            if length == 0 {
                if first < 0 { first = i }
                count += 1
                i += 1
            } else {
                i += length
            }
        }
        return (max(first, 0), count)
    }

    /// The length of the valid UTF-8 sequence at `i`, or 0.
    static func sequenceLength(_ b: [UInt8], at i: Int) -> Int {
        let lead = b[i]
        let (length, low, high): (Int, UInt8, UInt8)
        switch lead {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: (length, low, high) = (2, 0x80, 0xBF)
        case 0xE0: (length, low, high) = (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, low, high) = (3, 0x80, 0xBF)
        case 0xED: (length, low, high) = (3, 0x80, 0x9F)
        case 0xF0: (length, low, high) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (length, low, high) = (4, 0x80, 0xBF)
        case 0xF4: (length, low, high) = (4, 0x80, 0x8F)
        default: return 0
        }
        guard i + length <= b.count, b[i + 1] >= low, b[i + 1] <= high else { return 0 }
        for k in 2..<max(2, length) where b[i + k] & 0xC0 != 0x80 { return 0 }
        return length
    }
}

func formatBytes(_ bytes: Int) -> String {
    let units = ["B", "KB", "MB", "GB"]
    var value = Double(bytes), unit = 0
    while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
    return unit == 0 ? "\(bytes) B" : "\(value.fixed(1)) \(units[unit])"
}

extension String {
    /// Padded with spaces, or cut, to exactly `width` characters (for aligned columns).
    func padded(to width: Int) -> String {
        count >= width ? String(prefix(width)) : self + String(repeating: " ", count: width - count)
    }
}

/// A --weights / --embeddings value.
func formatOption(_ option: String, _ value: String) throws -> WeightFormat {
    guard let format = WeightFormat(rawValue: value) else {
        throw ValidationError("\(option) \(value) is unknown: expected one of \(WeightFormat.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return format
}

/// Everything on standard input.
func readStandardInput() -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
        if n > 0 { bytes += chunk[0..<n] } else if n == 0 || errno != EINTR { break }
    }
    return bytes
}
