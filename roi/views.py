"""ROI pages for finance: report (+ exports, print), assumptions ledger, spend watch, ticket drill-down."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agentops.models import Agent, Department
from agentops.permissions import FINANCE, OPERATIONS, REVIEWERS, has_role, role_required
from agentops.scoping import allows_agent, department_ids, require_unscoped, scope_form

from . import charts, exports, queries, services
from .calculations import MissingExchangeRate, Period, RoiRow, custom_period
from .forms import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    AssumptionForm,
    BudgetForm,
    ReportForm,
    in_report_years,
    parse_month,
)
from .models import REPORT_CURRENCY, PeriodClose
from .tables import COLUMNS, ROI_MIN_COST_PER_MONTH, Table, build_table


def today_utc() -> date:
    return timezone.now().date()


def _row_links(period: Period, agents: dict, query: dict):
    """Drill-downs: an agent's runs and model cost to the run explorer, a department's or the
    company's runs to this report by agent, ticket figures to the list of tickets counted."""
    dates = {"from": period.start.isoformat(), "to": period.last_day.isoformat()}
    by_agent = f"{reverse('roi:report')}?{urlencode({**query, 'grouping': 'agent'})}"

    def link_for(row: RoiRow, column: str) -> str | None:
        kind, ident = row.key
        if column in ("runs", "automated", "ai_cost") and kind == "agent":
            return f"{reverse('roi:runs')}?{urlencode({'agent': ident, **dates})}"
        if column == "runs" and kind in ("department", "company", "total") and query.get("grouping") != "agent":
            return by_agent
        if column in ("handoffs", "human_minutes", "handoff_cost", "cpr_person") and kind != "department_costs":
            scope = {"agent": {"agent": ident}, "department": {"department": ident or ""}}.get(kind, {})
            return f"{reverse('roi:tickets')}?{urlencode({**scope, **dates})}"
        return None

    return link_for


COMPARED = ("runs", "automation_rate", "total_cost", "value", "net_benefit", "roi_percent", "cpr_agent",
            "cpr_person")


def _comparison(bundle: queries.ReportBundle, table: Table) -> list[dict]:
    """Total-row figures of the period, the previous period and a year earlier, footed like the table."""
    current = table.totals_by_key()
    previous = build_table(bundle.previous).totals_by_key()
    earlier = build_table(bundle.year_earlier).totals_by_key()
    columns = {c.key: c for c in COLUMNS}
    return [{"key": k, "label": columns[k].label, "kind": columns[k].kind, "current": current[k],
             "previous": previous[k], "earlier": earlier[k],
             "class_previous": delta_class(current[k], previous[k], k in LOWER_IS_BETTER),
             "class_earlier": delta_class(current[k], earlier[k], k in LOWER_IS_BETTER)} for k in COMPARED]


# Figures where a fall is good news (costs): their changes are coloured the other way round.
LOWER_IS_BETTER = frozenset({"total_cost", "cpr_agent", "cpr_person"})


def delta_class(current, other, lower_is_better: bool) -> str:
    """delta-up (green, good news), delta-down (red) or delta-flat, by the figure's direction."""
    if current is None or other is None or current == other:
        return "delta-flat"
    return "delta-up" if (current > other) != lower_is_better else "delta-down"


# The figures finance looks at first, shown above the table with their change on the previous period.
HEADLINE = ("net_benefit", "roi_percent", "value", "total_cost", "automation_rate", "cpr_agent")


def restated_figures(closes: list, table: Table) -> list[dict]:
    """Before (as closed) and after (as computed now) of the headline totals of one closed month."""
    columns = {c.key: c for c in table.columns}
    now = {c.key: cell.text for c, cell in zip(table.columns, table.total, strict=True)}
    before = closes[0].figures
    return [{"label": columns[k].label, "before": before.get(k, "—"), "after": now[k],
             "changed": before.get(k) != now[k]} for k in COMPARED]


def restatement_notes(closes: list) -> list[str]:
    """One line per restatement of a closed month in the report (the page and the exports say so)."""
    return [
        f"Restated: {c.month:%B %Y} was closed on {c.closed_at:%Y-%m-%d} by {c.closed_by.get_username()}; "
        f"restated on {r.recorded_at:%Y-%m-%d} by {r.recorded_by.get_username()} "
        f"(assumption row {r.assumption_id}, {r.assumption.get_kind_display()} from {r.assumption.effective_from}): "
        f"{r.reason}"
        for c in closes for r in c.restatements.all()
    ]


def to_date_note(period: Period, today: date) -> str:
    """ "to date, 4 of 31 days" while ``period`` is still running (it includes today), else ""."""
    if period.end <= today:
        return ""
    elapsed = max((today - period.start).days + 1, 0)
    return f"to date, {elapsed} of {period.days} days"


