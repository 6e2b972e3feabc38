#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Random bytes from the kernel's generator, drawn in blocks.
///
/// Every nonce, IV, identifier, token and key Coffer makes comes from here (swift-crypto's own generator, which
/// `SymmetricKey(size:)` and `AES.GCM.Nonce()` use, makes one `getrandom` system call per 8 bytes: two per
/// nonce, half the cost of sealing 100 bytes — issue 6's profile).
///
/// Guarantees:
/// - The bytes are the kernel's (`getentropy`, which waits until the kernel's pool is seeded); nothing is
///   derived or stretched in user space.
/// - A byte is handed out once: the block is shared by all threads under a lock, and each byte is zeroed as
///   it is taken, so a later memory disclosure shows none of the bytes already used.
/// - Requests of 32 bytes or more (keys) bypass the block and go to the kernel directly.
/// - A forked child never reuses its parent's block: a fork handler marks it stale, and the child's first draw
///   refills it from the kernel.
public enum SecureRandom {
    /// Bytes fetched from the kernel at once (`getentropy`'s maximum).
    static let blockSize = 256
    /// Requests from this size on go straight to the kernel.
    static let directThreshold = 32

    private struct Block: @unchecked Sendable {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: SecureRandom.blockSize, alignment: 16)
        var offset = SecureRandom.blockSize
        var generation = 0
    }

    private static let block = Mutex(Block())
    /// Incremented in every child right after `fork()`; a block filled in another generation is discarded.
    private static let forkGeneration = Atomic<Int>(0)
    private static let forkHandler: Void = {
        _ = pthread_atfork(nil, nil) { SecureRandom.forkGeneration.add(1, ordering: .relaxed) }
    }()

    /// Fills `buffer` with random bytes.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        guard buffer.count > 0 else { return }
        guard buffer.count < directThreshold else { return kernelFill(buffer) }
        _ = forkHandler
        block.withLock { block in
            let generation = forkGeneration.load(ordering: .relaxed)
            if block.offset + buffer.count > blockSize || block.generation != generation {
                kernelFill(block.storage)
                block.offset = 0
                block.generation = generation
            }
            let taken = UnsafeMutableRawBufferPointer(rebasing: block.storage[block.offset..<(block.offset + buffer.count)])
            buffer.copyMemory(from: UnsafeRawBufferPointer(taken))
            taken.initializeMemory(as: UInt8.self, repeating: 0)
            block.offset += buffer.count
        }
    }

    /// `count` random bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        guard count > 0 else { return [] }
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(UnsafeMutableRawBufferPointer(buffer))
            initialized = count
        }
    }

    /// Straight from the kernel, 256 bytes a call. `getentropy` fails only for a bad buffer or a kernel
    /// without `getrandom` (before Linux 3.17); neither can be recovered from, and no key or nonce may be made
    /// without randomness.
    private static func kernelFill(_ buffer: UnsafeMutableRawBufferPointer) {
        var start = 0
        while start < buffer.count {
            let chunk = min(blockSize, buffer.count - start)
            guard getentropy(buffer.baseAddress! + start, chunk) == 0 else {
                fatalError("getentropy failed (errno \(errno)): the kernel gives no random bytes")
            }
            start += chunk
        }
    }
}
