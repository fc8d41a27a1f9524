"""The support structure of the guide: teams by tier, their members, working hours, time zones
and holidays, and the business calendar every deadline is counted on. Pure data and pure
rules; above accounts, below every ticket."""
