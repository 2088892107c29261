import Foundation
import Testing
import TernaryFuzzTargets

/// Every committed fuzz input (seeds and the crashes fuzzing found, Fuzz/corpus/<target>/) runs
/// through its harness on every test run, without sanitizers: a fixed crash stays fixed.
@Suite("Fuzz corpus replay")
struct FuzzCorpusTests {
    static let corpus = TestPaths.root.appendingPathComponent("Fuzz/corpus")

    @Test("each fuzz target's committed inputs load or fail cleanly and keep its properties", arguments: FuzzTargets.all.map(\.name))
    func replay(_ name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        let directory = Self.corpus.appendingPathComponent(name)
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        #expect(files.contains { $0.hasPrefix("seed-") }, "no seeds in \(directory.path): run scripts/fuzz-seeds.py")
        for file in files {
            let data = try Data(contentsOf: directory.appendingPathComponent(file))
            #expect(throws: Never.self, "\(name)/\(file)") { try data.withUnsafeBytes { try target.run($0) } }
        }
    }

    @Test("every fuzz target has a corpus directory, and every corpus directory a target")
    func targetsAndCorpora() throws {
        let directories = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path).sorted()
        #expect(directories == FuzzTargets.all.map(\.name).sorted())
    }
}
