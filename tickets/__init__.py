"""The conversation: a ticket is one thread of messages and files, whatever the channel; who may
see it, its status, its event log and the outbox. Above teams and accounts; sla, chat and
escalation build on it."""
