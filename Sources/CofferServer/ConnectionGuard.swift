import HummingbirdCore
import NIOCore
import NIOHTTP1

/// Deadlines that keep clients which send nothing, send slowly or never read from holding a connection.
///
/// Guarantees, per connection:
/// - From the moment it opens, or its first byte after a completed exchange, the request head must arrive within
///   `header` (silent connections and slowloris are closed).
/// - From the head, the body must keep arriving: no gap between its bytes longer than `body` (a slow but steady
///   upload of a large import is not cut off).
/// - Between requests, a keep-alive connection may stay silent for `idle`.
/// - While the server has response bytes the client does not take (the socket stays unwritable), the client has
///   `write` to start reading again.
/// Time spent by the server handling a request (head and body received, response not finished) is never limited
/// here. When a deadline passes the connection is closed: there is no one to answer.
struct ConnectionDeadlines: Sendable {
    var header: TimeAmount = .seconds(10)
    var body: TimeAmount = .seconds(30)
    var idle: TimeAmount = .seconds(60)
    var write: TimeAmount = .seconds(30)
}

/// Where a connection is, shared by the handler before the HTTP parser (which sees bytes arrive) and the one after
/// it (which sees requests and responses).
final class ConnectionGuard {
    enum Phase {
        /// No request in progress: waiting for the first byte of the next one.
        case idle
        /// Bytes of a request head are arriving.
        case head
        /// The head is in; its body is arriving.
        case body
        /// The request is in; the server is answering.
        case handling
    }

    let deadlines: ConnectionDeadlines
    private(set) var phase = Phase.head
    /// When the connection is closed unless its phase moves on first; `.distantFuture` while the server handles a
    /// request.
    private var deadline = NIODeadline.distantFuture
    /// The one scheduled check of ``deadline`` (see ``check(on:)``).
    private var timer: Scheduled<Void>?
    private var writeTimer: Scheduled<Void>?
    /// The shortest of the deadlines that ``arm(_:on:)`` sets.
    private let shortest: TimeAmount
    /// Requests received and responses finished: with pipelining, the connection is idle only when they match.
    private var requests = 0
    private var responses = 0

    init(deadlines: ConnectionDeadlines) {
        self.deadlines = deadlines
        shortest = min(deadlines.header, deadlines.body, deadlines.idle)
    }

    private func arm(_ delay: TimeAmount, on channel: any Channel) {
        deadline = .now() + delay
        if timer == nil { check(on: channel) }
    }

    /// Schedules the check of ``deadline``: past it, the check closes the connection; before it, the check schedules
    /// itself again; while the server handles a request, it stops until the next ``arm(_:on:)``. It runs at the
    /// deadline, or ``shortest`` from now if that is sooner: every deadline set before it runs is at least that far
    /// away, so a check never has to move earlier, and a keep-alive request schedules and cancels nothing.
    private func check(on channel: any Channel) {
        let time = min(deadline, .now() + shortest)
        timer = channel.eventLoop.assumeIsolated().scheduleTask(deadline: time) { [weak self, weak channel] in
            guard let self, let channel else { return }
            self.timer = nil
            if self.deadline <= .now() {
                channel.close(promise: nil)
            } else if self.deadline != .distantFuture {
                self.check(on: channel)
            }
        }
    }

    private func move(to phase: Phase, channel: any Channel) {
        self.phase = phase
        switch phase {
        case .idle: arm(deadlines.idle, on: channel)
        case .head: arm(deadlines.header, on: channel)
        case .body: arm(deadlines.body, on: channel)
        case .handling: deadline = .distantFuture
        }
    }

    func opened(_ channel: any Channel) { move(to: .head, channel: channel) }

    func bytesArrived(_ channel: any Channel) {
        switch phase {
        case .idle: move(to: .head, channel: channel)
        case .body: arm(deadlines.body, on: channel)
        case .head, .handling: break
        }
    }

    func headArrived(_ channel: any Channel) {
        requests += 1
        move(to: .body, channel: channel)
    }

    /// The request is in; if its response was already sent (an early 401, 404 or 413), the connection is idle.
    func requestEnded(_ channel: any Channel) {
        move(to: responses >= requests ? .idle : .handling, channel: channel)
    }

    func responseEnded(_ channel: any Channel) {
        responses += 1
        if responses >= requests, phase == .handling { move(to: .idle, channel: channel) }
    }

    func writabilityChanged(_ channel: any Channel) {
        if channel.isWritable {
            writeTimer?.cancel()
            writeTimer = nil
        } else if writeTimer == nil {
            writeTimer = channel.eventLoop.scheduleTask(in: deadlines.write) { [weak channel] in
                channel?.close(promise: nil)
            }
        }
    }

    func closed() {
        timer?.cancel()
        writeTimer?.cancel()
        timer = nil
        writeTimer = nil
    }

    /// Before the parser: notices bytes arriving, and the socket's writability.
    final class Bytes: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        typealias InboundOut = ByteBuffer
        let state: ConnectionGuard

        init(state: ConnectionGuard) { self.state = state }

        func handlerAdded(context: ChannelHandlerContext) {
            if context.channel.isActive { state.opened(context.channel) }
        }

        func channelActive(context: ChannelHandlerContext) {
            state.opened(context.channel)
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            state.bytesArrived(context.channel)
            context.fireChannelRead(data)
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            state.writabilityChanged(context.channel)
            context.fireChannelWritabilityChanged()
        }

        func channelInactive(context: ChannelHandlerContext) {
            state.closed()
            context.fireChannelInactive()
        }
    }

    /// After the parser: notices request heads and ends, and response ends.
    final class Messages: ChannelDuplexHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        typealias OutboundIn = HTTPServerResponsePart
        typealias OutboundOut = HTTPServerResponsePart
        let state: ConnectionGuard

        init(state: ConnectionGuard) { self.state = state }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head: state.headArrived(context.channel)
            case .end: state.requestEnded(context.channel)
            case .body: break
            }
            context.fireChannelRead(data)
        }

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            if case .end = unwrapOutboundIn(data) { state.responseEnded(context.channel) }
            context.write(data, promise: promise)
        }
    }
}
