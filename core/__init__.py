"""The floor of the house: the errors every use case speaks in, and the effects that leave a
transaction only after COMMIT. Django and the standard library only; nothing of the product."""
