"""Accounts: people and how we talk to them (profile, language, time zone), signing up and in,
and the roles that decide what a person may do. Above `core` only; every other room uses it."""
