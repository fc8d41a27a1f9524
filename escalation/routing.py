"""Routing decisions as pure functions over plain values (no ORM, no clock)."""

# The guide, phase 2: "Il nostro team legge la richiesta". L1 is open 24/7, reads every new
# request first and so keeps the 10-minute first-response promise at any hour; specialists
# take over by escalation.
FIRST_LINE_TEAM = "support"
