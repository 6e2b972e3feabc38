import CofferStore
import SQLKit

/// The database as the services use it: the store's errors come out as ``CofferError``s, so nothing above Core
/// sees a `StoreError` (an unreachable database is `store_unavailable`, a full disk `insufficient_storage`, a
/// uniqueness violation `conflict`).
struct DomainDatabase: CofferDatabase {
    let store: any CofferDatabase

    var dialect: SQLDialectKind { store.dialect }
    var writeExecutor: (any TaskExecutor)? { store.writeExecutor }

    func read<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do { return try await store.read(body) } catch { throw Self.translate(error) }
    }

    func write<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        do { return try await store.write(body) } catch { throw Self.translate(error) }
    }

    func exclusively<T: Sendable>(_ task: BackgroundTask, _ body: @Sendable () async throws -> T) async throws -> T? {
        do { return try await store.exclusively(task, body) } catch { throw Self.translate(error) }
    }

    func compact() async throws {
        do { try await store.compact() } catch { throw Self.translate(error) }
    }

    func close() async { await store.close() }

    /// Store errors as domain errors; every other error as it is.
    static func translate(_ error: any Error) -> any Error {
        guard let error = error as? StoreError else { return error }
        switch error.code {
        case .unavailable: return CofferError(.storeUnavailable, "The database is unavailable; try again shortly.")
        case .conflict: return CofferError(.conflict, "That record already exists.")
        case .storageFull:
            return CofferError(.insufficientStorage, "The server's storage is full; nothing was written. Retry once space is freed.")
        default: return CofferError(.internalError, "A database operation failed.")
        }
    }
}
