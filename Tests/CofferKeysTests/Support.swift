import CofferCrypto
import Crypto
import Foundation
import Logging
import Synchronization
import Testing

@testable import CofferKeys

/// A fresh folder under the system temp directory, removed when the body returns or throws.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-keys-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// Collects every log message and its metadata so a test can check what was logged.
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined(separator: "\n") }

    func logger() -> Logger {
        var logger = Logger(label: "coffer-keys-test") { _ in Handler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    fileprivate func append(_ line: String) { lines.withLock { $0.append(line) } }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append("\(event.level) \(event.message) \(merged)")
        }
    }
}

extension SymmetricKey {
    var bytes: [UInt8] { withUnsafeBytes { Array($0) } }
}

extension Sequence where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

/// All the text forms a key might take, so tests can check that none of them leaks.
func textForms(of bytes: [UInt8]) -> [String] {
    let standard = Base64.encode(bytes)
    let urlSafe = Base64.encode(bytes, urlSafe: true)
    return [
        standard, urlSafe, Base64.encode(bytes, padded: false), Base64.encode(bytes, urlSafe: true, padded: false),
        bytes.hex, String(standard.prefix(16)), String(urlSafe.prefix(16)),
    ]
}

func posixPermissions(_ path: String) throws -> Int? {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue
}
