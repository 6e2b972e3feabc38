// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// Tests import what they use less strictly than library code.
let testSettings: [SwiftSetting] = [.enableUpcomingFeature("ExistentialAny")]

let package = Package(
    name: "coffer",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "coffer", targets: ["coffer"]),
        // Libraries for the benchmark package in Benchmarks/, which depends on this one by path.
        .library(name: "CofferCrypto", targets: ["CofferCrypto"]),
        .library(name: "CofferCore", targets: ["CofferCore"]),
        .library(name: "CofferKeys", targets: ["CofferKeys"]),
        .library(name: "CofferStore", targets: ["CofferStore"]),
        .library(name: "CofferJSON", targets: ["CofferJSON"]),
        .library(name: "CofferServer", targets: ["CofferServer"]),
        // Encrypted model fields for Swift applications (seed 003), Fernet-compatible with Python's cryptography.
        .library(name: "CofferFields", targets: ["CofferFields"]),
        // A typed async client for Coffer's API (login or service token, a read cache, transit); the CLI is built on it.
        .library(name: "CofferClient", targets: ["CofferClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // One trait, named explicitly: with the defaults SwiftPM reorders trait flags and rebuilds Hummingbird often.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: ["ConfigurationSupport"]),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/sqlite-nio.git", from: "1.13.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    ],
    targets: [
        // Pure cryptography, no I/O: envelopes, KDFs, key generation, HS256 tokens.
        .target(
            name: "CofferCrypto",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CryptoExtras", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        // JSON written straight into bytes: the canonical text of stored JSON and the hot API responses.
        .target(name: "CofferJSON", swiftSettings: swiftSettings),
        // Encrypted<Value> model fields: no server, only Fernet keys (and swift-metrics for failures).
        .target(
            name: "CofferFields",
            dependencies: ["CofferCrypto", .product(name: "Metrics", package: "swift-metrics")],
            swiftSettings: swiftSettings
        ),
        // The client library: AsyncHTTPClient and Foundation only, no server code.
        .target(
            name: "CofferClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Key providers that wrap and unwrap data keys; master-key loading.
        .target(
            name: "CofferKeys",
            dependencies: ["CofferCrypto", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        // AWS KMS as a key provider, with Signature Version 4 written here (no AWS SDK for Swift is at hand).
        .target(
            name: "CofferKeysAWS",
            dependencies: [
                "CofferKeys", "CofferCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Vault's (or OpenBao's, or Coffer's own) transit engine as a key provider.
        .target(
            name: "CofferKeysVault",
            dependencies: [
                "CofferKeys", "CofferCrypto",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        // The one call into the kernel that Swift cannot make itself (prctl is variadic).
        .target(name: "CCofferProcess"),
        // The one call into SQLite that Swift cannot make itself (a variadic C function).
        .target(name: "CCofferSQLite", dependencies: [.product(name: "SQLiteNIO", package: "sqlite-nio")]),
        // Persistence over SQLKit; the only module that speaks SQL.
        .target(
            name: "CofferStore",
            dependencies: [
                "CCofferSQLite",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The domain: secrets, workspaces, roles, users, audit, keyring.
        .target(
            name: "CofferCore",
            dependencies: [
                "CofferCrypto", "CofferKeys", "CofferStore", "CofferJSON",
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP API on Hummingbird 2.
        .target(
            name: "CofferServer",
            dependencies: [
                "CCofferProcess", "CofferCore", "CofferKeys", "CofferCrypto", "CofferStore", "CofferJSON", "CofferKeysAWS", "CofferKeysVault",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            // The web UI, compiled into the binary as byte arrays (no files to ship beside it).
            resources: [.embedInCode("UI/Assets")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "coffer",
            dependencies: [
                "CofferServer", "CofferCore", "CofferCrypto", "CofferKeys", "CofferStore", "CofferClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        // The store every test runs on (SQLite, or PostgreSQL when scripts/test provides a server).
        .target(
            name: "CofferTestSupport",
            dependencies: ["CofferStore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/CofferTestSupport",
            swiftSettings: testSettings
        ),
        .testTarget(name: "CofferCryptoTests", dependencies: ["CofferCrypto", "CofferTestSupport"], swiftSettings: testSettings),
        .testTarget(
            name: "CofferFieldsTests",
            dependencies: [
                "CofferFields", "CofferCrypto", "CofferTestSupport",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "SQLiteNIO", package: "sqlite-nio"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "CofferKeysAWSTests",
            dependencies: [
                "CofferKeysAWS", "CofferKeys", "CofferCrypto", "CofferTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(name: "CofferKeysTests", dependencies: ["CofferKeys", "CofferCrypto"], swiftSettings: testSettings),
        .testTarget(
            name: "CofferStoreTests",
            dependencies: ["CofferStore", "CofferTestSupport", .product(name: "SQLKit", package: "sql-kit")],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "CofferCoreTests",
            dependencies: [
                "CofferCore", "CofferStore", "CofferKeys", "CofferCrypto", "CofferTestSupport",
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: testSettings
        ),
        .testTarget(
            name: "CofferServerTests",
            dependencies: [
                "CofferServer", "CofferCore", "CofferCrypto", "CofferKeys", "CofferStore", "CofferJSON", "CofferTestSupport",
                "CofferKeysVault", "CofferClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: testSettings
        ),
    ]
)
