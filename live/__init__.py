"""The live transport: WebSocket consumers of a ticket's conversation, who is on them
(presence, in Redis) and how a socket authenticates. An interface: it relays what the use
cases stored and broadcast after COMMIT, and hands every write to a use case."""
