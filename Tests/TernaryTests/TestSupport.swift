import Foundation
@testable import TernaryModels

enum TestPaths {
    /// The repository root (this file is Tests/TernaryTests/TestSupport.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/TernaryTests/Fixtures")
    /// ../shared/data beside the repository (never copied into it).
    static let sharedData = root.deletingLastPathComponent().appendingPathComponent("shared/data")
    static let gpt2Tokenizer = sharedData.appendingPathComponent("gpt2").path

    /// One scratch directory per test process, removed when the process exits, so runs leave nothing in /tmp.
    private static let processDirectory: URL = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ternary-tests-\(getpid())")
        try? FileManager.default.removeItem(at: dir)
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: TestPaths.processDirectory) }
        return dir
    }()

    /// A fresh directory of its own for one test, inside the process's scratch directory.
    static func temporaryDirectory() -> URL {
        let dir = processDirectory.appendingPathComponent(UUID().uuidString)
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// A model with the context and memory options a test runs it with.
struct ModelRunner {
    let model: any LanguageModel
    let context: InferenceContext
    let memoryOptions: MemoryOptions

    var vocabularySize: Int { model.vocabularySize }
    func makeMemory() -> SequenceMemory { model.makeMemory(memoryOptions) }
    func forward(_ ids: [Int], memory: SequenceMemory, allLogits: Bool) throws -> [Float] {
        try model.forward(ids, memory: memory, context: context, allLogits: allLogits)
    }
}
