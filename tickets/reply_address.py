"""The signed reply address of a ticket's emails: `support+<token>@<support domain>`.

The token carries the ticket id and the id of the user the email was sent to, and an HMAC of
both under SECRET_KEY (salted_hmac): whoever writes to it answered that email, so the reply
joins that ticket as that user, whatever the `From:` says. It is verified against SECRET_KEY
and every key of SECRET_KEY_FALLBACKS, so rotating the key keeps the addresses of emails
already sent until the old key leaves the fallbacks.

Lowercase base32 only: relays and mail programs may change the case of an address, and a
local part has at most 64 characters (RFC 5321, 4.5.3.1.1).
"""

import base64
import binascii

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "tickets.reply_address"
# 80 bits: guessing one is hopeless, and the token stays short.
MAC_BYTES = 10
ID_BYTES_MAX = 8
LOCAL_PART_MAX = 64


def _support() -> tuple[str, str]:
    local, _at, domain = settings.SUPPORT_EMAIL.strip().lower().rpartition("@")
    return local, domain


def _ids_packed(ticket_id: int, user_id: int) -> bytes:
    """Each id as its length then its big-endian bytes: small ids make a short token."""
    packed = b""
    for value in (ticket_id, user_id):
        data = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")
        packed += bytes([len(data)]) + data
    return packed


def _mac(packed: bytes, secret: str) -> bytes:
    return salted_hmac(SALT, packed, secret=secret, algorithm="sha256").digest()[:MAC_BYTES]


def _encoded(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def reply_address_for(*, ticket_id: int, user_id: int) -> str:
    """The address a reply to an email about `ticket_id` sent to `user_id` goes to; the bare
    support address when the support mailbox's name leaves no room for a token."""
    packed = _ids_packed(ticket_id, user_id)
    token = _encoded(packed + _mac(packed, settings.SECRET_KEY))
    local, domain = _support()
    if len(local) + 1 + len(token) > LOCAL_PART_MAX:
        return settings.SUPPORT_EMAIL
    return f"{local}+{token}@{domain}"


def reply_address_parse(address: str) -> tuple[int, int] | None:
    """(ticket id, user id) of a signed reply address made by this product, else None."""
    local, _at, domain = address.strip().strip("<>").lower().rpartition("@")
    support_local, support_domain = _support()
    prefix = f"{support_local}+"
    if domain != support_domain or not local.startswith(prefix) or len(local) > LOCAL_PART_MAX:
        return None
    token = local.removeprefix(prefix)
    try:
        data = base64.b32decode(token.upper() + "=" * (-len(token) % 8))
    except (binascii.Error, ValueError):
        return None
    # One spelling per token: unused trailing bits cannot make a second address.
    if _encoded(data) != token:
        return None
    packed, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    ids = _ids_unpacked(packed)
    if ids is None or _ids_packed(*ids) != packed:
        return None
    for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS):
        if constant_time_compare(_mac(packed, secret), mac):
            return ids
    return None


def _ids_unpacked(packed: bytes) -> tuple[int, int] | None:
    ids = []
    rest = packed
    for _id in range(2):
        if not rest or not 1 <= rest[0] <= ID_BYTES_MAX or len(rest) < 1 + rest[0]:
            return None
        ids.append(int.from_bytes(rest[1 : 1 + rest[0]], "big"))
        rest = rest[1 + rest[0] :]
    if rest:
        return None
    return ids[0], ids[1]
