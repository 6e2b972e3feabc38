import Foundation

/// How the CLI writes: results on stdout (a table, or JSON with `--json`), messages on stderr.
enum Output {
    static func note(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Pretty, key-sorted JSON of an API answer (or any JSON-compatible value).
    static func json(_ data: Data) {
        if let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]),
            let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes, .fragmentsAllowed])
        {
            print(String(decoding: pretty, as: UTF8.self) + "\n")
        } else {
            print(String(decoding: data, as: UTF8.self) + "\n")
        }
    }

    static func json(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self) + "\n")
    }

    /// Left-aligned columns separated by two spaces.
    static func table(_ headers: [String], _ rows: [[String]]) {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }
        var out = line(headers) + "\n"
        for row in rows { out += line(row) + "\n" }
        print(out)
    }

    static func date(_ date: Date?) -> String {
        guard let date else { return "-" }
        return ISO8601DateFormatter().string(from: date)
    }
}

extension Encodable {
    /// JSON bytes for a request body.
    func jsonBody() throws -> Data { try JSONEncoder().encode(self) }
}

/// Reads all of standard input as bytes.
func readStandardInput() -> Data { FileHandle.standardInput.readDataToEndOfFile() }
