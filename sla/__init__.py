"""The promises: the policy's targets, one clock per ticket and metric on the owning team's
calendar, breaches, the acknowledgement and the beat's sweep. Above tickets; below chat,
escalation and the use cases."""
