"""Escalation: a ticket moving between the tiers of the support structure, and the routing
rules that say where it belongs. Above tickets and sla; beside chat."""
