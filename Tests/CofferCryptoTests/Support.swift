import Foundation
import Testing

extension Array where Element == UInt8 {
    /// Bytes from a hex string (white space ignored). Traps on malformed input: only literals are passed in.
    init(hex: String) {
        let digits = Array(hex.filter { !$0.isWhitespace }.utf8)
        precondition(digits.count % 2 == 0, "odd-length hex literal")
        func nibble(_ c: UInt8) -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: preconditionFailure("not a hex digit: \(c)")
            }
        }
        self = stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
    }
}

extension Sequence where Element == UInt8 {
    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

/// Random bytes for test inputs (not security relevant).
func randomBytes(_ count: Int) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: .min ... .max) }
}

/// Runs Python 3 as an independent oracle.
enum Python {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `script` with `python3 -c`, feeding `stdin`, and returns its standard output with surrounding white
    /// space trimmed. Throws a readable `Failure` if python3 or the `cryptography` module is missing, or if the
    /// script fails.
    static func run(script: String, stdin: String = "") throws -> String {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("coffer-py-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let inURL = scratch.appendingPathComponent("stdin")
        let outURL = scratch.appendingPathComponent("stdout")
        let errURL = scratch.appendingPathComponent("stderr")
        try Data(stdin.utf8).write(to: inURL)
        try Data().write(to: outURL)
        try Data().write(to: errURL)

        let input = try FileHandle(forReadingFrom: inURL)
        let output = try FileHandle(forWritingTo: outURL)
        let errors = try FileHandle(forWritingTo: errURL)
        defer {
            try? input.close()
            try? output.close()
            try? errors.close()
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do {
            try process.run()
        } catch {
            throw Failure(description: "cannot start /usr/bin/env python3: \(error)")
        }
        process.waitUntilExit()

        let stdout = String(decoding: try Data(contentsOf: outURL), as: UTF8.self)
        let stderr = String(decoding: try Data(contentsOf: errURL), as: UTF8.self)
        if process.terminationStatus == 127 {
            throw Failure(
                description: "python3 could not be run (not installed or not on PATH); the oracle tests need it. "
                    + stderr)
        }
        if stderr.contains("ModuleNotFoundError") && stderr.contains("cryptography") {
            throw Failure(
                description: "the Python module `cryptography` is missing; install it with "
                    + "`python3 -m pip install cryptography`. \(stderr)")
        }
        guard process.terminationStatus == 0 else {
            throw Failure(description: "python3 exited with \(process.terminationStatus): \(stderr)")
        }
        return stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a script that reads one JSON value from standard input and writes one JSON value to standard output.
    static func json<In: Encodable, Out: Decodable>(script: String, input: In, as: Out.Type = Out.self) throws -> Out {
        let stdin = String(decoding: try JSONEncoder().encode(input), as: UTF8.self)
        let stdout = try run(script: script, stdin: stdin)
        do {
            return try JSONDecoder().decode(Out.self, from: Data(stdout.utf8))
        } catch {
            throw Failure(description: "python3 printed something that is not the expected JSON: \(stdout)")
        }
    }
}
