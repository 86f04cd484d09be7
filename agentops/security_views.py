"""Security pages for operations: the audit log (and its CSV), sign-in locks, users' department scopes."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, time

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from . import signin
from .exports import csv_writer
from .models import AuditEvent, Department, UserDepartment
from .permissions import OPERATIONS, role_required
from .scoping import allowed_agent_ids, department_ids, require_unscoped
from .services import set_user_departments

AUDIT_PER_PAGE = 50
AUDIT_EXPORT_LIMIT = 100_000


def _scoped_events(events, user):
    """A user limited to departments sees the changes to their agents and to rows tied to those agents
    or departments (``agent_id``/``department_id`` in the snapshot); not users, prices or other
    departments' changes."""
    departments = department_ids(user)
    if departments is None:
        return events
    agents = list(allowed_agent_ids(user))
    return events.filter(
        Q(object_type="agent", object_id__in=[str(a) for a in agents])
        | Q(after__agent_id__in=agents) | Q(before__agent_id__in=agents)
        | Q(after__department_id__in=list(departments)) | Q(before__department_id__in=list(departments))
    )


class AuditFilterForm(forms.Form):
    object_type = forms.CharField(required=False, max_length=60, label="What")
    actor = forms.CharField(required=False, max_length=150, label="Who")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        for name in ("date_from", "date_to"):
            value = data.get(name)
            if value is not None and not 2000 <= value.year <= 2999:
                self.add_error(name, "Give a date between the years 2000 and 2999.")
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", "The end date is before the start date.")
        for name in ("object_type", "actor"):
            if "\x00" in (data.get(name) or ""):
                self.add_error(name, "Remove the NUL character.")
        return data

    def events(self, user=None):
        qs = _scoped_events(AuditEvent.objects.all(), user)
        if not self.is_valid():
            return qs
        data = self.cleaned_data
        if data.get("object_type"):
            qs = qs.filter(object_type__iexact=data["object_type"])
        if data.get("actor"):
            qs = qs.filter(actor_name__iexact=data["actor"])
        tz = timezone.get_current_timezone()
        if data.get("date_from"):
            qs = qs.filter(at__gte=datetime.combine(data["date_from"], time.min, tz))
        if data.get("date_to"):
            qs = qs.filter(at__lt=datetime.combine(data["date_to"], time.max, tz))
        return qs


@role_required(OPERATIONS)
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    page = Paginator(form.events(request.user), AUDIT_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form, "page": page, "events": page.object_list, "querystring": query.urlencode(),
        "object_types": _scoped_events(AuditEvent.objects, request.user).order_by("object_type").values_list("object_type", flat=True).distinct(),
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "agentops/audit_log.html", context, status=status)


@role_required(OPERATIONS)
def audit_export(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(f"Bad filter: {form.errors.as_text()}", status=400, content_type="text/plain")
    out = io.StringIO()
    writer = csv_writer(out)
    writer.writerow(["At (UTC)", "Who", "Action", "What", "Id", "Description", "Before", "After"])


    for e in form.events(request.user)[:AUDIT_EXPORT_LIMIT].iterator():
        writer.writerow([e.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"), e.actor_name or "system",
                         e.action, e.object_type, e.object_id, e.object_repr,
                         json.dumps(e.before, sort_keys=True) if e.before is not None else "",
                         json.dumps(e.after, sort_keys=True) if e.after is not None else ""])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


@role_required(OPERATIONS)
def signin_locks(request: HttpRequest) -> HttpResponse:
    return render(request, "agentops/signin_locks.html", {"locks": signin.current_locks(), "failure_limit": settings.AXES_FAILURE_LIMIT})


@role_required(OPERATIONS)
@require_POST
def signin_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    lock = signin.unlock(pk)
    if lock is None:
        messages.info(request, "That lock was already cleared.")
    else:
        messages.success(request, f"Unlocked {lock.username or 'the user'} from {lock.ip_address or 'any address'}.")
    return redirect("registry:signin_locks")


class UserDepartmentsForm(forms.Form):
    departments = forms.ModelMultipleChoiceField(
        queryset=Department.objects.order_by("name"), required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked for no limit: the user sees every department.",
    )


@role_required(OPERATIONS)
def user_list(request: HttpRequest) -> HttpResponse:
    if department_ids(request.user) is not None:  # a scoped manager must not widen their own (or anyone's) scope
        return render(request, "agentops/user_list.html", {"users": [], "scoped_viewer": True})
    users = get_user_model().objects.order_by("username").prefetch_related("groups", "department_scopes__department")
    page = Paginator(users, 100).get_page(request.GET.get("page"))
    return render(request, "agentops/user_list.html", {"page": page, "users": page.object_list})


@role_required(OPERATIONS)
@require_http_methods(["GET", "POST"])
def user_departments(request: HttpRequest, pk: int) -> HttpResponse:
    require_unscoped(request.user)
    user = get_object_or_404(get_user_model(), pk=pk)
    current = Department.objects.filter(scoped_users__user=user)
    form = UserDepartmentsForm(request.POST or None, initial={"departments": list(current)})
    if request.method == "POST" and form.is_valid():
        set_user_departments(user, form.cleaned_data["departments"])
        messages.success(request, f"Saved {user.get_username()}'s departments.")
        return redirect("registry:user_list")
    return render(request, "agentops/user_departments.html", {"form": form, "subject": user,
                                                              "scoped": UserDepartment.objects.filter(user=user).exists()},
                  status=400 if form.is_bound and not form.is_valid() else 200)
