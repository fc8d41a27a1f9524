"""Email in: the MTA's pipe (`receive_email`) and the SMTP receiver (`mail_receiver`) for
support@, and how one message is read (headers, content) and filed as a new ticket or a reply.
An interface: it parses and files through the use cases."""
