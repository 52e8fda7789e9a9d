"""The input rails on a user's message, under the tenant's policy: limits, PII, secrets, injection, toxicity.

Limits run first (a 1 MB prompt is refused before any model sees it). The other rails are independent and run
concurrently on a small thread pool (`workers`); their decisions combine:
- any rail whose action is `block` and that trips blocks the request (`blocked_by` names the first in the order
  limits, injection, toxicity, secrets, pii); the caller gets the rail's name, never a score or the classifier
  output;
- PII and secrets with action `mask` are replaced by placeholders (`masking.mask`), the reverse map kept for the
  answer; a request with anything masked is `personal` (the cache never stores it);
- `flag` records the outcome and lets the request through.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from twin_common.events import GuardrailOutcome

from twin_guardrails.injection import InjectionDetector
from twin_guardrails.limits import LimitsChecker
from twin_guardrails.masking import mask
from twin_guardrails.observe import GuardrailMetrics, record
from twin_guardrails.pii import Finding, PiiDetector
from twin_guardrails.recognizers import SECRET
from twin_guardrails.settings import GuardrailSettings, InputAction, PolicyBook, TenantPolicy
from twin_guardrails.toxicity import ToxicityDetector

BLOCK_ORDER = ("input.limits", "input.injection", "input.toxicity", "input.secrets", "input.pii")


@dataclass
class InputVerdict:
    text: str  # what may reach the model, the cache and the logs (masked)
    reverse_map: dict[str, str] = field(default_factory=dict)  # placeholder -> value, for the caller's answer only
    outcomes: list[GuardrailOutcome] = field(default_factory=list)
    blocked_by: str | None = None
    masked_entities: dict[str, int] = field(default_factory=dict)

    @property
    def blocked(self) -> bool:
        return self.blocked_by is not None

    @property
    def personal(self) -> bool:
        """Something personal or secret was in the message: never cache this request's answer."""
        return bool(self.reverse_map) or any(
            o.rail in ("input.pii", "input.secrets") and o.decision != "pass" for o in self.outcomes
        )


def _decision(action: InputAction, tripped: bool) -> str:
    if not tripped:
        return "pass"
    return {InputAction.BLOCK: "block", InputAction.MASK: "mask", InputAction.FLAG: "flag"}[action]


def _entity_detail(findings: list[Finding]) -> str:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.entity] = counts.get(f.entity, 0) + 1
    return ",".join(f"{entity}:{n}" for entity, n in sorted(counts.items()))


