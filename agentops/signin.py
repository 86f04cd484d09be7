"""Sign-in throttling (django-axes): the lock-out answer and the operations unlock.

After ``AXES_FAILURE_LIMIT`` wrong passwords for one user name or from one address, sign-in is
refused (429) with a message saying why and for how long, even with the right password, until the
cool-off ends or someone in operations unlocks it on the sign-in locks page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render

from . import audit


def _cooloff_text() -> str:
    hours = settings.AXES_COOLOFF_TIME
    if not hours:
        return "until someone in operations unlocks it"
    minutes = round(float(hours) * 60)
    return f"for {minutes} minutes, or until someone in operations unlocks it"


def locked_out(request, original_response=None, credentials=None):
    """The sign-in page again, status 429, with the reason instead of a password error."""
    form = AuthenticationForm(request, data=None)
    message = (f"Too many failed sign-in attempts for this account or from this address. Sign-in is locked "
               f"{_cooloff_text()}.")
    return render(request, "registration/login.html", {"form": form, "locked_message": message}, status=429)


@dataclass(frozen=True)
class Lock:
    id: int
    username: str
    ip_address: str
    failures: int
    last_attempt: datetime

    @property
    def locked(self) -> bool:
        return self.failures >= settings.AXES_FAILURE_LIMIT


def current_locks() -> list[Lock]:
    """Recorded failed attempts (a user name from an address), newest first; ``locked`` when at the limit."""
    rows = AccessAttempt.objects.order_by("-attempt_time")
    return [Lock(r.id, r.username or "", r.ip_address or "", r.failures_since_start, r.attempt_time) for r in rows[:200]]


def unlock(attempt_id: int) -> Lock | None:
    """Clear the lock's user name and address; recorded in the audit log."""
    row = AccessAttempt.objects.filter(pk=attempt_id).first()
    if row is None:
        return None
    lock = Lock(row.id, row.username or "", row.ip_address or "", row.failures_since_start, row.attempt_time)
    # Every attempt of that user name and every attempt from that address: either could hold the lock.
    if lock.username:
        reset(username=lock.username)
    if lock.ip_address:
        reset(ip=lock.ip_address)
    AccessAttempt.objects.filter(pk=attempt_id).delete()
    audit.record("unlocked", object_type="sign-in lock", object_id=lock.id,
                 object_repr=f"{lock.username or '-'} from {lock.ip_address or '-'}",
                 before={"failures": lock.failures})
    return lock
