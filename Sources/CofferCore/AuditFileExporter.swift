import CofferCrypto
import CofferStore
import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Copies committed audit records to a JSON-lines file (`COFFER_AUDIT_FILE`) for a SIEM.
///
/// Guarantees:
/// - Each record appears once, in sequence order, with its chain MAC (hex); a line never contains a value.
/// - Lines are written after the record is committed, and flushed to disk (fsync) per batch.
/// - After a restart it continues after the last sequence number already in the file.
/// - The file is created with mode 0600.
public final class AuditFileExporter: Service, Sendable {
    private let path: String
    private let database: any CofferDatabase
    private let interval: Duration
    private let logger: Logger

    public init(path: String, database: any CofferDatabase, interval: Duration = .milliseconds(250), logger: Logger) {
        self.path = path
        self.database = database
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    while try await self.exportPending() == 1000 {}
                } catch {
                    self.logger.error("audit file export failed; will retry", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: self.interval)
            }
        }
        _ = try? await exportPending()
    }

    /// Appends every committed record not yet in the file (at most 1000 per call); returns how many. The file's
    /// reads, writes and `fsync` run on a thread of their own (``BlockingWork``).
    @discardableResult
    public func exportPending() async throws -> Int {
        try await BlockingWork.run { try await self.exportPendingHere() }
    }

    private func exportPendingHere() async throws -> Int {
        let last = try lastExportedSequence()
        let records = try await database.read { try await AuditRepository().after(last, limit: 1000, on: $0) }
        guard !records.isEmpty else { return 0 }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var text = Data()
        for record in records {
            text.append(try encoder.encode(AuditLine(record)))
            text.append(0x0A)
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CofferError(.internalError, "Cannot open the audit file.") }
        defer { close(fd) }
        let written = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == text.count, fsync(fd) == 0 else { throw CofferError(.internalError, "Cannot write the audit file.") }
        return records.count
    }

    /// The sequence number on the file's last complete line, or 0.
    func lastExportedSequence() throws -> Int64 {
        guard let handle = FileHandle(forReadingAtPath: path) else { return 0 }
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        let tail = min(size, 65_536)
        try handle.seek(toOffset: size - tail)
        let data = try handle.readToEnd() ?? Data()
        let lines = data.split(separator: 0x0A)
        guard let lastLine = (data.last == 0x0A ? lines.last : lines.dropLast().last) else { return 0 }
        struct Seq: Decodable { let sequence: Int64 }
        return (try? JSONDecoder().decode(Seq.self, from: Data(lastLine)))?.sequence ?? 0
    }
}

/// One line of the audit file.
struct AuditLine: Encodable {
    let entry: AuditEntryView
    let mac: String

    init(_ record: AuditRecord) {
        entry = AuditEntryView(record)
        mac = Hex.encode(record.mac)
    }

    enum CodingKeys: String, CodingKey { case mac }

    func encode(to encoder: any Encoder) throws {
        try entry.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(mac, forKey: .mac)
    }
}
