"""Experiment benchmark: how many cases per second an experiment runs against the local responder,
and the product's own time per case.

Two phases on a scratch database (created on the DATABASE_URL server, dropped at the end unless
--keep), with the deterministic responder (``evals.responder``) served from this process:

1. In-process, one slot, sequential: wall time per case minus the responder's answer time is the
   product's own overhead per case (claim, build the request, decode, score, store; every database
   round trip included). The target is under 20 ms.
2. Through Celery as deployed: a prefork worker (``--worker-concurrency``, default the experiment
   concurrency) runs an experiment of ``--cases`` cases at the default concurrency
   (EVALS_DEFAULT_CONCURRENCY slots); cases/s from the start until the experiment completed.

Evaluators: four rules (contains, regex, length, forbidden phrases) on every case; ``--judge`` adds
an LLM judge on the same responder (a second HTTP call per case). The last line is
    evals: <N> cases/s at concurrency <C>, overhead <M> ms/case
    REDIS_URL=redis://127.0.0.1:6379/9 python bench/evals.py --cases 400
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from ingest import scratch_database, start_worker  # also puts the repository on sys.path, sets settings

QUESTIONS = [("How long does a refund take?", "Refunds take 5 business days."),
             ("Do you ship to Norway?", "We ship to every EU country and to Norway."),
             ("How do I reset two-factor login?", "Open Settings > Security > Reset two-factor."),
             ("What is the weather?", "")]
PROMPT = ("You are a support agent.\n- refund: Refunds take 5 business days.\n"
          "- ship: We ship to every EU country and to Norway.\n- two-factor: Open Settings > Security > Reset two-factor.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--inprocess-cases", type=int, default=200)
    parser.add_argument("--worker-concurrency", type=int, default=0, help="0: the experiment concurrency")
    parser.add_argument("--judge", action="store_true", help="add an LLM judge (one more call per case)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with scratch_database(keep=args.keep):
        run(args)


def _setup(args, responder_url: str):
    from django.core.management import call_command

    from evals import services
    from evals.models import Evaluator
    from tests.evals.factories import make_endpoint, make_judge, make_rule
    from tests.factories import make_agent, make_price, make_prompt

    call_command("migrate", verbosity=0)
    agent = make_agent("Bench agent")
    prompt = make_prompt(agent, text=PROMPT)
    make_price("demo-model", inp="0.15", out="0.60")
    endpoint = make_endpoint(responder_url, timeout=10)
    evaluators = [make_rule("contains", text="days"), make_rule("regex", pattern=r"\b\w+\b"),
                  make_rule("length", max_chars=2000), make_rule("forbidden", phrases="guarantee")]
    if args.judge:
        evaluators.append(make_judge(endpoint, rubric="helpfulness"))
    datasets = {}
    for name, n in (("in-process", args.inprocess_cases), ("celery", args.cases), ("warm-up", 8)):
        dataset = services.create_dataset(f"bench {name}")
        cases = [services.NewCase(input_messages=[{"role": "user", "content": f"{q} (#{i})"}], expected_output=e)
                 for i in range(n) for q, e in [QUESTIONS[i % len(QUESTIONS)]]]
        for start in range(0, len(cases), services.MAX_CASES_PER_ADD):
            services.add_cases(dataset, cases[start:start + services.MAX_CASES_PER_ADD])
        datasets[name] = dataset
    assert Evaluator.objects.count() == len(evaluators)
    return prompt, endpoint, evaluators, datasets


def _wait(experiment, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        experiment.refresh_from_db(fields=["status", "finished_at"])
        if not experiment.is_running:
            return time.monotonic()
        time.sleep(0.05)
    raise SystemExit(f"experiment {experiment.pk} did not finish within {timeout:g} s")


def run(args) -> None:
    import django

    # The responder listens on loopback, which the outbound guard refuses unless allow-listed; the
    # worker subprocess inherits this environment.
    os.environ["OUTBOUND_ALLOWED_HOSTS"] = ",".join(filter(None, [os.environ.get("OUTBOUND_ALLOWED_HOSTS", ""), "127.0.0.1"]))
    django.setup()
    import redis
    from django.conf import settings

    from evals import runner, tasks
    from evals.models import ExperimentItem
    from evals.responder import serve

    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete("default", "unacked", "unacked_index")
    concurrency = settings.EVALS_DEFAULT_CONCURRENCY
    with serve() as responder:
        prompt, endpoint, evaluators, datasets = _setup(args, responder.url)

        # Phase 1: in-process, sequential.
        experiment = runner.start_experiment(name="in-process", dataset=datasets["in-process"], endpoint=endpoint,
                                             evaluators=evaluators, prompt_version=prompt, concurrency=1)
        started = time.perf_counter()
        runner.run_slot(experiment.pk, seconds=3600)
        wall_ms = (time.perf_counter() - started) * 1000 / experiment.case_count
        items = list(ExperimentItem.objects.filter(experiment=experiment).values_list("latency_ms", "overhead_ms",
                                                                                        "status"))
        assert all(status == "ok" for *_, status in items), "every case should succeed against the responder"
        latency = statistics.fmean(i[0] for i in items)
        overhead = wall_ms - latency
        recorded = statistics.fmean(i[1] for i in items)
        print(f"in-process: {experiment.case_count} cases, {wall_ms:.2f} ms/case wall, responder {latency:.2f} ms, "
              f"product overhead {overhead:.2f} ms/case (of which scoring and decoding {recorded:.2f} ms; "
              f"the rest is claim and store round trips){' incl. judge call' if args.judge else ''}", flush=True)

        # Phase 2: Celery, default concurrency.
        worker = start_worker(args.worker_concurrency or concurrency)
        try:
            warm = runner.start_experiment(name="warm-up", dataset=datasets["warm-up"], endpoint=endpoint,
                                           evaluators=evaluators, prompt_version=prompt, concurrency=concurrency)
            tasks.enqueue_experiment(warm)
            _wait(warm, timeout=120)
            experiment = runner.start_experiment(name="celery", dataset=datasets["celery"], endpoint=endpoint,
                                                 evaluators=evaluators, prompt_version=prompt, concurrency=concurrency)
            started = time.monotonic()
            tasks.enqueue_experiment(experiment)
            finished = _wait(experiment)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        rate = experiment.case_count / (finished - started)
        failed = ExperimentItem.objects.filter(experiment=experiment).exclude(status="ok").count()
        print(f"celery: {experiment.case_count} cases in {finished - started:.2f} s at concurrency {concurrency} "
              f"({failed} failed), responder requests {responder.requests}", flush=True)
    print(f"evals: {rate:.1f} cases/s at concurrency {concurrency}, overhead {overhead:.2f} ms/case")


if __name__ == "__main__":
    main()
