"""Single sign-on with OpenID Connect (mozilla-django-oidc): identity-provider groups become roles.

On every SSO sign-in the user's roles (and department scopes) are set from the provider's
``groups`` claim (``OIDC_GROUPS_CLAIM``) through ``OIDC_ROLE_GROUPS`` ("idp-group=Role,...") and
``OIDC_DEPARTMENT_GROUPS`` ("idp-group=department name,..."), so removing someone from a group at the
provider removes the role at their next sign-in. Roles not managed by a mapping are left alone.

Accounts created by SSO have no usable password. An SSO sign-in is matched by e-mail only to such
accounts, never to a local account with a password: a provider that asserts an administrator's
e-mail cannot take over that local account. Local accounts keep signing in with their password.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from .models import ROLES, Department, UserDepartment

logger = logging.getLogger(__name__)


def _pairs(spec: str) -> dict[str, str]:
    pairs = {}
    for item in spec.split(","):
        if "=" in item:
            group, _, target = item.partition("=")
            if group.strip() and target.strip():
                pairs[group.strip()] = target.strip()
    return pairs


def role_map() -> dict[str, str]:
    """IdP group -> role name (only the three roles are accepted)."""
    return {g: r for g, r in _pairs(settings.OIDC_ROLE_GROUPS).items() if r in ROLES}


def department_map() -> dict[str, str]:
    return _pairs(settings.OIDC_DEPARTMENT_GROUPS)


def claimed_groups(claims: dict) -> set[str]:
    raw = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(raw, str):
        raw = [raw]
    return {str(g) for g in raw if isinstance(g, str | int)}


def username_for(email: str | None, claims: dict | None = None) -> str:
    claims = claims or {}
    base = str(claims.get("preferred_username") or email or claims.get("sub") or "sso-user")[:120]
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(username=base).exists():
        return base
    digest = hashlib.sha256(str(claims.get("sub") or email).encode()).hexdigest()[:10]
    return f"{base}-{digest}"


class RoleMappingOIDCBackend(OIDCAuthenticationBackend):
    def authenticate(self, request, **kwargs):
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:  # a bad token: the sign-in page says SSO failed, no 400 page
            logger.warning("single sign-on refused: %s", exc)
            return None

    def verify_token(self, token, **kwargs):
        """The library checks signature and nonce; the ID token must also be issued to us."""
        payload = super().verify_token(token, **kwargs)
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token was issued to another client.")
        return payload

    def filter_users_by_claims(self, claims):
        email = claims.get("email")
        if not email:
            return self.UserModel.objects.none()
        candidates = self.UserModel.objects.filter(email__iexact=email)
        return [u for u in candidates if not u.has_usable_password()]

    @transaction.atomic
    def create_user(self, claims):
        user = self.UserModel(username=self.get_username(claims), email=claims.get("email", ""))
        user.set_unusable_password()
        self._copy_names(user, claims)
        user.save()
        self._apply_groups(user, claims)
        return user

    @transaction.atomic
    def update_user(self, user, claims):
        if self._copy_names(user, claims):
            user.save(update_fields=["first_name", "last_name"])
        self._apply_groups(user, claims)
        return user

    @staticmethod
    def _copy_names(user, claims) -> bool:
        first, last = str(claims.get("given_name", ""))[:150], str(claims.get("family_name", ""))[:150]
        changed = (user.first_name, user.last_name) != (first, last) and bool(first or last)
        if changed:
            user.first_name, user.last_name = first, last
        return changed

    @staticmethod
    def _apply_groups(user, claims) -> None:
        groups = claimed_groups(claims)
        roles = role_map()
        if roles:
            wanted = {role for group, role in roles.items() if group in groups}
            managed = set(roles.values())
            have = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
            if have - wanted:
                user.groups.remove(*Group.objects.filter(name__in=have - wanted))
            if wanted - have:
                user.groups.add(*[Group.objects.get_or_create(name=r)[0] for r in sorted(wanted - have)])
        departments = department_map()
        if departments:
            from .services import set_user_departments

            names = {name for group, name in departments.items() if group in groups}
            set_user_departments(user, Department.objects.filter(name__in=names))
        elif not UserDepartment.objects.filter(user=user).exists():
            return


class SSOStartView(OIDCAuthenticationRequestView):
    """The sign-in redirect to the provider; 404 while single sign-on is not configured."""

    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)


class SSOCallbackView(OIDCAuthenticationCallbackView):
    def get(self, request):
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured.")
        return super().get(request)