class InputRails:
    def __init__(
        self,
        settings: GuardrailSettings | None = None,
        *,
        pii: PiiDetector | None = None,
        injection: InjectionDetector | None = None,
        toxicity: ToxicityDetector | None = None,
        metrics: GuardrailMetrics | None = None,
    ):
        self.settings = settings or GuardrailSettings()
        self.policies = PolicyBook(self.settings)
        self.pii = pii or PiiDetector(self.settings)
        self.injection = injection or InjectionDetector()
        self.toxicity = toxicity or ToxicityDetector()
        self.limits = LimitsChecker(self.settings)
        self.metrics = metrics
        self.pool = ThreadPoolExecutor(max(1, self.settings.workers), thread_name_prefix="twin-input-rails")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # --- the rails, each timed ------------------------------------------------------------------

    def _pii_and_secrets(self, text: str, policy: TenantPolicy) -> tuple[list[Finding], float]:
        started = time.perf_counter()
        entities = policy.pii_entities if policy.pii is not InputAction.OFF else ()
        findings = self.pii.find(text, entities, secrets=policy.secrets is not InputAction.OFF)
        return findings, (time.perf_counter() - started) * 1000

    @staticmethod
    def _timed(fn, text: str):
        started = time.perf_counter()
        result = fn(text)
        return result, (time.perf_counter() - started) * 1000

    # --- the whole check ------------------------------------------------------------------------

    def check(self, text: str, tenant_id: str, *, reverse_map: dict[str, str] | None = None) -> InputVerdict:
        policy = self.policies(tenant_id)
        if not policy.enabled:
            return InputVerdict(text, dict(reverse_map or {}))
        started_ns = time.time_ns()
        outcomes: list[GuardrailOutcome] = []

        if policy.limits is not InputAction.OFF:
            t0 = time.perf_counter()
            violation = self.limits.check(text, policy)
            outcome = GuardrailOutcome(
                rail="input.limits",
                decision=_decision(policy.limits, violation is not None),
                latency_ms=(time.perf_counter() - t0) * 1000,
                detail=violation.limit if violation else None,
            )
            outcomes.append(outcome)
            if outcome.decision == "block":
                return self._finish(InputVerdict(text, dict(reverse_map or {})), outcomes, started_ns)

        jobs = {}
        if policy.pii is not InputAction.OFF or policy.secrets is not InputAction.OFF:
            jobs["pii"] = (self._pii_and_secrets, (text, policy))
        if policy.injection is not InputAction.OFF:
            jobs["injection"] = (self._timed, (self.injection.score, text))
        if policy.toxicity is not InputAction.OFF:
            jobs["toxicity"] = (self._timed, (self.toxicity.score, text))
        if self.settings.workers > 1 and len(jobs) > 1:
            futures = {name: self.pool.submit(fn, *args) for name, (fn, args) in jobs.items()}
            results = {name: future.result() for name, future in futures.items()}
        else:
            results = {name: fn(*args) for name, (fn, args) in jobs.items()}

        to_mask: list[Finding] = []
        if "pii" in results:
            findings, latency = results["pii"]
            for rail, action, found in (
                ("input.pii", policy.pii, [f for f in findings if f.entity != SECRET]),
                ("input.secrets", policy.secrets, [f for f in findings if f.entity == SECRET]),
            ):
                if action is InputAction.OFF:
                    continue
                decision = _decision(action, bool(found))
                if decision == "mask":
                    to_mask.extend(found)
                outcomes.append(
                    GuardrailOutcome(
                        rail=rail,
                        decision=decision,
                        score=max((f.score for f in found), default=None),
                        latency_ms=latency,
                        detail=_entity_detail(found) or None,
                    )
                )
        for name, action, threshold in (
            ("injection", policy.injection, self.settings.injection_threshold),
            ("toxicity", policy.toxicity, self.settings.toxicity_threshold),
        ):
            if name in results:
                score, latency = results[name]
                tripped = score.score >= threshold
                outcomes.append(
                    GuardrailOutcome(
                        rail=f"input.{name}",
                        decision=_decision(action, tripped),
                        score=score.score,
                        latency_ms=latency,
                        detail=(score.rule or "classifier") if tripped else None,
                    )
                )
        masked = mask(text, to_mask, reverse_map)
        verdict = InputVerdict(masked.text, masked.reverse_map, masked_entities=masked.entities)
        return self._finish(verdict, outcomes, started_ns)

    def mask_text(self, text: str, tenant_id: str, reverse_map: dict[str, str]) -> tuple[str, dict[str, str]]:
        """Only the masking of PII and secrets (for earlier chat turns that go to the model with the message)."""
        policy = self.policies(tenant_id)
        if not policy.enabled:
            return text, reverse_map
        findings, _ = self._pii_and_secrets(text, policy)
        keep = [
            f
            for f in findings
            if (f.entity == SECRET and policy.secrets is InputAction.MASK)
            or (f.entity != SECRET and policy.pii is InputAction.MASK)
        ]
        masked = mask(text, keep, reverse_map)
        return masked.text, masked.reverse_map

    async def acheck(self, text: str, tenant_id: str, *, reverse_map: dict[str, str] | None = None) -> InputVerdict:
        """`check` off the event loop (it is CPU work: 5-15 ms)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, lambda: self.check(text, tenant_id, reverse_map=reverse_map))

    def _finish(self, verdict: InputVerdict, outcomes: list[GuardrailOutcome], started_ns: int) -> InputVerdict:
        verdict.outcomes = outcomes
        for outcome in outcomes:
            record(self.metrics, outcome, started_ns)
        blocking = {o.rail for o in outcomes if o.decision == "block"}
        verdict.blocked_by = next((rail for rail in BLOCK_ORDER if rail in blocking), None)
        return verdict
