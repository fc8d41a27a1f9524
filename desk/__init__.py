"""The staff's desk: the Django admin (the queues, the ticket page, the structure, the policy),
the live chat console and the managers' SLA dashboard. An interface: it parses, checks the
role, calls the use cases and selectors, and renders."""
