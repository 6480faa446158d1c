"""Re-encrypting everything stored under the first key of the ring (``youthdesk keys rotate``).

Sealed values made with any key of the ring are re-encrypted with the first; clear values stored
before encryption was switched on are sealed. Each document is updated only if the values it had
when read are still there, so running this next to a live service (MongoDB) loses no edit: a document
changed meanwhile is skipped and reported, and a second run picks it up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract.crypto import DataProtector
from store.database import Store
from store.fields import SEALED, SEALED_PREFIX, sealed_values

_BATCH = 500
# Contacts' identifiers have been Fernet tokens from the start, without the prefix.
_CONTACT_IDENTIFIERS = ("identities.*.external_id", "identities.*.union_id")


@dataclass
class RekeyReport:
    reencrypted: int = 0  # values moved to the first key
    sealed: int = 0  # clear values encrypted for the first time
    skipped_documents: int = 0  # changed while being re-encrypted: run again


async def reencrypt_all(store: Store) -> dict[str, RekeyReport]:
    """Re-encrypt every sealed field of every collection; a report per collection."""
    protector = store.protector
    if protector is None:
        raise ValueError("keys rotate: the store must be opened with the data key ring")
    reports = {collection: await _rekey(store, collection, paths, _sealed_field_rekeyer(protector))
               for collection, paths in SEALED.items()}
    reports["contacts"] = await _rekey(store, "contacts", _CONTACT_IDENTIFIERS, _identifier_rekeyer(protector))
    return reports


# A value in, its re-encrypted form and whether it was clear before out.
Rekeyer = Callable[[str], tuple[str, bool]]


def _sealed_field_rekeyer(protector: DataProtector) -> Rekeyer:
    def rekey(value: str) -> tuple[str, bool]:
        if value.startswith(SEALED_PREFIX):
            return SEALED_PREFIX + protector.reencrypt(value[len(SEALED_PREFIX):]), False
        return SEALED_PREFIX + protector.encrypt(value), True
    return rekey


def _identifier_rekeyer(protector: DataProtector) -> Rekeyer:
    return lambda value: (protector.reencrypt(value), False)


async def _rekey(store: Store, collection: str, paths: tuple[str, ...], rekey: Rekeyer) -> RekeyReport:
    report = RekeyReport()
    last_id: Any = None
    while True:
        query = {} if last_id is None else {"_id": {"$gt": last_id}}
        docs = await store[collection].find(query).sort("_id", 1).limit(_BATCH).to_list(None)
        if not docs:
            return report
        for doc in docs:
            found = [(path, value) for path, value in sealed_values(doc, paths) if value]
            if not found:
                continue
            rekeyed = {path: rekey(value) for path, value in found}
            result = await store[collection].update_one(
                {"_id": doc["_id"], **dict(found)}, {"$set": {path: new for path, (new, _) in rekeyed.items()}})
            if result.matched_count == 0:
                report.skipped_documents += 1
                continue
            first_time = sum(was_clear for _, was_clear in rekeyed.values())
            report.sealed += first_time
            report.reencrypted += len(rekeyed) - first_time
        last_id = docs[-1]["_id"]
