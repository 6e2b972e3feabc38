import CofferKeys
import Synchronization
import Testing

/// The retry loop and deadline every remote key provider shares.
@Suite("Remote key provider calls: attempts and deadline")
struct ProviderBackoffTests {
    @Test("retries up to the attempts allowed, stops at a failure that would repeat, and returns the first answer")
    func attempts() async throws {
        let count = Mutex(0)
        let answer = try await ProviderBackoff.call(
            attempts: 4, within: .seconds(30), unanswered: KeyError(.providerUnavailable, "none")
        ) { _ -> ProviderAttempt<Int> in
            let n = count.withLock { count in
                count += 1
                return count
            }
            return n < 3 ? .retry(KeyError(.providerUnavailable, "busy \(n)")) : .done(n)
        }
        #expect(answer == 3)

        count.withLock { $0 = 0 }
        await #expect {
            try await ProviderBackoff.call(
                attempts: 4, within: .seconds(30), unanswered: KeyError(.providerUnavailable, "none")
            ) { _ -> ProviderAttempt<Int> in
                count.withLock { $0 += 1 }
                return .fail(KeyError(.unwrapFailed, "wrong key"))
            }
        } throws: { ($0 as? KeyError)?.code == .unwrapFailed }
        #expect(count.withLock { $0 } == 1)
    }

    @Test("every attempt gets only the time left, and none starts after the deadline")
    func deadline() async throws {
        let given = Mutex<[Duration]>([])
        let started = ContinuousClock.now
        await #expect {
            try await ProviderBackoff.call(
                attempts: 50, within: .milliseconds(600), unanswered: KeyError(.providerUnavailable, "none")
            ) { timeLeft -> ProviderAttempt<Int> in
                given.withLock { $0.append(timeLeft) }
                try? await Task.sleep(for: min(timeLeft, .milliseconds(150)))
                return .retry(KeyError(.providerUnavailable, "no answer"))
            }
        } throws: { ($0 as? KeyError)?.publicMessage == "no answer" }
        let took = ContinuousClock.now - started
        let times = given.withLock { $0 }
        // Without the deadline: 50 attempts of 150 ms and their pauses (up to 2 s each), well over 20 s. The bound
        // is loose because a loaded test process resumes sleepers late.
        #expect(took < .seconds(20), "\(took)")
        #expect(times.count < 50)
        #expect(times.allSatisfy { $0 <= .milliseconds(600) })
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 > $1 }, "each attempt is given less time: \(times)")
    }

    @Test("an exchange still running at its deadline is cancelled and reported as timed out")
    func within() async throws {
        let started = ContinuousClock.now
        await #expect(throws: ExchangeTimedOut.self) {
            try await ProviderBackoff.within(.milliseconds(200)) { () async throws -> Int in
                // A body that stalls (an answer whose bytes stop coming) ends only when cancelled.
                try await Task.sleep(for: .seconds(30))
                return 1
            }
        }
        // The body alone would take 30 s; a loaded test process resumes the deadline's sleeper late.
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(try await ProviderBackoff.within(.seconds(5)) { 7 } == 7)
    }
}
