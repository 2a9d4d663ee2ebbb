from channels.consumer import get_handler_name


class DirectDispatchMixin:
    """Dispatch events straight to their handler.

    Channels' own dispatch first hops onto the one thread shared by all sync code in the process
    (to close stale database connections) for every event of every consumer, so each agent's live
    event waited behind every visitor's ingest (measured in bench/). Our database work goes through
    ``database_sync_to_async``, which closes connections around each call itself.
    """

    async def dispatch(self, message):
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)
