import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Coffer's HTTP/1 connections: Hummingbird's, with the connection deadlines of ``ConnectionGuard`` and
/// ``ListMethodRewriter`` (Vault clients' `LIST` verb) around the request parser.
struct CofferHTTP1Channel: ServerChildChannel {
    let base: HTTP1Channel
    let deadlines: ConnectionDeadlines

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<HTTP1Channel.Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let parser = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            let guarded = ConnectionGuard(deadlines: deadlines)
            let rewriter = ListMethodRewriter()
            try pipeline.addHandler(ConnectionGuard.Bytes(state: guarded), position: .before(parser))
            try pipeline.addHandler(rewriter, position: .before(parser))
            try pipeline.addHandler(RequestBoundary(state: rewriter.state), position: .after(parser))
            try pipeline.addHandler(ConnectionGuard.Messages(state: guarded), position: .after(parser))
            return value
        }
    }

    func handle(value: HTTP1Channel.Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// `.http1()` with Coffer's connection deadlines, accepting Vault clients' `LIST` verb.
    static func cofferHTTP1(deadlines: ConnectionDeadlines) -> HTTPServerBuilder {
        .init { responder in
            CofferHTTP1Channel(base: HTTP1Channel(responder: responder, configuration: .init()), deadlines: deadlines)
        }
    }
}
