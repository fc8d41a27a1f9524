"""Live chat as a workflow on the thread: the wait for an agent, how far each person read, the
chats that continue by email. Above sla and tickets; its sockets live in `live`."""
