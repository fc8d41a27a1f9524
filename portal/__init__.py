"""The customer portal: the home page, my tickets, a new ticket, a ticket's thread with its live
chat, the start of a chat. An interface: forms parse, use cases write, selectors decide who
sees what."""
