import Foundation

enum TestPaths {
    /// The repository root (this file is Tests/TernaryTests/TestSupport.swift).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = root.appendingPathComponent("Tests/TernaryTests/Fixtures")
    /// ../shared/data beside the repository (never copied into it).
    static let sharedData = root.deletingLastPathComponent().appendingPathComponent("shared/data")
    static let gpt2Tokenizer = sharedData.appendingPathComponent("gpt2").path

    static func temporaryDirectory() -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ternary-tests-\(UUID().uuidString)")
        try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}
