// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Ternary",
    platforms: [.macOS(.v15)],  // Synchronization.Mutex
    products: [
        .library(
            name: "Ternary",
            targets: ["TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels", "TernaryGeneration", "TernaryConvert"]),
        .executable(name: "ternary", targets: ["TernaryCLI"]),
        .executable(name: "ternary-kernel-bench", targets: ["KernelBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // ISA-specific kernels (AVX2, AVX-VNNI, AVX-512 VNNI) and the worker pool. Each SIMD function
        // carries its own __attribute__((target(...))) and is chosen at run time, so no unsafeFlags.
        .target(name: "CTernaryKernels"),
        .target(name: "TernaryKernels", dependencies: ["CTernaryKernels"]),
        .target(name: "TernaryFormat", dependencies: ["CTernaryKernels", "TernaryKernels"]),
        .target(name: "TernaryTokenizer", dependencies: ["TernaryFormat"]),
        .target(name: "TernaryModels", dependencies: ["CTernaryKernels", "TernaryFormat", "TernaryKernels", "TernaryTokenizer"]),
        .target(name: "TernaryGeneration", dependencies: ["TernaryKernels", "TernaryModels", "TernaryTokenizer"]),
        .target(name: "TernaryConvert", dependencies: ["TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels"]),
        .executableTarget(
            name: "TernaryCLI",
            dependencies: [
                "TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels", "TernaryGeneration", "TernaryConvert",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "KernelBench", dependencies: ["TernaryKernels"]),
        .testTarget(
            name: "TernaryTests",
            dependencies: ["TernaryFormat", "TernaryKernels", "TernaryTokenizer", "TernaryModels", "TernaryGeneration", "TernaryConvert"],
            resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v5]
)
