"""Password hashes as the services store them, so a deploy hands them the hash, never the password,
and compares what they store without reading a password back."""

from __future__ import annotations

import hashlib


def native_hash(password: str) -> str:
    """mysql_native_password's stored form, as MariaDB and ProxySQL keep it: '*' + upper hex
    SHA1(SHA1(password)). As good as the password for logging in: treat it as a secret."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def sha256(value: str) -> str:
    """What facts read out instead of a stored credential, so no output ever shows one."""
    return hashlib.sha256(value.encode()).hexdigest()


def acl_hash(password: str) -> str:
    """How a Redis ACL rule stores a password (#<sha256 hex>): the file never holds it in clear."""
    return sha256(password)
