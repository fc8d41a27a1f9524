"""Incidents: one outage, many customers, one voice. The incident, its public updates fanned out
into every linked thread exactly once, surges that suggest opening one, credits for it, and
who followed it instead of writing. A workflow beside chat and escalation."""