def _report_context(form: ReportForm, user=None) -> dict:
    """The report's context; for a ``user`` limited to departments, computed from their agents only
    (agentops.scoping), without the company's closed figures and restatements."""
    period, grouping = form.get_period(), form.cleaned_data["grouping"]
    context: dict = {"form": form, "period": period, "grouping": grouping, "currency": REPORT_CURRENCY,
                     "query": urlencode(form.data), "to_date": to_date_note(period, today_utc()),
                     "roi_floor": ROI_MIN_COST_PER_MONTH}
    try:
        bundle = queries.report_bundle(period, grouping, user=user)
    except MissingExchangeRate as exc:
        context["problem"] = str(exc)
        return context
    table = build_table(bundle.report, _row_links(period, bundle.agents, dict(form.data)))
    comparison = _comparison(bundle, table)
    scoped = department_ids(user) is not None
    closes = [] if scoped else queries.closes_within(period)  # a close holds the company's figures
    context.update(
        closes=closes,
        restated=restated_figures(closes, table) if len(closes) == 1 and closes[0].restatements.all() else None,
        can_close=(not scoped and form.cleaned_data.get("period") == "month" and not closes and not context["to_date"]),
    )
    context.update(
        bundle=bundle,
        table=table,
        comparison=comparison,
        headline=sorted((m for m in comparison if m["key"] in HEADLINE), key=lambda m: HEADLINE.index(m["key"])),
        trend_json=charts.trend_figure(bundle.trend).to_json(),
    )
    return context


def _bad_request(request: HttpRequest, form: ReportForm, template: str = "roi/report.html") -> HttpResponse:
    """400 with the form errors; an htmx request gets the inline partial with 200, since htmx does
    not swap error responses and the message would otherwise never reach the screen."""
    if request.htmx:
        return render(request, "roi/report.html#report", {"form": form, "currency": REPORT_CURRENCY})
    return render(request, template, {"form": form, "currency": REPORT_CURRENCY}, status=400)


@require_GET
@role_required(FINANCE)
def report(request: HttpRequest) -> HttpResponse:
    form = ReportForm.from_query(request.GET, today_utc())
    if not form.is_valid():
        return _bad_request(request, form)
    template = "roi/report.html#report" if request.htmx else "roi/report.html"
    return render(request, template, _report_context(form, request.user))


def _export_context(request: HttpRequest) -> tuple[dict | None, HttpResponse | None]:
    form = ReportForm.from_query(request.GET, today_utc())
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        return None, HttpResponse(f"Bad report parameters: {errors}", status=400, content_type="text/plain")
    context = _report_context(form, request.user)
    if "problem" in context:
        return None, HttpResponse(context["problem"], status=409, content_type="text/plain")
    return context, None


def _filename(context: dict, extension: str) -> str:
    period: Period = context["period"]
    return f"roi_{period.start:%Y-%m-%d}_{period.last_day:%Y-%m-%d}_{context['grouping']}.{extension}"


@require_GET
@role_required(FINANCE)
def export_csv(request: HttpRequest) -> HttpResponse:
    context, error = _export_context(request)
    if error:
        return error
    notes = restatement_notes(context["closes"]) + context["table"].footnotes
    response = HttpResponse(exports.table_csv(context["table"], notes), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(context, "csv")}"'
    return response


@require_GET
@role_required(FINANCE)
def export_xlsx(request: HttpRequest) -> HttpResponse:
    context, error = _export_context(request)
    if error:
        return error
    title = f"ROI {context['period'].label} by {context['grouping']}"
    report = context["bundle"].report
    agent_ids = {agent_id for row in report.rows for agent_id in row.agent_ids}
    notes = restatement_notes(context["closes"]) + context["table"].footnotes
    body = exports.table_xlsx(context["table"], context["bundle"].assumptions, title,
                              exports.assumptions_context(agent_ids, context["period"]), notes)
    response = HttpResponse(body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="{_filename(context, "xlsx")}"'
    return response


@require_GET
@role_required(FINANCE)
def print_view(request: HttpRequest) -> HttpResponse:
    form = ReportForm.from_query(request.GET, today_utc())
    if not form.is_valid():
        return _bad_request(request, form)
    context = _report_context(form, request.user)
    context["generated_at"] = timezone.now()
    return render(request, "roi/print.html", context)


@require_http_methods(["GET", "POST"])
@role_required(FINANCE)
def assumptions(request: HttpRequest) -> HttpResponse:
    form = scope_form(AssumptionForm(request.POST or None, initial={"effective_from": today_utc(), "currency": REPORT_CURRENCY}), request.user)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        restating = data.pop("restatement_reason", "")
        try:
            row = services.record_assumption(services.AssumptionChange(**data), request.user,
                                             restatement_reason=restating)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            restated = ", ".join(f"{r.close.month:%B %Y}" for r in row.restatements.select_related("close"))
            messages.success(request, "Recorded. The previous value stays in the history below."
                             + (f" Restated closed periods: {restated}." if restated else ""))
            return redirect("roi:assumptions")
    status = 400 if request.method == "POST" else 200
    series = queries.ledger_series(today_utc(), request.user)
    closed = PeriodClose.objects.order_by("-month")[:24]
    return render(request, "roi/assumptions.html", {"form": form, "series": series, "closed": closed}, status=status)


@require_POST
@role_required(FINANCE)
def close_period(request: HttpRequest) -> HttpResponse:
    """Close a finished month with its figures as reported now; back to that month's report."""
    require_unscoped(request.user)  # the close holds the whole company's figures
    try:
        month = parse_month(request.POST.get("month", ""))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("roi:report")
    form = ReportForm.from_query({"period": "month", "month": f"{month:%Y-%m}", "grouping": "company"}, today_utc())
    back = f"{reverse('roi:report')}?{urlencode({'period': 'month', 'month': f'{month:%Y-%m}'})}"
    if not form.is_valid():
        messages.error(request, "That month cannot be reported.")
        return redirect(back)
    context = _report_context(form)
    if "problem" in context:
        messages.error(request, context["problem"])
        return redirect(back)
    figures = {c.key: cell.text for c, cell in zip(context["table"].columns, context["table"].total, strict=True)}
    try:
        services.close_month(month, request.user, figures, today_utc())
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, f"{month:%B %Y} is closed. A later change effective inside it restates it.")
    return redirect(back)


