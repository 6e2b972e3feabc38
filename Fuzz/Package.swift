// swift-tools-version:6.2
// libFuzzer harnesses for Coffer's parsers, kept out of the main package so its build is untouched.
// Built and run by scripts/fuzz: swift build --package-path Fuzz --sanitize fuzzer --sanitize address
//   -Xswiftc -parse-as-library
import PackageDescription

let harnesses: [(name: String, dependencies: [Target.Dependency])] = [
    ("FuzzDotenv", [.product(name: "CofferCore", package: "coffer")]),
    ("FuzzFernet", [.product(name: "CofferCrypto", package: "coffer")]),
    ("FuzzEnvelope", [.product(name: "CofferCrypto", package: "coffer")]),
    ("FuzzJWT", [.product(name: "CofferCrypto", package: "coffer")]),
    ("FuzzTransitCiphertext", [.product(name: "CofferCrypto", package: "coffer")]),
    ("FuzzKVPath", [.product(name: "CofferCore", package: "coffer")]),
    ("FuzzJSONRequest", [.product(name: "CofferServer", package: "coffer"), .product(name: "CofferCore", package: "coffer")]),
]

let package = Package(
    name: "CofferFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "coffer", path: "..")],
    targets: harnesses.map { .executableTarget(name: $0.name, dependencies: $0.dependencies) }
)
