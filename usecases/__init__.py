"""The use cases: the product's verbs (open a ticket, reply, assign, resolve, start a chat,
set up the support structure), each one transaction composing the rooms below it. Interfaces
call these and the rooms' selectors; nothing below imports this layer."""