@require_http_methods(["GET", "POST"])
@role_required(FINANCE)
def spend(request: HttpRequest) -> HttpResponse:
    today = today_utc()
    try:
        month = parse_month(request.GET["month"]) if request.GET.get("month") else today.replace(day=1)
    except ValidationError as exc:
        return render(request, "error.html", {"status": 400, "title": "Bad month", "message": exc.messages[0]},
                      status=400)
    form = scope_form(BudgetForm(request.POST or None, initial={"month": month, "currency": REPORT_CURRENCY}), request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        services.set_budget(month=data["month"], amount=data["amount"], currency=data["currency"],
                            agent=data["agent"], department=data["department"], set_by=request.user)
        messages.success(request, "Budget saved.")
        return redirect(f"{reverse('roi:spend')}?month={data['month']:%Y-%m}")
    lines = queries.spend_watch(month, today, request.user)
    context = {"form": form, "lines": lines, "month": month, "currency": REPORT_CURRENCY,
               "over": sum(1 for line in lines if line.over_budget)}
    return render(request, "roi/spend.html", context, status=400 if request.method == "POST" else 200)


def _drilldown_period(request: HttpRequest):
    """The period and scope of a drill-down link, or an error response naming the problem."""
    try:
        start, end = date.fromisoformat(request.GET["from"]), date.fromisoformat(request.GET["to"])
        if start > end or not in_report_years(start) or not in_report_years(end):
            raise ValueError
    except (KeyError, ValueError):
        return None, None, render(request, "error.html", {"status": 400, "title": "Bad dates",
                                  "message": "Give from and to as YYYY-MM-DD, with from not after to, "
                                             f"between {EARLIEST_YEAR} and {LATEST_YEAR}."}, status=400)
    scope, agents = _ticket_scope(request.GET)
    if agents is not None:
        agents = [a for a in agents if allows_agent(request.user, a)]
        if not agents and department_ids(request.user) is not None and scope != "Whole company":
            agents = None  # another department's agent or department: not confirmed to exist
    if agents is None:
        return None, None, render(request, "error.html", {"status": 400, "title": "Unknown agent or department",
                                  "message": "The agent or department in the link does not exist."}, status=400)
    return custom_period(start, end), (scope, agents), None


@require_GET
@role_required(FINANCE)
def tickets(request: HttpRequest) -> HttpResponse:
    """The finished tickets behind a report figure: ?agent=<id> or ?department=<id>, from, to (inclusive)."""
    period, scoped, error = _drilldown_period(request)
    if error:
        return error
    scope, agents = scoped
    rows = queries.tickets_behind([a.id for a in agents], period.start, period.end)
    can_open = has_role(request.user, REVIEWERS, OPERATIONS)
    for ticket in rows:
        ticket.detail_url = reverse("handoffs:ticket", args=[ticket.pk]) if can_open else None
        ticket.handle_minutes = ticket.handle_seconds / 60
    return render(request, "roi/tickets.html", {"tickets": rows, "period": period, "scope": scope})


@require_GET
@role_required(FINANCE)
def runs(request: HttpRequest) -> HttpResponse:
    """The runs behind a report figure (runs, automated runs, model cost): same parameters as tickets."""
    period, scoped, error = _drilldown_period(request)
    if error:
        return error
    scope, agents = scoped
    rows = queries.runs_behind([a.id for a in agents], period.start, period.end)
    # Finance reads the list here; the trace view itself is an operations page.
    can_open = has_role(request.user, OPERATIONS)
    for run in rows:
        run.detail_url = reverse("monitoring:run_detail", args=[run.trace_id]) if can_open else None
    return render(request, "roi/runs.html", {"runs": rows, "period": period, "scope": scope})


def _ticket_scope(params) -> tuple[str, list[Agent] | None]:
    if params.get("agent"):
        agent = Agent.objects.filter(pk=params["agent"]).first() if params["agent"].isdigit() else None
        return (agent.name, [agent]) if agent else ("", None)
    if "department" in params:
        value = params["department"]
        if value == "":
            return "Agents without a department", list(Agent.objects.filter(department__isnull=True))
        department = Department.objects.filter(pk=value).first() if value.isdigit() else None
        return (department.name, list(department.agents.all())) if department else ("", None)
    return "Whole company", list(Agent.objects.all())
