"""Writes of the SLA engine, by concern: the clocks of a ticket (`clocks`), the policy's
versions (`versions`), the acknowledgement (`acknowledgement`) and the beat's sweep (`sweep`)."""
