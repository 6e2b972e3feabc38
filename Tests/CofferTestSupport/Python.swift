import Foundation

/// Python as an oracle: `cryptography`, `botocore` and the other reference implementations the tests compare
/// against, run as `python3 -c`.
public enum Python {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `script` with `python3 -c`, feeding `stdin`, and returns its standard output with surrounding white
    /// space trimmed. Throws a readable `Failure` if python3 or the `cryptography` module is missing, or if the
    /// script fails.
    public static func run(script: String, stdin: String = "", arguments: [String] = []) throws -> String {
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
        process.arguments = ["python3", "-c", script] + arguments
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
    public static func json<In: Encodable, Out: Decodable>(script: String, input: In, as: Out.Type = Out.self) throws -> Out {
        let stdin = String(decoding: try JSONEncoder().encode(input), as: UTF8.self)
        let stdout = try run(script: script, stdin: stdin)
        do {
            return try JSONDecoder().decode(Out.self, from: Data(stdout.utf8))
        } catch {
            throw Failure(description: "python3 printed something that is not the expected JSON: \(stdout)")
        }
    }
}
