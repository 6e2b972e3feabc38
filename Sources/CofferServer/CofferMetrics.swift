import CofferCore
import CofferKeys
import Foundation
import Hummingbird
import Prometheus
import Synchronization

/// The server's Prometheus metrics (`GET /metrics`), in a registry owned by the application (no global).
///
/// Seed 004's `secret_rotation_due_count`, `secret_access_failure`, `encryption_backend_health` and
/// `secret_audit_log_volume`, plus `http_requests_total{route,method,status}` and
/// `http_request_duration_seconds{route,method}`. Labels are route templates (never ids, values or tokens).
public final class CofferMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private let coffer: Coffer
    private let reportedFailures = Mutex(0)
    private let reportedVolume = Mutex<Int64>(0)
    private let dueGauge: Gauge
    private let overdueGauge: Gauge
    private let accessFailures: Counter
    private let auditVolume: Counter
    private let backendHealth: Gauge
    private let scheduledKeyRotations: Gauge
    private let webhookFailures: Gauge

    static let buckets: [Duration] = [
        .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
        .seconds(2.5),
    ]

    static func name(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public init(coffer: Coffer) {
        self.coffer = coffer
        dueGauge = registry.makeGauge(
            descriptor: Self.name("secret_rotation_due_count", "Live secrets due for rotation within 7 days."), labels: [])
        overdueGauge = registry.makeGauge(
            descriptor: Self.name("secret_rotation_overdue_count", "Live secrets past their rotation date."), labels: [])
        accessFailures = registry.makeCounter(
            descriptor: Self.name("secret_access_failure", "Failed or denied secret value accesses."), labels: [])
        auditVolume = registry.makeCounter(
            descriptor: Self.name("secret_audit_log_volume", "Audit records written."), labels: [])
        backendHealth = registry.makeGauge(
            descriptor: Self.name("encryption_backend_health", "1 when the key backend can wrap and unwrap, else 0."),
            labels: [("backend", coffer.keyProviderName)])
        scheduledKeyRotations = registry.makeGauge(
            descriptor: Self.name(
                "data_key_scheduled_rotations", "Data keys rotated by COFFER_KEY_ROTATION_DAYS since this process started."),
            labels: [])
        webhookFailures = registry.makeGauge(
            descriptor: Self.name(
                "secret_rotation_webhook_failures", "Rotation webhook calls that failed since this process started."),
            labels: [])
    }

    /// Counts one HTTP request under its route template.
    func record(route: String, method: String, status: Int, duration: Duration) {
        let key = RequestSeries(route: route, method: method, status: status)
        let series = requestSeries.withLock { $0[key] } ?? makeSeries(key)
        series.count.increment()
        series.duration.record(duration)
    }

    /// A request series' counter and histogram, looked up in the registry once (the registry builds and compares
    /// label strings under its lock on every lookup) and kept here. Routes are templates and statuses few, so
    /// this stays small.
    private func makeSeries(_ key: RequestSeries) -> (count: Counter, duration: DurationHistogram) {
        let series = (
            count: registry.makeCounter(
                descriptor: Self.name("http_requests_total", "HTTP requests by route, method and status."),
                labels: [("route", key.route), ("method", key.method), ("status", String(key.status))]),
            duration: registry.makeDurationHistogram(
                descriptor: Self.name("http_request_duration_seconds", "HTTP request latency by route and method."),
                labels: [("route", key.route), ("method", key.method)], buckets: Self.buckets)
        )
        requestSeries.withLock { $0[key] = series }
        return series
    }

    private struct RequestSeries: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private let requestSeries = Mutex<[RequestSeries: (count: Counter, duration: DurationHistogram)]>([:])

    /// Brings the domain gauges up to date and renders the registry in the Prometheus text format.
    func render() async -> String {
        let counts = coffer.scheduler.dueCounts
        scheduledKeyRotations.set(to: Double(coffer.scheduler.scheduledKeyRotations))
        webhookFailures.set(to: Double(coffer.scheduler.webhookFailures))
        dueGauge.set(to: Double(counts.due))
        overdueGauge.set(to: Double(counts.overdue))
        let healthy = await coffer.keyProviderIsHealthy()
        backendHealth.set(to: healthy ? 1.0 : 0.0)
        let failures = coffer.audit.accessFailures
        let failureDelta = reportedFailures.withLock { reported in
            defer { reported = failures }
            return failures - reported
        }
        if failureDelta > 0 { accessFailures.increment(by: Int64(failureDelta)) }
        if let volume = try? await coffer.audit.volume() {
            let delta = reportedVolume.withLock { reported in
                defer { reported = max(reported, volume) }
                return volume - reported
            }
            if delta > 0 { auditVolume.increment(by: delta) }
        }
        return registry.emitToString()
    }
}

/// `GET /metrics`: instance admins, or anyone with `COFFER_METRICS_PUBLIC=true`.
struct MetricsController {
    let metrics: CofferMetrics
    let admin: AdminService
    let isPublic: Bool

    func handle(_ request: Request, context: CofferRequestContext) async throws -> Response {
        if !isPublic && !context.isMetricsScraper {
            try await admin.requireAdmin(try context.requirePrincipal(), operation: "metrics", origin: context.origin)
        }
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: await metrics.render())))
    }
}
